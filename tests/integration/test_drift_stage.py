"""The `drift` stage in the real pipeline (`pipeline_repo`: one real `dvc repro` per session)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import run

from bikecast.config import DriftParams, load_params
from bikecast.data.schema import TIMEZONE, read_canonical
from bikecast.data.validation import validate_frame
from bikecast.ml.drift_report import measure
from bikecast.ml.features import FEATURE_COLUMNS
from bikecast.ml.model import load_model
from bikecast.stages.features import feature_table

SEED = Path(__file__).resolve().parents[2] / "data" / "seed" / "bikeshare_dc_2011.csv.gz"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# anything a browser would fetch from the network when opening the page
REMOTE = re.compile(
    r"<script[^>]+src=|<link[^>]+href=[\"']?https?:|<img[^>]+src=[\"']?https?:"
    r"|url\([\"']?https?:|@import\s+[\"']?https?:",
    re.IGNORECASE,
)


def test_pipeline_writes_drift_metrics_and_report(pipeline_repo):
    summary = json.loads((pipeline_repo / "metrics" / "drift.json").read_text())
    assert isinstance(summary["retrain_recommended"], bool) and summary["reason"]
    features = summary["features"]
    params = load_params(pipeline_repo / "params.yaml").drift
    expected = [c for c in FEATURE_COLUMNS if c not in params.exclude]
    assert list(summary["columns"]) == expected and features["tested"] == len(expected)
    assert features["excluded"] == [c for c in FEATURE_COLUMNS if c in params.exclude]
    assert features["drifted"] == sum(c["drifted"] for c in summary["columns"].values())
    assert features["share"] == round(features["drifted"] / features["tested"], 4)
    for name, column in [*summary["columns"].items(), ("target", summary["target"]),
                         ("prediction", summary["prediction"])]:  # fmt: skip
        assert {"method", "threshold", "drifted"} <= set(column), name
        assert ("distance" in column) != ("p_value" in column), name
    # the seed holds 2011 only: December is compared with the weeks just before it
    assert summary["reference"]["kind"] == "recent_weeks"
    assert summary["current"]["rows"] == 669
    lock = (pipeline_repo / "dvc.lock").read_text()
    assert "  drift:" in lock and "reports/drift.html" in lock

    page = (pipeline_repo / "reports" / "drift.html").read_text()
    assert REMOTE.search(page) is None, REMOTE.search(page)
    assert "bikecast-drift-summary" in page
    for column in (*summary["columns"], "log1p_rentals", "log1p_prediction"):
        assert f"Drift in column '{column}'" in page  # the report data is in the page


@pytest.fixture(scope="module")
def seed() -> pd.DataFrame:
    return feature_table(validate_frame(read_canonical(SEED)).valid)


def window(table: pd.DataFrame, start: str, days: int) -> pd.DataFrame:
    begin = pd.Timestamp(start, tz=TIMEZONE).tz_convert("UTC")
    keep = (table["timestamp"] >= begin) & (table["timestamp"] < begin + pd.Timedelta(days=days))
    return table[keep].reset_index(drop=True)


def test_prediction_drift_follows_the_season_not_the_week(pipeline_repo, seed):
    booster, _ = load_model(pipeline_repo / "models" / "model.ubj")
    as_given = DriftParams(reference="train")
    summer, winter = window(seed, "2011-07-04", 28), window(seed, "2011-01-03", 28)
    flagged = measure(summer, winter, as_given, booster).summary
    assert flagged["retrain_recommended"] is True
    assert flagged["prediction"]["drifted"] is True
    quiet = measure(window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7), as_given, booster)
    assert quiet.summary["retrain_recommended"] is False
    assert quiet.summary["prediction"]["drifted"] is False


def test_empty_test_window_fails_with_one_clear_line(clone_pipeline_repo):
    repo = clone_pipeline_repo
    metrics = repo / "metrics" / "drift.json"
    before = metrics.read_text()
    test = pd.read_parquet(repo / "data" / "split" / "test.parquet")
    test.iloc[:0].to_parquet(repo / "data" / "split" / "test.parquet", index=False)
    proc = run(["bikecast", "drift"], repo, check=False)
    assert proc.returncode == 1
    assert "error: drift: the current window (test split) has no rows" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert metrics.read_text() == before  # nothing half-written


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_offline_in_headless_chromium(pipeline_repo, tmp_path):
    """Plotly draws every chart with no network: the page is self-contained."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000", "--dump-dom",
        (pipeline_repo / "reports" / "drift.html").as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout
    summary = json.loads((pipeline_repo / "metrics" / "drift.json").read_text())
    charts = dom.count('class="main-svg"')  # Plotly's rendered SVGs: none before JS runs
    assert charts >= len(summary["columns"]) + 2
    assert "bikecast drift: " in dom


@pytest.mark.slow
def test_rerunning_the_drift_stage_leaves_the_report_and_lock_unchanged(clone_pipeline_repo):
    """A fresh clone's `dvc repro` must not leave dvc.lock modified: same data, same bytes."""
    repo = clone_pipeline_repo
    report, lock = repo / "reports" / "drift.html", repo / "dvc.lock"
    before, lock_before = report.read_bytes(), lock.read_text()
    run(["dvc", "repro", "--force", "drift"], repo)
    assert report.read_bytes() == before
    assert lock.read_text() == lock_before
    assert "changed" not in run(["dvc", "status", "drift"], repo).stdout
