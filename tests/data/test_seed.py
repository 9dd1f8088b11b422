"""The committed seed and the conversion that made it."""

from pathlib import Path

import pandas as pd
import pytest

from bikecast.data.schema import COLUMNS, read_canonical
from bikecast.data.sources.uci import convert_islp_bikeshare, local_hours_to_utc
from bikecast.data.validation import validate_frame

SEED = Path(__file__).resolve().parents[2] / "data" / "seed" / "bikeshare_dc_2011.csv.gz"


def test_dst_spring_forward_and_fall_back():
    local = pd.Series(
        pd.to_datetime(
            [
                "2011-03-13 01:00",
                "2011-03-13 03:00",
                "2011-11-06 00:00",
                "2011-11-06 01:00",
                "2011-11-06 02:00",
            ]
        )
    )
    utc = local_hours_to_utc(local).dt.strftime("%Y-%m-%dT%H:%MZ").tolist()
    # 01:00 EST then 03:00 EDT are one real hour apart; the repeated 01:00 in November is
    # placed at its first (EDT) occurrence, and 02:00 EST follows two real hours later.
    assert utc == [
        "2011-03-13T06:00Z",
        "2011-03-13T07:00Z",
        "2011-11-06T04:00Z",
        "2011-11-06T05:00Z",
        "2011-11-06T07:00Z",
    ]


def test_nonexistent_local_hour_is_rejected():
    with pytest.raises(Exception, match="2011-03-13 02:00"):
        local_hours_to_utc(pd.Series(pd.to_datetime(["2011-03-13 02:00"])))


def test_conversion_rules():
    source = pd.DataFrame(
        {
            "day": [1],
            "hr": [0],
            "temp": [0.24],
            "atemp": [0.2879],
            "hum": [0.81],
            "windspeed": [0.1045],
            "weathersit": ["cloudy/misty"],
            "casual": [3],
            "registered": [13],
            "bikers": [16],
        }
    )
    row = convert_islp_bikeshare(source).iloc[0]
    assert row["timestamp"] == pd.Timestamp("2011-01-01T05:00Z")
    assert row["temp_c"] == pytest.approx(3.28)
    assert row["feels_like_c"] == pytest.approx(3.0, abs=0.01)
    assert row["humidity_pct"] == 81.0
    assert row["wind_kmh"] == pytest.approx(7.0, abs=0.01)
    assert row["weather"] == "mist"


def test_unknown_weathersit_is_an_error():
    source = pd.DataFrame(
        {
            "day": [1],
            "hr": [0],
            "temp": [0.2],
            "atemp": [0.2],
            "hum": [0.5],
            "windspeed": [0.1],
            "weathersit": ["tornado"],
            "casual": [1],
            "registered": [1],
            "bikers": [2],
        }
    )
    with pytest.raises(ValueError, match="tornado"):
        convert_islp_bikeshare(source)


def test_seed_is_valid_canonical_data():
    raw = read_canonical(SEED)
    assert tuple(raw.columns) == COLUMNS
    result = validate_frame(raw)
    assert result.report["quarantined_rows"] == 0
    valid = result.valid
    assert len(valid) == 8645
    assert int(valid["rentals"].sum()) == 1_243_103
    assert valid["timestamp"].is_unique and valid["timestamp"].is_monotonic_increasing
    assert str(valid["timestamp"].dt.tz) == "UTC"
    # first hour: 2011-01-01 00:00 in Washington DC (EST, UTC-5)
    assert valid["timestamp"].iloc[0] == pd.Timestamp("2011-01-01T05:00Z")
    # the spring-forward hour does not exist; the fall-back hour appears once
    local = valid["timestamp"].dt.tz_convert("America/New_York")
    assert not ((local.dt.date.astype(str) == "2011-03-13") & (local.dt.hour == 2)).any()
    nov6_1am = (local.dt.date.astype(str) == "2011-11-06") & (local.dt.hour == 1)
    assert nov6_1am.sum() == 1
