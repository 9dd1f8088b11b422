"""bikecast.gitops.lockcheck, the one staleness check: `dvc status` read for lock-check
(a fresh clone passes, stale code/params/commands do not), the md5 walk compare uses, and
both on a real DVC repo, where they must find the same drift."""

from __future__ import annotations

import json
import shutil

import yaml
from tests.conftest import run

from bikecast.gitops import lockcheck
from bikecast.gitops.lockcheck import Drift
from bikecast.review.compare import READS

OUTPUT_DIRS = ("data/raw", "data/interim", "data/quarantine", "data/features", "data/split")

# `dvc status --json` in a fresh clone (nothing pulled), trimmed to three stages
FRESH = {
    "ingest": [{"changed outs": {"data/raw/hourly.parquet": "not in cache"}}],
    "validate": [
        {"changed deps": {"data/raw/hourly.parquet": "deleted"}},
        {"changed outs": {"data/interim/hourly.parquet": "not in cache"}},
    ],
    "train": [
        {"changed deps": {"data/interim/hourly.parquet": "deleted"}},
        {"changed outs": {"models/model.ubj": "not in cache"}},
    ],
}


def test_fresh_clone_status_is_not_a_stale_lock():
    assert lockcheck.lock_problems(FRESH) == []
    assert lockcheck.lock_problems({}) == []


def test_stale_lock_names_params_code_and_commands():
    status = json.loads(json.dumps(FRESH))
    status["train"][0]["changed deps"]["src/bikecast/stages/train.py"] = "modified"
    status["validate"][0]["changed deps"]["params.yaml"] = {"validate.max_bad_fraction": "modified"}
    status["ingest"].append("changed command")
    status["features"] = [{"changed deps": {"src/bikecast/ml/features.py": "deleted"}}]
    assert lockcheck.lock_problems(status) == [
        "features: dep src/bikecast/ml/features.py deleted",
        "ingest: changed command",
        "train: dep src/bikecast/stages/train.py modified",
        "validate: param validate.max_bad_fraction modified (params.yaml)",
    ]


def test_unpulled_clone_passes_and_a_changed_param_or_source_fails(clone_pipeline_repo):
    repo = clone_pipeline_repo
    for rel in (*OUTPUT_DIRS, "models", ".dvc/cache"):
        shutil.rmtree(repo / rel, ignore_errors=True)
    # Python writes these wherever it imports from; they must not make the lock look stale
    cache = repo / "src" / "bikecast" / "data" / "sources" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "uci.cpython-311.pyc").write_bytes(b"\0")
    ok = run(["bikecast", "lock-check"], repo, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("test_days: 28", "test_days: 21"))
    (repo / "src" / "bikecast" / "ml" / "baselines.py").write_text("# edited\n", encoding="utf-8")
    stale = run(["bikecast", "lock-check"], repo, check=False)
    assert stale.returncode == 1
    assert "param split.test_days modified" in stale.stderr
    assert "dep src/bikecast/ml/baselines.py modified" in stale.stderr
    assert "run `dvc repro`" in stale.stderr


def test_status_becomes_drift_records_in_stage_order():
    status = {
        "train": [
            {"changed deps": {"params.yaml": {"train.seed": "modified"}, "a.py": "new"}},
            "always changed",
        ],
        "split": [{"changed outs": {"data/split/test.parquet": "modified"}}],
    }
    assert lockcheck.status_drift(status) == [
        Drift("split", "out", "data/split/test.parquet", "modified"),
        Drift("train", "dep", "a.py", "new"),
        Drift("train", "param", "params.yaml", "modified", "train.seed"),
        Drift("train", "stage", "", "always changed"),
    ]
    assert lockcheck.lock_problems(status) == [
        "train: dep a.py new",
        "train: param train.seed modified (params.yaml)",
    ]  # an output and an always-changed stage are not a stale lock


def test_one_drift_said_two_ways():
    param = Drift("split", "param", "params.yaml", "modified", "split.test_days")
    missing = Drift("train", "out", "models/model.ubj", "deleted")
    assert param.line() == "split: param split.test_days modified (params.yaml)"
    assert param.sentence() == "params.yaml: split.test_days differs from dvc.lock (stage split)"
    assert missing.line() == "train: out models/model.ubj deleted"
    assert missing.sentence() == (
        "models/model.ubj is missing (stage train; run `dvc pull` or `dvc repro`)"
    )


def test_upstream_stages_follow_deps_through_dvc_lock():
    lock = {
        "stages": {
            "a": {"outs": [{"path": "x"}]},
            "b": {"deps": [{"path": "x"}], "outs": [{"path": "y"}]},
            "c": {"deps": [{"path": "y"}], "outs": [{"path": "z"}]},
            "other": {"deps": [{"path": "x"}], "outs": [{"path": "w"}]},
        }
    }
    assert sorted(lockcheck.upstream_stages(lock, ["z"])) == ["a", "b", "c"]
    assert sorted(lockcheck.upstream_stages(lock, ["y", "nowhere"])) == ["a", "b"]


def test_dvc_status_and_the_md5_walk_find_the_same_drift(clone_pipeline_repo):
    """The two sources of the one check agree on a real pipeline, for what both can see."""
    repo = clone_pipeline_repo
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lockcheck.lock_drift(lock, repo, READS) == []

    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("test_days: 28", "test_days: 21"))
    split = repo / "src" / "bikecast" / "stages" / "split.py"
    split.write_text(split.read_text() + "# edited\n", encoding="utf-8")

    upstream = set(lockcheck.upstream_stages(lock, [str(p) for p in READS]))
    by_dvc = {d for d in lockcheck.status_drift(lockcheck.dvc_status(repo)) if d.stage in upstream}
    by_md5 = set(lockcheck.lock_drift(lock, repo, READS))
    assert by_md5 == by_dvc
    assert Drift("split", "dep", "src/bikecast/stages/split.py", "modified") in by_md5
    assert Drift("split", "param", "params.yaml", "modified", "split.test_days") in by_md5
