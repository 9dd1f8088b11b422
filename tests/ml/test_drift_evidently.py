"""bikecast.ml.drift_report.measure through real Evidently, on windows of the real seed.

Seasonality: a summer window against a winter one must be flagged; two adjacent weeks of
similar weather must not. Bad input: an empty window, a column all missing, a constant
column, a category never seen in the reference → a clear error or a documented result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bikecast.config import DriftParams, load_params
from bikecast.data.schema import TIMEZONE, DataError, read_canonical
from bikecast.data.validation import validate_frame
from bikecast.ml.drift import TARGET, prepare
from bikecast.ml.drift_report import RANDOM_IDS, evidently_scores, measure
from bikecast.ml.features import FEATURE_COLUMNS
from bikecast.ml.split import split_by_time
from bikecast.stages.features import feature_table

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "seed" / "bikeshare_dc_2011.csv.gz"
# Compare two given windows: the first argument of measure() is used whole as the reference.
AS_GIVEN = DriftParams(reference="train")


@pytest.fixture(scope="module")
def seed() -> pd.DataFrame:
    """The seed as the pipeline sees it: read, validated, featurised by bikecast itself."""
    return feature_table(validate_frame(read_canonical(SEED)).valid)


def window(table: pd.DataFrame, start: str, days: int) -> pd.DataFrame:
    begin = pd.Timestamp(start, tz=TIMEZONE).tz_convert("UTC")
    stamps = table["timestamp"]
    return table[(stamps >= begin) & (stamps < begin + pd.Timedelta(days=days))].reset_index(
        drop=True
    )


def strict_json(summary: dict) -> dict:
    return json.loads(json.dumps(summary, allow_nan=False))


def test_summer_against_winter_is_flagged(seed):
    summer, winter = window(seed, "2011-07-04", 28), window(seed, "2011-01-03", 28)
    for reference, current in ((summer, winter), (winter, summer)):
        summary = measure(reference, current, AS_GIVEN).summary
        assert summary["retrain_recommended"] is True
        assert summary["target"]["drifted"] is True
        assert {"temp_c", "feels_like_c"} <= set(summary["features"]["drifted_columns"])
        assert summary["reason"].startswith("demand moved: log1p(rentals)")


def test_adjacent_weeks_of_similar_weather_are_not_flagged(seed):
    first, second = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    # the premise: similar weather (weekly mean temperature within 1 °C)
    assert abs(first["temp_c"].mean() - second["temp_c"].mean()) < 1.0
    summary = measure(first, second, AS_GIVEN).summary
    assert summary["retrain_recommended"] is False
    assert summary["features"]["drifted"] == 0
    assert summary["target"]["drifted"] is False
    assert summary["reason"].startswith("no retrain needed")


def test_evidently_defaults_would_flag_those_same_adjacent_weeks(seed):
    """Why the thresholds are not Evidently's 0.1: it calls two ordinary weeks drifted."""
    first, second = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    defaults = DriftParams(reference="train", num_threshold=0.1, cat_threshold=0.1)
    assert measure(first, second, defaults).summary["features"]["drifted"] >= 2


def test_default_window_uses_recent_weeks_as_reference(seed):
    """params.yaml as is: the seed has 2011 only, so December is compared with November."""
    params = load_params(ROOT / "params.yaml")
    train, test = split_by_time(seed, params.ingest.as_of_utc, params.split.test_days)
    result = measure(train, test, params.drift)
    summary = strict_json(result.summary)
    assert summary["reference"]["kind"] == "recent_weeks"
    assert summary["reference"]["rows"] >= 27 * 24
    assert set(summary["columns"]) == set(FEATURE_COLUMNS) - set(params.drift.exclude)
    assert "bikecast-drift-summary" in result.html and "temp_c" in result.html


def test_empty_current_window_is_a_clear_error(seed):
    with pytest.raises(DataError, match=r"current window \(test split\) has no rows"):
        measure(window(seed, "2011-08-01", 7), seed.iloc[:0], AS_GIVEN)


def test_all_missing_column_is_reported_not_crashed(seed):
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    current["humidity_pct"] = np.nan
    result = measure(reference, current, AS_GIVEN)
    column = strict_json(result.summary)["columns"]["humidity_pct"]
    assert column["status"] == "all_missing_in_current" and column["drifted"] is True
    assert "humidity_pct is all missing in the current window" in result.html
    # the other columns are still scored
    assert result.summary["columns"]["temp_c"]["distance"] is not None


def test_every_column_missing_still_writes_a_report_that_says_so(seed):
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    current[[*FEATURE_COLUMNS, "rentals"]] = np.nan
    result = measure(reference, current, AS_GIVEN)
    features = result.summary["features"]
    assert features["drifted"] == features["tested"] > 0
    assert result.summary["target"]["status"] == "all_missing_in_current"
    assert result.summary["retrain_recommended"] is True
    assert "all missing" in result.html and "Drift in column" not in result.html


def test_constant_columns(seed):
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    reference["wind_kmh"], current["wind_kmh"] = 0.0, 0.0
    same = measure(reference, current, AS_GIVEN).summary["columns"]["wind_kmh"]
    assert same["distance"] == 0.0 and same["drifted"] is False
    current["wind_kmh"] = 12.0
    moved = strict_json(measure(reference, current, AS_GIVEN).summary)["columns"]["wind_kmh"]
    assert moved["drifted"] is True  # a constant reference: any move is drift


def test_category_never_seen_in_reference(seed):
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    reference = reference[reference["weather_code"] < 3]
    current.loc[current.index[:6], "weather_code"] = 3.0  # six hours of heavy_precip
    result = measure(reference, current, AS_GIVEN)
    column = strict_json(result.summary)["columns"]["weather_code"]
    assert column["unseen_categories"] == ["heavy_precip"]
    assert column["distance"] > 0
    assert "heavy_precip" in result.html


def test_target_is_compared_on_log_scale(seed):
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    result = measure(reference, current, AS_GIVEN)
    assert result.prepared.current[TARGET].max() == pytest.approx(
        np.log1p(current["rentals"].max())
    )


def test_same_inputs_give_a_byte_identical_report(seed):
    """Evidently's random element ids are made stable: a rerun of the drift stage on the
    same data leaves reports/drift.html (and so dvc.lock) unchanged."""
    reference, current = window(seed, "2011-08-01", 7), window(seed, "2011-08-08", 7)
    first, second = measure(reference, current, AS_GIVEN), measure(reference, current, AS_GIVEN)
    assert first.html == second.html
    # ids stay unique: Evidently's own page has as many distinct ids, each used as often
    _, snapshot = evidently_scores(prepare(reference, current, AS_GIVEN))
    raw = RANDOM_IDS.findall(snapshot.get_html_str(as_iframe=False))
    ids = RANDOM_IDS.findall(first.html)
    assert len(set(ids)) == len(set(raw)) > 10
    assert sorted(map(ids.count, set(ids))) == sorted(map(raw.count, set(raw)))
    assert measure(window(seed, "2011-08-15", 7), current, AS_GIVEN).html != first.html
