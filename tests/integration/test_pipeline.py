"""The real `dvc repro` on the shipped seed, in a clean temporary copy of the repository."""

import json
import signal
import subprocess
import time

import pytest
import yaml
from tests.conftest import BIN, ROOT, run

from bikecast.ml.model import file_sha256, load_model

pytestmark = pytest.mark.slow
OUTPUTS = (
    "data/raw/hourly.parquet",
    "data/interim/hourly.parquet",
    "data/quarantine/rejected.csv",
    "data/features/features.parquet",
    "data/split/train.parquet",
    "data/split/test.parquet",
    "models/model.ubj",
    "models/model.json",
    "models/eval.ubj",
    "models/eval.json",
    "metrics/validate.json",
    "metrics/evaluate.json",
    "metrics/plots/predictions.csv",
    "metrics/plots/residuals_by_hour.csv",
    "dvclive/metrics.json",
)


def test_repro_builds_every_output(pipeline_repo):
    for out in OUTPUTS:
        assert (pipeline_repo / out).stat().st_size > 0, out
    metrics = json.loads((pipeline_repo / "metrics/evaluate.json").read_text())
    keys = {"rmse", "mae", "rmsle", "r2", "bias"}
    assert set(metrics["model"]) == keys
    assert set(metrics["baselines"]) == {"seasonal_naive", "hour_workingday_mean"}
    assert all(set(v) == keys for v in metrics["baselines"].values())
    assert metrics["test_window"]["rows"] > 24 * 20
    assert metrics["test_window"]["end"] == "2012-01-01T04:00:00+00:00"
    # beats both baselines clearly on the shipped window
    assert metrics["skill"]["rmsle_vs_hour_workingday_mean"] >= 0.30
    assert metrics["skill"]["rmsle_vs_seasonal_naive"] >= 0.30
    evaluated, evaluation = load_model(
        pipeline_repo / "models/eval.ubj", pipeline_repo / "models/eval.json"
    )
    served, card = load_model(
        pipeline_repo / "models/model.ubj", pipeline_repo / "models/model.json"
    )
    # the metrics are the evaluation fit's, which never saw the test window ...
    assert evaluation.fit == "evaluation" and evaluation.evaluation is None
    assert evaluation.data_window.train_end < metrics["test_window"]["start"]
    assert metrics["evaluation_fit"]["model_version"] == evaluation.version
    # ... and name the served fit: the same recipe and rounds on every row up to as_of
    assert metrics["model_version"] == card.version != evaluation.version
    assert card.fit == "served" and card.evaluation.version == evaluation.version
    assert card.data_window.train_end == metrics["test_window"]["end"]
    assert card.data_window.train_rows > evaluation.data_window.train_rows
    assert served.num_boosted_rounds() == card.rounds == evaluated.num_boosted_rounds()


def test_repro_from_git_alone_reproduces_the_committed_dvc_lock(pipeline_repo):
    """Same code, params and data → the very dvc.lock that is committed, every output
    included (the drift report too): a fresh clone's `dvc repro` leaves git status clean."""
    fresh = (pipeline_repo / "dvc.lock").read_text()
    assert fresh == (ROOT / "dvc.lock").read_text(), (
        "a fresh `dvc repro` writes another dvc.lock: run `uv run dvc repro` and commit it, "
        "or find the output that is not deterministic"
    )


def test_second_repro_is_a_no_op(clone_pipeline_repo):
    repo = clone_pipeline_repo
    before = {out: file_sha256(repo / out) for out in OUTPUTS}
    status = run(["dvc", "status", "--json"], repo)
    assert json.loads(status.stdout) == {}
    out = run(["dvc", "repro"], repo)
    assert "didn't change, skipping" in out.stdout
    assert "Running stage" not in out.stdout
    assert {o: file_sha256(repo / o) for o in OUTPUTS} == before


def test_params_change_reruns_only_what_depends_on_it(clone_pipeline_repo):
    repo = clone_pipeline_repo
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["max_depth"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    status = json.loads(run(["dvc", "status", "--json"], repo).stdout)
    assert "train" in status
    assert not {"ingest", "validate", "features", "split"} & set(status)


def test_killed_training_leaves_the_previous_model_whole(clone_pipeline_repo):
    repo = clone_pipeline_repo
    before = file_sha256(repo / "models/model.ubj")
    proc = subprocess.Popen([str(BIN / "bikecast"), "train"], cwd=repo)
    time.sleep(4)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert file_sha256(repo / "models/model.ubj") == before
    load_model(repo / "models/model.ubj", repo / "models/model.json")  # still verifies


def test_bad_params_fail_clearly_without_a_traceback(clone_pipeline_repo):
    repo = clone_pipeline_repo
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("source: replay", "source: kaggle"))
    proc = run(["bikecast", "ingest"], repo, check=False)
    assert proc.returncode == 1
    assert "ingest.source" in proc.stderr and "Traceback" not in proc.stderr


def test_backtest_command_replays_the_loop_on_the_pipelines_features(clone_pipeline_repo):
    repo = clone_pipeline_repo
    proc = run(
        [
            "bikecast", "backtest",
            "--start", "2011-11-01T00:00:00-04:00", "--end", "2011-11-15T00:00:00-05:00",
        ],
        repo,
    )  # fmt: skip
    assert proc.stdout.startswith("2 origins: served RMSLE")
    result = json.loads((repo / "metrics/backtest.json").read_text())
    assert result["span"]["origins"] == 2
    assert 300 < result["span"]["hours"] <= 2 * 7 * 24  # the seed misses a few hours
    assert (repo / "reports/backtest.png").stat().st_size > 0
    # a command, not a stage: the pipeline and git stay as they were
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    run(["git", "check-ignore", "metrics/backtest.json", "reports/backtest.png"], repo)
