import json

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
        ("timestamp", "2011-06-01T05:30:00Z", "row: timestamp must be on the hour"),
        ("rentals", "-3", "rentals: greater_than_or_equal_to(0)"),
        ("casual", "2.5", "casual: not a whole number"),
        ("registered", "many", "registered: not a number"),
        ("rentals", "99999", "row: rentals must equal casual + registered"),
        ("humidity_pct", "101", "humidity_pct: in_range(0, 100)"),
        ("humidity_pct", "-1", "humidity_pct: in_range(0, 100)"),
        ("wind_kmh", "-0.5", "wind_kmh: in_range(0, 250)"),
        ("temp_c", "nan", "temp_c: not a finite number"),
        ("temp_c", "inf", "temp_c: not a finite number"),
        ("weather", "sunny", "weather: isin"),
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
