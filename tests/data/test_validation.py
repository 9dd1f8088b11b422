import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import as_text

from bikecast import paths
from bikecast.config import ValidateParams
from bikecast.data import validation
from bikecast.data.schema import DataError
from bikecast.stages import validate


def reasons_for(raw: pd.DataFrame, row: int) -> str:
    result = validation.validate_frame(raw)
    assert row in result.quarantine.index, result.quarantine
    return result.quarantine.loc[row, "reason"]


def test_clean_rows_pass_and_are_typed(canonical):
    result = validation.validate_frame(as_text(canonical))
    assert result.report["quarantined_rows"] == 0
    pd.testing.assert_frame_equal(result.valid, canonical, check_dtype=False)
    assert str(result.valid["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert result.valid["rentals"].dtype == "int64"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("timestamp", "2011-06-01 05:00", "timestamp: not ISO-8601 with a UTC offset"),
        ("timestamp", "not a time", "timestamp: not ISO-8601 with a UTC offset"),
        (
            "timestamp",
            "2011-06-01T05:30:00Z",
            "row: timestamp must be on the hour (got 2011-06-01T05:30:00+00:00)",
        ),
        ("rentals", "-3", "rentals: below 0 (got -3)"),
        ("casual", "2.5", "casual: not a whole number"),
        ("registered", "many", "registered: not a number"),
        ("rentals", "99999", "row: rentals must equal casual + registered (got rentals 99999 vs"),
        ("humidity_pct", "101", "humidity_pct: outside 0..100 (got 101.0)"),
        ("humidity_pct", "-1", "humidity_pct: outside 0..100"),
        ("wind_kmh", "-0.5", "wind_kmh: outside 0..250"),
        ("temp_c", "nan", "temp_c: not a finite number"),
        ("temp_c", "inf", "temp_c: not a finite number"),
        ("weather", "sunny", "weather: not one of clear, mist, light_precip, heavy_precip"),
    ],
)
def test_bad_values_are_quarantined_with_a_reason(canonical, column, value, reason):
    raw = as_text(canonical)
    raw.loc[5, column] = value
    assert reason in reasons_for(raw, 5)
    result = validation.validate_frame(raw)
    assert result.report["quarantined_rows"] == 1
    assert len(result.valid) == len(raw) - 1
    assert value not in result.valid.astype(str)[column].tolist() or column == "weather"


def test_duplicate_timestamps_reject_every_copy(canonical):
    raw = as_text(canonical)
    raw.loc[7, "timestamp"] = raw.loc[6, "timestamp"]
    result = validation.validate_frame(raw)
    assert set(result.quarantine.index) == {6, 7}
    assert "duplicated hour" in result.quarantine.loc[6, "reason"]


def test_gaps_are_counted_not_quarantined(canonical):
    raw = as_text(canonical.drop(index=[10, 11, 12]))
    report = validation.validate_frame(raw).report
    assert report["missing_hours"] == 3
    assert report["longest_gap_hours"] == 3
    assert report["quarantined_rows"] == 0


def test_too_many_bad_rows_fail_with_counts(canonical):
    raw = as_text(canonical)
    raw.loc[[1, 2, 3], "humidity_pct"] = "150"
    result = validation.validate_frame(raw)
    with pytest.raises(DataError, match=r"3 of 72 rows are bad .*max_bad_fraction"):
        validation.check_thresholds(result, ValidateParams(max_bad_fraction=0.01), "raw.parquet")
    validation.check_thresholds(result, ValidateParams(max_bad_fraction=0.05), "raw.parquet")


def test_too_many_missing_hours_fail(canonical):
    result = validation.validate_frame(as_text(canonical.iloc[::2]))
    with pytest.raises(DataError, match="hours are missing"):
        validation.check_thresholds(result, ValidateParams(max_missing_fraction=0.1), "x")


def test_stage_keeps_previous_outputs_when_it_fails(tmp_path, monkeypatch, canonical):
    monkeypatch.chdir(tmp_path)
    from bikecast.config import Params

    params = Params.model_validate({"ingest": {"as_of": "2012-01-01T00:00Z"}})
    paths.RAW.parent.mkdir(parents=True)
    as_text(canonical).to_parquet(paths.RAW)
    validate.run(params)
    before = {p: p.read_bytes() for p in (paths.INTERIM, paths.VALIDATE_METRICS)}
    assert json.loads(paths.VALIDATE_METRICS.read_text())["valid_rows"] == 72

    bad = as_text(canonical)
    bad["humidity_pct"] = "500"
    bad.to_parquet(paths.RAW)
    with pytest.raises(DataError):
        validate.run(params)
    assert {p: p.read_bytes() for p in before} == before


