"""The PR report's text and plots from synthetic compare results (no git, no DVC)."""

from __future__ import annotations

import re

import markdown
import numpy as np
import pandas as pd
import pytest
from tests.conftest import image_sources

from bikecast.review import report


def _metrics(rmsle: float) -> dict:
    return {"rmse": 50.0 + rmsle, "mae": 30.0, "rmsle": rmsle, "r2": 0.7, "bias": -1.5}


def _result(verdict: str = "pass", champion: bool = True) -> dict:
    models = {
        "challenger": _metrics(0.55),
        "seasonal_naive": _metrics(0.78),
        "hour_workingday_mean": _metrics(0.72),
    }
    if champion:
        models = {"champion": _metrics(0.56), **models}
    base = {"rev": "main", "sha": "a" * 40}
    if champion:
        base |= {
            "model_version": "champ0000000",
            "as_of": "2011-12-24T23:00:00-05:00",
            "train_rows": 7800,
            "feature_columns": ["hour", "temp_c"],
            "rounds": 400,
            "window_rows_seen_in_training": 0,
        }
    return {
        "verdict": verdict,
        "reason": "challenger RMSLE 0.5500 vs champion 0.5600 (-1.8%): within the 2.0% tolerance",
        "gate": {"metric": "rmsle", "tolerance": 0.05, "base_tolerance": 0.02, "limit": 0.588},
        "window": {
            "start": "2011-12-04T05:00:00+00:00",
            "end": "2012-01-01T04:00:00+00:00",
            "rows": 672,
        },
        "base": base,
        "current": {
            "sha": "b" * 40,
            "dirty": True,
            "model_version": "chall0000000",
            "as_of": "2011-12-31T23:00:00-05:00",
            "train_rows": 7968,
            "rounds": 450,
            "window_rows_seen_in_training": 0,
        },
        "models": models,
        "deltas": (
            {
                "absolute": {"rmse": -0.01, "mae": 0.0, "rmsle": -0.01, "r2": 0.0, "bias": 0.0},
                "relative": {"rmse": -0.0002, "mae": 0.0, "rmsle": -0.0179},
            }
            if champion
            else None
        ),
        "importance": {
            "champion": {"hour": 0.5, "temp_c": 0.3, "day_of_year": 0.2} if champion else None,
            "challenger": {"hour": 0.6, "temp_c": 0.35, "weekday": 0.05},
        },
    }


DRIFT = {
    "retrain_recommended": True,
    "reason": "3 of 9 input features drifted (share 0.33 >= 0.3): temp_c, feels_like_c, wind",
    "features": {"tested": 9, "drifted": 3, "share": 0.3333, "drift_share": 0.3},
}


def _context(**kw) -> report.Context:
    defaults = {
        "params_diff": {
            "train.max_depth": {"old": 6, "new": 8},
            "gate.tolerance": {"old": 0.02, "new": 0.05},
        },
        "as_of": ("2011-12-24T23:00:00-05:00", "2011-12-31T23:00:00-05:00"),
        "hours": (8477, 8645),
        "images": {
            "pred_vs_actual": "r_pred_vs_actual.png",
            "error_by_hour": "r_error_by_hour.png",
        },
    }
    return report.Context(**(defaults | kw))


def test_verdict_is_the_first_line():
    text = report.render(_result("fail"), _context())
    assert text.splitlines()[0].startswith("### ❌ FAIL: challenger RMSLE 0.5500")
    assert report.render(_result("pass"), _context()).startswith("### ✅ PASS")


def test_table_has_every_model_and_the_delta():
    text = report.render(_result(), _context())
    header = next(line for line in text.splitlines() if line.startswith("|  |"))
    assert header.split("|")[2:-1] == [
        " Champion ", " Challenger ", " Δ challenger − champion ", " Seasonal naive ",
        " Hour × working-day mean ",
    ]  # fmt: skip
    rmsle = next(line for line in text.splitlines() if line.startswith("| RMSLE"))
    assert "| 0.5600 | 0.5500 | −0.0100 (−1.8%) | 0.7800 | 0.7200 |" in rmsle


