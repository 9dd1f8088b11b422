"""The capital_bikeshare source at station grain, against the fake services on 127.0.0.1.

Expectations come from an independent csv + datetime reading of the fixture zips."""

from __future__ import annotations

import csv
import io
import logging
import statistics
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from tests.fixtures.capital_bikeshare import cbfake

from bikecast.config import IngestParams
from bikecast.data.schema import STATION_GRAIN_COLUMNS, check_columns
from bikecast.data.sources import capital_bikeshare as cbs
from bikecast.data.validation import validate_frame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "capital_bikeshare"
MARCH, APRIL, NOV18 = (
    "202403-capitalbikeshare-tripdata.zip",
    "202404-capitalbikeshare-tripdata.zip",
    "201811-capitalbikeshare-tripdata.zip",
)
DC = "America/New_York"
SPRING = ("2024-04-30T23:00:00-04:00", "2024-03")  # March + April 2024, current layout
FALL = ("2018-11-30T23:00:00-05:00", "2018-11")  # November 2018, legacy layout


@pytest.fixture(scope="module")
def services():
    with cbfake.FakeServices(files=cbfake.committed_zips()) as fake:
        yield fake


def params(services, cache: Path, as_of: str, start: str) -> IngestParams:
    settings = {
        "trips_url": services.trips_url,
        "weather_url": services.weather_url,
        "cache_dir": str(cache),
        "start": start,
        "retries": 1,
        "backoff_s": 0,
        "timeout_s": 10,
    }
    return IngestParams(source="capital_bikeshare", as_of=as_of, capital_bikeshare=settings)


@pytest.fixture(scope="module")
def fetched(services, tmp_path_factory):
    """Both grains of both fixture windows, fetched once (the cache is shared)."""
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for name, (as_of, start) in {"spring": SPRING, "fall": FALL}.items():
        p = params(services, cache, as_of, start)
        out[name] = (cbs.fetch(p), cbs.fetch(p, grain="station"))
    return out


def trips(*names: str) -> pd.DataFrame:
    """Every trip of the fixture zips: local start, station ('' if none), kind, coordinates."""
    rows = []
    for name in names:
        with zipfile.ZipFile(FIXTURES / name) as zf:
            text = zf.read(zf.namelist()[0]).decode()
        for row in csv.DictReader(io.StringIO(text)):
            member = (row.get("member_casual") or row["Member type"]).lower()
            rows.append(
                {
                    "start": datetime.strptime(
                        row.get("started_at") or row["Start date"], "%Y-%m-%d %H:%M:%S"
                    ),
                    "station_id": row.get("start_station_id", row.get("Start station number")),
                    "kind": "registered" if member == "member" else "casual",
                    "lat": float(row["start_lat"]) if row.get("start_lat") else None,
                    "lng": float(row["start_lng"]) if row.get("start_lng") else None,
                }
            )
    return pd.DataFrame(rows)


def utc_hour(local: datetime) -> pd.Timestamp:
    """The UTC hour of an unambiguous local wall-clock time."""
    return pd.Timestamp(local).floor("h").tz_localize(DC).tz_convert("UTC")