def test_all_rows_bad_is_a_clear_error(canonical):
    raw = as_text(canonical)
    raw["weather"] = "fog"
    result = validation.validate_frame(raw)
    with pytest.raises(DataError, match="no valid rows"):
        validation.check_thresholds(result, ValidateParams(max_bad_fraction=1.0), "x")


def test_missing_weather_reads_as_a_weather_gap_not_a_number_repr(canonical):
    raw = canonical.copy()  # typed, as data/raw/hourly.parquet holds it
    raw.loc[5, ["temp_c", "feels_like_c", "humidity_pct", "wind_kmh"]] = np.nan
    raw.loc[9, "temp_c"] = np.nan
    raw.loc[12, "humidity_pct"] = 120.0
    result = validation.validate_frame(raw)
    reasons = result.quarantine["reason"]
    assert reasons[5] == "weather gap: temp_c, feels_like_c, humidity_pct, wind_kmh missing"
    assert reasons[9] == "weather gap: temp_c missing"
    assert reasons[12] == "humidity_pct: outside 0..100 (got 120.0)"
    assert not reasons.str.contains("np.|nan", regex=True).any()
    assert result.report["reasons"] == {
        "weather gap: temp_c, feels_like_c, humidity_pct, wind_kmh missing": 1,
        "weather gap: temp_c missing": 1,
        "humidity_pct: outside 0..100": 1,
    }


def test_a_missing_value_in_a_text_file_is_missing_too(canonical):
    raw = as_text(canonical)
    raw.loc[3, "wind_kmh"] = pd.NA  # an empty CSV cell
    raw.loc[4, "rentals"] = pd.NA
    assert reasons_for(raw, 3) == "weather gap: wind_kmh missing"
    assert reasons_for(raw, 4) == "rentals: missing"


def test_threshold_failure_is_one_line_with_counts_and_examples(canonical):
    raw = canonical.copy()
    raw.loc[[1, 2, 3], "humidity_pct"] = 150.0
    raw.loc[17, ["temp_c", "feels_like_c"]] = np.nan
    result = validation.validate_frame(raw)
    with pytest.raises(DataError) as err:
        validation.check_thresholds(result, ValidateParams(max_bad_fraction=0.01), "raw.parquet")
    message = str(err.value)
    assert "\n" not in message and "np." not in message and "nan" not in message
    assert message == (
        "raw.parquet: 4 of 72 rows are bad (5.56% > validate.max_bad_fraction 1.00%): "
        "humidity_pct: outside 0..100 (3 rows), "
        "weather gap: temp_c, feels_like_c missing (1 row); "
        "e.g. row 1 (2011-06-01T05:00Z): humidity_pct 150.0; "
        "row 17 (2011-06-01T21:00Z): temp_c, feels_like_c missing"
    )


def test_threshold_failure_with_many_kinds_stays_short(canonical):
    raw = as_text(canonical)
    bad = [("weather", "x" * 500), ("humidity_pct", "150"), ("wind_kmh", "-1"), ("casual", "1.5")]
    for row, (column, value) in enumerate(bad * 3):
        raw.loc[row, column] = value
    result = validation.validate_frame(raw)
    with pytest.raises(DataError) as err:
        validation.check_thresholds(result, ValidateParams(max_bad_fraction=0.01), "raw.parquet")
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    assert "wind_kmh: outside 0..250 (3 rows) and 1 more kind;" in message  # casual's
    assert (
        "row 0 (2011-06-01T04:00Z): weather 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'..."
        in message
    )
    assert message.count("e.g.") == 1 and message.count("row ") == 2


def test_no_valid_rows_is_one_line(canonical):
    raw = canonical.copy()
    raw["temp_c"] = np.nan
    result = validation.validate_frame(raw)
    with pytest.raises(DataError) as err:
        validation.check_thresholds(result, ValidateParams(max_bad_fraction=1.0), "x")
    assert str(err.value).startswith(
        "x: no valid rows (72 rejected): weather gap: temp_c missing (72 rows); e.g. row 0 "
    )
    assert "\n" not in str(err.value)
