"""Station features and the synthetic station data: window arithmetic, no look-ahead, the
card round trip the API relies on, and the station grain's params and validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import as_text

from bikecast.config import ConfigError, load_params
from bikecast.data.schema import DataError, check_columns, read_canonical
from bikecast.data.synthetic import stations_from_city
from bikecast.data.validation import validate_frame
from bikecast.ml.stations import StationTable, UnknownStationError, daily_history, station_places

SEED = "data/seed/bikeshare_dc_2011.csv.gz"


@pytest.fixture(scope="module")
def city():
    return validate_frame(read_canonical(SEED)).valid


@pytest.fixture(scope="module")
def stations(city):
    return stations_from_city(city[city["timestamp"] >= "2011-09-01"], 6, seed=1)


def table_of(frame, history=7, lag=3):
    return StationTable.build(daily_history(frame), station_places(frame), history, lag)


def test_synthetic_stations_add_up_to_the_real_city_hour_by_hour(city, stations):
    check_columns(stations, "synthetic", "station")
    totals = stations.groupby("timestamp")[["rentals", "casual", "registered"]].sum()
    real = city.set_index("timestamp").loc[totals.index, ["rentals", "casual", "registered"]]
    assert len(totals) == (city["timestamp"] >= "2011-09-01").sum()
    assert (totals.to_numpy() == real.to_numpy()).all()
    again = stations_from_city(city[city["timestamp"] >= "2011-09-01"], 6, seed=1)
    pd.testing.assert_frame_equal(stations, again)  # same seed, same rows


def test_a_late_station_has_no_rows_before_it_opens():
    hours = pd.date_range("2011-01-01", periods=24 * 60, freq="h", tz="UTC")
    city = pd.DataFrame(
        {"timestamp": hours, "casual": 5, "registered": 20, "rentals": 25, "temp_c": 10.0,
         "feels_like_c": 9.0, "humidity_pct": 50.0, "wind_kmh": 5.0, "weather": "clear"}
    )  # fmt: skip
    frame = stations_from_city(city, 40, seed=2)
    first = frame.groupby("station_id")["timestamp"].min()
    late = first[first > hours[0]]
    assert len(late) >= 1  # ~10% open during the period
    counts = frame.groupby("station_id").size()
    assert (counts[late.index] < len(hours)).all() and (counts.drop(late.index) == len(hours)).all()


def test_recent_mean_is_the_mean_of_whole_days_before_the_lag():
    # one station, 10 local days; day d has d rentals in each of its 24 hours
    local = pd.date_range("2011-03-01", periods=24 * 10, freq="h", tz="America/New_York")
    frame = pd.DataFrame(
        {"timestamp": local.tz_convert("UTC"), "station_id": "A", "latitude": 38.9,
         "longitude": -77.0, "rentals": np.repeat(np.arange(10), 24)}
    )  # fmt: skip
    features = table_of(frame, history=2, lag=3).features(frame)
    recent = features["station_recent_mean"].to_numpy().reshape(10, 24)[:, 0]
    # day d uses days d-5 and d-4 (lag 3, history 2, whole days before d-3)
    expected = [np.nan] * 4 + [0.0] + [d - 4.5 for d in range(5, 10)]
    np.testing.assert_allclose(recent, expected)
    assert (features["station_code"] == 0).all() and (
        features["latitude"] == np.float32(38.9)
    ).all()


def test_no_hour_is_described_by_rentals_after_the_lag(stations):
    """Changing every rental after a cutoff leaves the features of hours up to lag days
    after it unchanged: nothing from the forecast horizon leaks in."""
    lag = 7
    cutoff = stations["timestamp"].max() - pd.Timedelta(days=lag)
    before = table_of(stations, history=14, lag=lag).features(stations)
    changed = stations.assign(
        rentals=stations["rentals"].where(stations["timestamp"] <= cutoff, 999)
    )
    after = table_of(changed, history=14, lag=lag).features(changed)
    pd.testing.assert_frame_equal(before, after)


def test_partial_daily_histories_add_up_like_dask_partitions(stations):
    whole = table_of(stations)
    halves = pd.concat([daily_history(stations.iloc[:5000]), daily_history(stations.iloc[5000:])])
    parts = StationTable.build(halves, station_places(stations), 7, 3)
    np.testing.assert_array_equal(whole.rentals, parts.rentals)
    np.testing.assert_array_equal(whole.hours, parts.hours)


def test_the_cards_latest_days_give_the_same_features_after_the_data_end(stations):
    full = table_of(stations, history=14, lag=7)
    card = StationTable.from_dict(full.latest().to_dict())
    assert card.rentals.shape[1] == 21
    end = stations["timestamp"].max()
    future = pd.DataFrame(
        {"timestamp": [end + pd.Timedelta(hours=h) for h in (1, 30, 24 * 7, 24 * 40)] * 2,
         "station_id": ["31000"] * 4 + ["31005"] * 4}
    )  # fmt: skip
    pd.testing.assert_frame_equal(full.features(future), card.features(future))
    # beyond the horizon the latest window known stands in: still a number, not missing
    assert card.features(future)["station_recent_mean"].notna().all()


def test_an_unknown_station_is_named(stations):
    rows = pd.DataFrame(
        {"timestamp": [stations["timestamp"].max()] * 2, "station_id": ["31000", "9"]}
    )
    with pytest.raises(UnknownStationError, match=r"unknown station_id \['9'\]"):
        table_of(stations).features(rows)


def test_a_malformed_station_table_is_an_error():
    with pytest.raises(ValueError, match="station table is malformed"):
        StationTable.from_dict({"ids": ["a"]})


def test_station_grain_params_are_checked(tmp_path):
    text = Path("params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(
        text.replace("grain: city", "grain: station").replace(
            "history_lag_days: 28", "history_lag_days: 7"
        )
    )
    with pytest.raises(
        ConfigError, match=r"history_lag_days \(7\) is shorter than split.test_days \(28\)"
    ):
        load_params(path)
    path.write_text(text.replace("grain: city", "grain: region"))
    with pytest.raises(ConfigError, match="grain: Input should be 'city' or 'station'"):
        load_params(path)
    path.write_text(text.replace("memory_limit: 4GiB", "memory_limit: lots"))
    with pytest.raises(ConfigError, match="'lots' is not a size like 4GiB"):
        load_params(path)
    path.write_text(text.replace("engine: local", "engine: spark"))
    with pytest.raises(ConfigError, match=r"compute\.engine"):
        load_params(path)


def test_validate_at_station_grain_quarantines_per_station_problems(stations):
    raw = as_text(stations.iloc[:60].copy())
    raw.loc[3, "station_id"] = " "
    raw.loc[4, "latitude"] = "north"
    raw.loc[5, "longitude"] = ""  # no coordinates is allowed (the old trip layout)
    raw.loc[7] = raw.loc[6]  # the same station-hour twice
    result = validate_frame(raw, "station")
    reasons = result.quarantine.set_index(result.quarantine.index)["reason"]
    assert "station_id: empty" in reasons[3]
    assert "latitude: not a number" in reasons[4]
    assert "duplicated station-hour" in reasons[6] and "duplicated station-hour" in reasons[7]
    assert 5 not in reasons.index
    assert result.report["stations"] == result.valid["station_id"].nunique() >= 4
    assert np.isnan(result.valid.loc[result.valid["longitude"].isna(), "longitude"]).all()


def test_a_city_file_read_at_station_grain_says_which_grain_it_is(tmp_path):
    with pytest.raises(DataError, match="a city-grain file: set `grain: city`"):
        read_canonical(SEED, "station")
    path = tmp_path / "stations.csv"
    as_text(stations_from_city(validate_frame(read_canonical(SEED)).valid.head(48), 2)).to_csv(
        path, index=False
    )
    with pytest.raises(DataError, match="a station-grain file: set `grain: station`"):
        read_canonical(path)


def test_tune_cross_validates_a_station_model_with_its_station_features(stations):
    from bikecast.config import Params
    from bikecast.ml.tune import cross_validate
    from bikecast.stages.features import feature_table, station_table

    params = Params.model_validate(
        {"grain": "station", "ingest": {"as_of": "2012-01-01T00:00Z"},
         "split": {"test_days": 7}, "station": {"history_days": 7, "history_lag_days": 7},
         "train": {"n_estimators": 20, "valid_days": 3}}
    )  # fmt: skip
    table = feature_table(stations, station_table(stations, params))
    result = cross_validate(table, params.train, n_folds=2, fold_days=7)
    assert len(result["rmsle_folds"]) == 2 and all(np.isfinite(result["rmsle_folds"]))
    city_features_only = cross_validate(table.drop(columns="station_id"), params.train, 2, 7)
    assert city_features_only["rmsle"] > result["rmsle"]  # the station features are used