def by_hour(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby("timestamp")[["rentals", "casual", "registered"]].sum()


# --------------------------------------------------------------------------- counts


def test_station_hours_sum_to_city_hours_minus_trips_without_a_station(services, tmp_path, caplog):
    city = cbs.fetch(params(services, tmp_path, *SPRING))
    with caplog.at_level(logging.INFO, logger=cbs.__name__):
        station = cbs.fetch(params(services, tmp_path, *SPRING), grain="station")
    all_trips = trips(MARCH, APRIL)
    unplaced = all_trips[all_trips["station_id"] == ""]
    assert len(unplaced) > 50  # the fixture has dockless trips to drop
    dropped = (
        pd.DataFrame(
            {"timestamp": unplaced["start"].map(utc_hour), "kind": unplaced["kind"], "n": 1}
        )
        .pivot_table(index="timestamp", columns="kind", values="n", aggfunc="sum")
        .reindex(index=city["timestamp"], columns=["casual", "registered"])
        .fillna(0)
        .astype("int64")
    )
    dropped["rentals"] = dropped["casual"] + dropped["registered"]
    counts = ["rentals", "casual", "registered"]
    expected = city.set_index("timestamp")[counts] - dropped[counts]
    got = by_hour(station).reindex(expected.index, fill_value=0)
    pd.testing.assert_frame_equal(got, expected, check_names=False)
    assert set(station["timestamp"]) <= set(city["timestamp"])
    assert f"{len(unplaced)} trips without a start station" in caplog.text
    per_station = station.groupby("station_id")["rentals"].sum()
    assert (
        per_station.to_dict()
        == all_trips.loc[all_trips["station_id"] != "", "station_id"].value_counts().to_dict()
    )


def test_rows_are_canonical_sorted_and_unique(fetched):
    city, station = fetched["spring"]
    check_columns(station, "x", "station")
    assert list(station.columns) == list(STATION_GRAIN_COLUMNS)
    assert not station.duplicated(["station_id", "timestamp"]).any()
    checked = validate_frame(station.astype(str), "station")  # as validate reads a file
    assert checked.report["quarantined_rows"] == 0 and checked.report["missing_hours"] == 0
    assert checked.report["stations"] == station["station_id"].nunique()
    order = station.sort_values(["timestamp", "station_id"], kind="stable").index
    assert (order == station.index).all() and station.index.equals(pd.RangeIndex(len(station)))
    assert (station["rentals"] == station["casual"] + station["registered"]).all()
    assert station.dtypes.astype(str).to_dict() == {
        "timestamp": "datetime64[ns, UTC]",
        "station_id": "object",
        "latitude": "float64",
        "longitude": "float64",
        "rentals": "int64",
        "casual": "int64",
        "registered": "int64",
        "temp_c": "float64",
        "feels_like_c": "float64",
        "humidity_pct": "float64",
        "wind_kmh": "float64",
        "weather": "object",
    }
    assert station["station_id"].map(type).eq(str).all()
    # the city's weather of the hour on every station of that hour
    weather = ["temp_c", "feels_like_c", "humidity_pct", "wind_kmh", "weather"]
    joined = station[["timestamp", *weather]].merge(city[["timestamp", *weather]], on="timestamp")
    for column in weather:
        assert (joined[f"{column}_x"] == joined[f"{column}_y"]).all(), column


def test_active_stations_have_every_hour_from_their_first_trip_to_the_end(fetched):
    city, station = fetched["spring"]
    all_trips = trips(MARCH, APRIL)
    placed = all_trips[all_trips["station_id"] != ""]
    first_trip = placed.groupby("station_id")["start"].min().map(utc_hour)
    end = city["timestamp"].iloc[-1]
    assert station["timestamp"].iloc[-1] == end
    assert sorted(station["station_id"].unique()) == sorted(first_trip.index)
    for station_id, first in first_trip.items():
        stamps = station.loc[station["station_id"] == station_id, "timestamp"]
        assert stamps.iloc[0] == first, station_id  # no row before the first trip
        expected = pd.date_range(first, end, freq="h")
        assert stamps.tolist() == expected.tolist(), station_id  # and every hour after it
    # the station that opens mid-month starts after its opening, with zero-filled hours
    opening = first_trip[cbfake.NEW_STATION[0]]
    assert opening >= utc_hour(cbfake.NEW_STATION_OPENS)
    assert opening > station["timestamp"].iloc[0] + pd.Timedelta(days=10)
    new = station[station["station_id"] == cbfake.NEW_STATION[0]]
    assert new["rentals"].iloc[0] > 0
    assert (new["rentals"] == 0).sum() > len(new) / 2
    # the hour without any trips at all: every active station has a zero row
    empty = station[station["timestamp"] == utc_hour(cbfake.EMPTY_HOUR)]
    assert len(empty) == 4 and (empty["rentals"] == 0).all()


def test_fall_back_hour_is_split_as_at_city_grain(fetched):
    city, station = fetched["fall"]
    check_columns(station, "x", "station")
    pd.testing.assert_frame_equal(
        by_hour(station).reindex(city["timestamp"], fill_value=0),
        city.set_index("timestamp")[["rentals", "casual", "registered"]],
        check_names=False,
    )  # the legacy layout has a start station for every trip
    edt, est = pd.Timestamp("2018-11-04T05:00Z"), pd.Timestamp("2018-11-04T06:00Z")
    repeated = station[station["timestamp"].isin([edt, est])]
    assert by_hour(repeated)["rentals"].tolist() == [4, 3]  # as city grain, designed in cbfake
    legacy = trips(NOV18)
    in_hour = legacy[
        legacy["start"].map(lambda t: t.replace(minute=0, second=0)) == cbfake.FALL_BACK_HOUR
    ]
    per_station = repeated.groupby("station_id")["rentals"].sum()
    assert per_station[per_station > 0].to_dict() == (
        in_hour["station_id"].value_counts().to_dict()
    )
    assert not station.duplicated(["station_id", "timestamp"]).any()


def test_fall_back_split_over_stations_keeps_each_utc_hour_total():
    hour = datetime(2018, 11, 4, 1)
    counts = pd.DataFrame(
        {"casual": [1, 1, 1], "registered": [3, 0, 2]},
        index=pd.MultiIndex.from_tuples(
            [(hour, "b"), (hour, "a"), (datetime(2018, 11, 4, 0), "a")],
            names=["hour", "station_id"],
        ),
    )
    utc = cbs.local_counts_to_utc(counts)
    assert utc.index.get_level_values(0).dtype == "datetime64[ns, UTC]"
    got = {(t.strftime("%H:%M"), s): tuple(row) for (t, s), row in utc.iterrows()}
    # station a then b: casual 1,1 → EDT, EST; registered 0 + 3 → 2 EDT, 1 EST
    assert got == {
        ("04:00", "a"): (1, 2),
        ("05:00", "a"): (1, 0),
        ("05:00", "b"): (0, 2),
        ("06:00", "a"): (0, 0),
        ("06:00", "b"): (1, 1),
    }
    totals = utc.groupby(level=0).sum()
    city = cbs.local_counts_to_utc(counts.groupby(level=0).sum())
    pd.testing.assert_frame_equal(totals, city, check_names=False)


def test_trips_stamped_in_the_skipped_spring_hour_count_in_the_next_one_per_station():
    counts = pd.DataFrame(
        {"casual": [1, 2, 5], "registered": [0, 4, 1]},
        index=pd.MultiIndex.from_tuples(
            [
                (datetime(2024, 3, 10, 2), "a"),
                (datetime(2024, 3, 10, 3), "a"),
                (datetime(2024, 3, 10, 2), "b"),
            ],
            names=["hour", "station_id"],
        ),
    )
    utc = cbs.local_counts_to_utc(counts)
    at = pd.Timestamp("2024-03-10T07:00Z")  # 03:00 EDT
    assert utc.index.tolist() == [(at, "a"), (at, "b")]
    assert utc.to_numpy().tolist() == [[3, 4], [5, 1]]


def test_spring_forward_day_has_no_row_in_the_skipped_hour(fetched):
    _, station = fetched["spring"]
    day = station[
        station["timestamp"].dt.tz_convert(DC).dt.date == cbfake.SPRING_FORWARD_DAY.date()
    ]
    assert 2 not in set(day["timestamp"].dt.tz_convert(DC).dt.hour)
    assert day["timestamp"].nunique() == 23


# --------------------------------------------------------------------------- coordinates


@pytest.mark.parametrize("as_of", ["2024-04-04T12:00:00-04:00", "2024-04-30T23:00:00-04:00"])
def test_coordinates_are_median_start_coordinates_of_the_window(services, tmp_path, as_of):
    station = cbs.fetch(params(services, tmp_path, as_of, "2024-04"), grain="station")
    april = trips(APRIL)
    end = station["timestamp"].iloc[-1].tz_convert(DC).tz_localize(None)
    window = april[(april["station_id"] != "") & (april["start"] < end + pd.Timedelta(hours=1))]
    coords = station.groupby("station_id")[["latitude", "longitude"]].agg(["min", "max"])
    for station_id, rows in window.groupby("station_id"):
        for axis, column in (("latitude", "lat"), ("longitude", "lng")):
            median = statistics.median(rows[column])
            assert coords.loc[station_id, (axis, "min")] == median, (station_id, axis)
            assert coords.loc[station_id, (axis, "max")] == median, (station_id, axis)
            assert median != statistics.fmean(rows[column])  # e-bikes: GPS fixes off the dock
    moved = coords.loc[cbfake.MOVED_STATION, ("latitude", "min")]
    old = dict((s[0], s[2]) for s in cbfake.STATIONS)[cbfake.MOVED_STATION]
    assert moved == (old if as_of.startswith("2024-04-04") else cbfake.MOVED_TO[0])


def test_legacy_layout_has_no_coordinates(fetched):
    _, station = fetched["fall"]
    assert station["latitude"].isna().all() and station["longitude"].isna().all()
    assert station["station_id"].nunique() == len(cbfake.STATIONS)


# --------------------------------------------------------------------------- the window


def test_window_ends_where_weather_ends_for_every_station(tmp_path, caplog):
    with (
        cbfake.FakeServices(
            files=cbfake.committed_zips(), weather_until="2024-03-20T17:00"
        ) as fake,
        caplog.at_level(logging.INFO, logger=cbs.__name__),
    ):
        station = cbs.fetch(params(fake, tmp_path, *SPRING), grain="station")
    last = pd.Timestamp("2024-03-20T17:00Z")
    assert station["timestamp"].max() == last
    assert (station.groupby("station_id")["timestamp"].max() == last).all()
    # the station opening on the 15th got rows; nothing of later trips leaks in
    assert cbfake.NEW_STATION[0] in set(station["station_id"])
    march = trips(MARCH)
    in_window = march[march["start"].map(utc_hour) <= last]
    assert station["rentals"].sum() == (in_window["station_id"] != "").sum()
    unplaced = (in_window["station_id"] == "").sum()
    assert f" {unplaced} trips without a start station" in caplog.text  # of the window only


def test_unknown_grain_is_rejected(services, tmp_path):
    seen = len(services.requests)
    with pytest.raises(ValueError, match=r"'stations' is not a valid Grain"):
        cbs.fetch(params(services, tmp_path, *FALL), grain="stations")
    assert len(services.requests) == seen  # rejected before any download


# --------------------------------------------------------------------------- bad input


def current_zip(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A current-layout zip of (started_at, start_station_id, start_lat, start_lng) trips."""
    lines = [",".join(cbfake.CURRENT_HEADER)]
    for start, station_id, lat, lng in rows:
        lines.append(f"X,classic_bike,{start},{start},s,{station_id},e,1,{lat},{lng},,,member")
    path.write_bytes(cbfake.zip_bytes({"202405.csv": "\n".join(lines)}))
    return path


def test_a_coordinate_that_is_not_a_number_is_ignored_up_to_one_percent(tmp_path, caplog):
    window = (pd.Timestamp("2024-05-01 00:00"), pd.Timestamp("2024-05-31 23:00"))
    good = [("2024-05-01 08:10:00", "31101", "38.9", "-77.0")] * 99 + [
        ("2024-05-01 08:20:00", "31101", "39.5", "-77.0")
    ]
    path = current_zip(tmp_path / "a.zip", [*good, ("2024-05-01 09:00:00", "31101", "N38.9", "")])
    with caplog.at_level(logging.WARNING, logger=cbs.__name__):
        trips = cbs.count_station_trips(path, window)
    assert "1 of 101 trips have a start_lat or start_lng that is not a number" in caplog.text
    assert "'N38.9'" in caplog.text
    assert int(trips.counts.to_numpy().sum()) == 101  # the trip still counts
    coords = cbs.station_coordinates(trips.coords)
    assert coords.loc["31101"].tolist() == [38.9, -77.0]
    path = current_zip(tmp_path / "b.zip", [*good[:50], ("2024-05-01 09:00:00", "31101", "x", "")])
    with pytest.raises(cbs.DataError, match=r"b\.zip \(202405\.csv\): 1 of 51 trips.*'x'"):
        cbs.count_station_trips(path, window)


def test_a_window_without_any_station_trip_is_an_error():
    hour = pd.Timestamp("2024-05-01T12:00Z")
    counts = pd.DataFrame(
        {"casual": [1], "registered": [0]},
        index=pd.MultiIndex.from_tuples([(hour, "31101")], names=["hour", "station_id"]),
    )
    with pytest.raises(cbs.DataError, match=r"f\.zip: no trip with a start station between"):
        cbs.station_hours(
            [counts], hour + pd.Timedelta(hours=1), hour + pd.Timedelta(hours=5), "f.zip"
        )