def test_changes_params_window_drift_importance():
    text = report.render(_result(), _context(drift=DRIFT, drift_link="drift.html"))
    assert "`train.max_depth` 6 → 8" in text
    assert "⚠️ This change moves the gate itself: `gate.tolerance` 0.02 → 0.05" in text
    assert "`ingest.as_of` 2011-12-24T23:00:00-05:00 → 2011-12-31T23:00:00-05:00" in text
    assert "8,645 hours ingested (+168)" in text and "train rows 7,800 → 7,968" in text
    assert "- Drift: **retrain recommended**: 3 of 9 input features drifted (share 0.33" in text
    assert "[Full drift report](drift.html)" in text
    # day_of_year vanished (−20 pp) and hour grew (+10 pp): the largest shifts come first
    assert "`day_of_year` −20.0 pp, `hour` +10.0 pp" in text


def test_missing_drift_and_params_diff_are_said_plainly():
    text = report.render(_result(), _context(params_diff={}, drift=None))
    assert "- Params: unchanged" in text
    assert "- Drift: not computed for this revision (no metrics/drift.json)" in text
    assert "Drift report" not in text
    text = report.render(_result(), _context(params_diff=None))
    assert "`dvc params diff` was not available" in text


def test_no_base_report_has_no_champion_column():
    text = report.render(_result("no_base", champion=False), _context())
    assert text.startswith("### 🆕 NO BASE")
    header = next(line for line in text.splitlines() if line.startswith("|  |"))
    assert "Champion" not in header and "Δ" not in header
    assert "Challenger `chall0000000` vs the baselines (no model at `main`)" in text


def test_details_are_collapsed_and_short_part_is_short():
    text = report.render(_result(), _context(drift=DRIFT))
    head, details = text.split("<details>", 1)
    assert "Feature importance (share of total gain)" in details and "</details>" in details
    assert len(head.splitlines()) < 30


def test_markdown_renders_to_html_with_a_table_and_images():
    text = report.render(_result(), _context())
    html = markdown.markdown(text, extensions=["tables"])
    sources = image_sources(html)
    assert sources == ["r_pred_vs_actual.png", "r_error_by_hour.png"]
    assert "<table>" in html and "<details>" in html
    assert sources == re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def test_plots_are_written_beside_the_report(tmp_path):
    stamps = pd.date_range("2011-12-04 05:00", periods=72, freq="h", tz="UTC")
    actual = np.arange(72.0) % 24 * 10
    predictions = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hour": stamps.tz_convert("America/New_York").hour,
            "actual": actual,
            "champion": actual + 5,
            "challenger": actual - 3,
            "seasonal_naive": actual,
            "hour_workingday_mean": actual + 1,
        }
    )
    names = report.plot(predictions, tmp_path, "pr")
    assert names == {
        "pred_vs_actual": "pr_pred_vs_actual.png",
        "error_by_hour": "pr_error_by_hour.png",
    }
    for name in names.values():
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names.values()
    )  # no temp files left


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ({"retrain_recommended": False, "reason": ""}, "- Drift: no retrain needed"),
        ({"retrain_recommended": False, "reason": "stable"}, "- Drift: stable"),
        (
            {"retrain_recommended": True, "features": {"tested": 9, "drifted": 5, "share": 0.55}},
            "- Drift: 5 of 9 input features drifted (55%); **retrain recommended**",
        ),
        (
            {"features": {"tested": 4, "drifted": 0, "share": 0.0}},
            "- Drift: 0 of 4 input features drifted (0%)",
        ),
        ({"unexpected": 1}, "- Drift: summary present"),
    ],
)
def test_drift_line_tolerates_partial_summaries(drift, expected):
    assert report.drift_line(drift, None) == expected
