"""compare's pure parts: the gate, deltas, where the base keeps its model, staleness, and
the result built from synthetic predictions; plus gitrev on a tiny real git repository."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.review.cards import card_dict, model_card

from bikecast.ml.card import ModelCard
from bikecast.ml.metrics import regression_metrics
from bikecast.review import compare, gitrev

# --- the gate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("champion", "challenger", "tolerance", "verdict"),
    [
        (0.50, 0.40, 0.02, "pass"),  # better
        (0.50, 0.50, 0.0, "pass"),  # equal, no tolerance
        (0.50, 0.51, 0.02, "pass"),  # exactly at the limit
        (0.50, 0.5101, 0.02, "fail"),  # just over it
        (0.50, 0.60, 0.10, "fail"),
        (0.0, 0.0, 0.02, "pass"),
        (0.0, 0.1, 0.02, "fail"),
    ],
)
def test_gate_is_relative_rmsle(champion, challenger, tolerance, verdict):
    got, detail = compare.gate(champion, challenger, tolerance)
    assert got == verdict
    assert detail["limit"] == pytest.approx(champion * (1 + tolerance))


def test_gate_reports_relative_change():
    _, detail = compare.gate(0.5, 0.55, 0.02)
    assert detail["relative_change"] == pytest.approx(0.1)
    assert compare.gate(0.0, 0.1, 0.02)[1]["relative_change"] is None


def test_deltas_are_challenger_minus_champion():
    champion = {"rmse": 10.0, "mae": 5.0, "rmsle": 0.5, "r2": 0.8, "bias": 1.0}
    challenger = {"rmse": 12.0, "mae": 4.0, "rmsle": 0.55, "r2": 0.7, "bias": -2.0}
    out = compare.deltas(champion, challenger)
    assert out["absolute"] == {"rmse": 2.0, "mae": -1.0, "rmsle": 0.05, "r2": -0.1, "bias": -3.0}
    assert out["relative"] == {"rmse": 0.2, "mae": -0.2, "rmsle": 0.1}


def test_importance_shares_sum_to_one():
    shares = compare.importance_shares({"hour": 30.0, "temp_c": 10.0})
    assert shares == {"hour": 0.75, "temp_c": 0.25}
    assert compare.importance_shares({}) == {}


def test_overlap_rows_counts_window_hours_seen_in_training():
    window = pd.Series(pd.date_range("2011-12-01", periods=48, freq="h", tz="UTC"))

    def seen(train_end: str) -> int:
        return compare.overlap_rows(model_card(data_window={"train_end": train_end}), window)

    assert seen("2011-11-30T23:00:00+00:00") == 0
    assert seen("2011-12-01T09:00:00+00:00") == 10


# --- where the base keeps its model ----------------------------------------------------------

PIPELINE = yaml.safe_dump(
    {
        "stages": {
            "train": {"cmd": "bikecast train", "outs": ["models/model.ubj", "models/model.json"]}
        }
    }
)
LOCK = yaml.safe_dump(
    {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "bikecast train",
                "outs": [
                    {"path": "models/model.ubj", "md5": "a" * 32},
                    {"path": "models/model.json", "md5": "b" * 32},
                ],
            }
        },
    }
)


def test_base_model_found_in_dvc_lock():
    found = compare.locate_base_model(PIPELINE, LOCK, "base main (abc)")
    assert (found.model_md5, found.card_md5, found.no_base_reason) == ("a" * 32, "b" * 32, None)


def test_the_base_evaluation_fit_is_preferred_where_it_has_one():
    """A base with an evaluation fit is ranked by it: its served fit saw part of the window."""
    lock = yaml.safe_load(LOCK)
    lock["stages"]["train"]["outs"] += [
        {"path": "models/eval.ubj", "md5": "c" * 32},
        {"path": "models/eval.json", "md5": "d" * 32},
    ]
    found = compare.locate_base_model(PIPELINE, yaml.safe_dump(lock), "base main (abc)")
    assert (found.model_md5, found.card_md5) == ("c" * 32, "d" * 32)
    assert (str(found.model_path), str(found.card_path)) == ("models/eval.ubj", "models/eval.json")
    older = compare.locate_base_model(PIPELINE, LOCK, "base main (abc)")  # one fit: its model
    assert str(older.model_path) == "models/model.ubj"


def test_no_dvc_yaml_means_no_base():
    found = compare.locate_base_model(None, None, "base main (abc)")
    assert found.no_base_reason and "no dvc.yaml" in found.no_base_reason


def test_dvc_yaml_without_model_stage_means_no_base():
    pipeline = yaml.safe_dump({"stages": {"ingest": {"cmd": "x", "outs": ["data/raw/h.parquet"]}}})
    found = compare.locate_base_model(pipeline, None, "base main (abc)")
    assert found.no_base_reason and "models/model.ubj" in found.no_base_reason


def test_declared_model_without_dvc_lock_is_an_error_naming_rev_and_file():
    with pytest.raises(compare.CompareError, match=r"base main \(abc\): dvc.lock is missing"):
        compare.locate_base_model(PIPELINE, None, "base main (abc)")


def test_dvc_lock_without_the_model_is_an_error():
    lock = yaml.safe_dump(
        {"stages": {"train": {"outs": [{"path": "models/model.json", "md5": "b"}]}}}
    )
    with pytest.raises(compare.CompareError, match=r"no entry for models/model.ubj"):
        compare.locate_base_model(PIPELINE, lock, "base main (abc)")


def test_unparseable_dvc_lock_is_an_error():
    with pytest.raises(compare.CompareError, match=r"dvc\.lock is not valid YAML"):
        compare.locate_base_model(PIPELINE, "stages: [unclosed", "base x (abc)")


# --- staleness: the working tree must be what dvc.lock says ----------------------------------


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def locked_tree(tmp_path) -> tuple[Path, dict]:
    (tmp_path / "models").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "models/eval.ubj").write_bytes(b"model")
    (tmp_path / "data/train.parquet").write_bytes(b"train")
    (tmp_path / "params.yaml").write_text(
        "train:\n  max_depth: 6\n  seed: 1\nsplit:\n  test_days: 28\n"
    )
    lock = {
        "stages": {
            "split": {
                "params": {"params.yaml": {"split.test_days": 28}},
                "outs": [
                    {"path": "data/train.parquet", "md5": _md5(tmp_path / "data/train.parquet")}
                ],
            },
            "train": {
                "deps": [
                    {"path": "data/train.parquet", "md5": _md5(tmp_path / "data/train.parquet")},
                    {"path": "src/bikecast/data/sources", "md5": "x.dir"},
                ],
                "params": {"params.yaml": {"train": {"max_depth": 6, "seed": 1}}},
                "outs": [{"path": "models/eval.ubj", "md5": _md5(tmp_path / "models/eval.ubj")}],
            },
            "unrelated": {"outs": [{"path": "reports/other.html", "md5": "0" * 32}]},
        }
    }
    return tmp_path, lock


def test_fresh_tree_is_not_stale(locked_tree):
    root, lock = locked_tree
    assert compare.stale_inputs(lock, root) == []


def test_modified_model_is_stale(locked_tree):
    root, lock = locked_tree
    (root / "models/eval.ubj").write_bytes(b"other model")
    assert compare.stale_inputs(lock, root) == [
        "models/eval.ubj differs from dvc.lock (stage train)"
    ]


def test_changed_params_upstream_are_stale(locked_tree):
    root, lock = locked_tree
    (root / "params.yaml").write_text(
        "train:\n  max_depth: 8\n  seed: 1\nsplit:\n  test_days: 14\n"
    )
    assert compare.stale_inputs(lock, root) == [
        "params.yaml: split.test_days differs from dvc.lock (stage split)",
        "params.yaml: train differs from dvc.lock (stage train)",
    ]


def test_missing_input_is_stale(locked_tree):
    root, lock = locked_tree
    (root / "data/train.parquet").unlink()
    problems = compare.stale_inputs(lock, root)
    assert any("data/train.parquet is missing" in p for p in problems)


# --- the result, from synthetic predictions ---------------------------------------------------


def _window(rows: int = 96, seed: int = 0) -> compare.Window:
    rng = np.random.default_rng(seed)
    stamps = pd.Series(pd.date_range("2011-12-01", periods=rows * 2, freq="h", tz="UTC"))
    hour = stamps.dt.hour
    rentals = (50 + 40 * np.sin(hour / 24 * 2 * np.pi) + rng.integers(0, 20, len(stamps))).astype(
        int
    )
    table = pd.DataFrame(
        {"timestamp": stamps, "rentals": rentals, "hour": hour, "working_day": 1.0}
    )
    train, test = table.iloc[:rows].reset_index(drop=True), table.iloc[rows:].reset_index(drop=True)
    return compare.Window(inputs=test[["timestamp"]], test=test, train=train, history=table)


def _scored(predicted, version="v1", train_end="2011-12-04T23:00:00+00:00") -> compare.Scored:
    card = model_card(version=version, data_window={"train_end": train_end})
    return compare.Scored(
        np.asarray(predicted, dtype=float), card, {"hour": 2.0, "temp_c": 1.0}, "code"
    )


def _result(window, champion, challenger, tolerance=0.02):
    return compare.build_result(
        window=window,
        challenger=challenger,
        champion=champion,
        base_rev="main",
        base_sha="f" * 40,
        no_base_reason=None if champion else "base main has no dvc.yaml",
        tolerance=tolerance,
        base_tolerance=0.02,
        current_sha="e" * 40,
        dirty=False,
    )


def test_result_scores_every_model_on_the_same_rows():
    window = _window()
    actual = window.actual
    good, worse = actual * 1.05, actual * 1.5 + 5
    comparison = _result(window, _scored(good, "champ"), _scored(worse, "chall"))
    res = comparison.result
    assert res["models"]["champion"] == regression_metrics(actual, good)
    assert res["models"]["challenger"] == regression_metrics(actual, worse)
    assert set(res["models"]) == {
        "champion",
        "challenger",
        "seasonal_naive",
        "hour_workingday_mean",
    }
    assert res["verdict"] == "fail" and comparison.exit_code == compare.EXIT_NO == 3
    assert res["deltas"]["absolute"]["rmsle"] == pytest.approx(
        res["models"]["challenger"]["rmsle"] - res["models"]["champion"]["rmsle"], abs=1e-4
    )
    assert res["window"]["rows"] == len(actual)
    assert (res["base"]["model_version"], res["current"]["model_version"]) == ("champ", "chall")
    assert res["base"]["window_rows_seen_in_training"] == 0
    assert res["base"]["feature_columns"] == ["hour", "temp_c"]  # a list, as in the JSON
    assert list(comparison.predictions.columns) == [
        "timestamp", "hour", "actual",
        "champion", "challenger", "seasonal_naive", "hour_workingday_mean",
    ]  # fmt: skip


def test_better_challenger_passes_with_exit_zero():
    window = _window()
    comparison = _result(window, _scored(window.actual * 1.5), _scored(window.actual * 1.01))
    assert comparison.verdict == "pass" and comparison.exit_code == compare.EXIT_OK
    assert "within the 2.0% tolerance" in comparison.result["reason"]


def test_no_base_scores_challenger_and_baselines_only():
    window = _window()
    comparison = _result(window, None, _scored(window.actual))
    res = comparison.result
    assert res["verdict"] == "no_base" and comparison.exit_code == compare.EXIT_OK
    assert "champion" not in res["models"] and res["deltas"] is None
    assert res["reason"] == "base main has no dvc.yaml"
    assert "champion" not in comparison.predictions


def test_result_is_json_serialisable():
    import json

    window = _window()
    res = _result(window, _scored(window.actual + 1), _scored(window.actual + 2)).result
    assert json.loads(json.dumps(res, allow_nan=False)) == res


# --- gitrev on a real, tiny repository --------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def tiny_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "one")
    return repo


def test_resolve_and_show(tiny_repo):
    sha = gitrev.resolve("main", tiny_repo)
    assert len(sha) == 40 and gitrev.default_base(tiny_repo) == "main"
    assert gitrev.show(sha, "a.txt", tiny_repo) == "one\n"
    assert gitrev.show(sha, "missing.txt", tiny_repo) is None


@pytest.mark.parametrize("rev", ["nope", "-x", "main~5"])
def test_unknown_revision_is_named(tiny_repo, rev):
    with pytest.raises(gitrev.GitError, match=f"{rev!r}"):
        gitrev.resolve(rev, tiny_repo)


def test_temporary_worktree_is_removed_even_on_error(tiny_repo, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    sha = gitrev.resolve("main", tiny_repo)
    with (
        pytest.raises(RuntimeError, match="boom"),
        gitrev.temporary_worktree(sha, tiny_repo) as tree,
    ):
        assert (tree / "a.txt").read_text() == "one\n"
        raise RuntimeError("boom")
    assert list(scratch.iterdir()) == []
    assert len(_git(tiny_repo, "worktree", "list").splitlines()) == 1
    assert _git(tiny_repo, "branch", "--format=%(refname:short)") == "main"
    assert not gitrev.is_dirty(tiny_repo)


def test_not_a_repository(tmp_path):
    with pytest.raises(gitrev.GitError, match="not inside a git repository"):
        gitrev.toplevel(tmp_path)


def test_a_change_of_grain_is_an_error_not_a_verdict():
    from bikecast.review.compare import CompareError, Scored, check_same_grain

    def scored(card):
        return Scored(np.zeros(1), card, {}, "src")

    old_city = {k: v for k, v in card_dict().items() if k != "grain"}  # no grain: city
    city = scored(ModelCard.parse(old_city))
    station = scored(model_card(grain="station", stations={}))
    check_same_grain(scored(model_card(grain="city")), city, "base main")
    with pytest.raises(CompareError, match="base main has a city-grain model and the working "
                       "tree a station-grain one"):  # fmt: skip
        check_same_grain(station, city, "base main")
