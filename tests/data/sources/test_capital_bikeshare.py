"""The capital_bikeshare source against a real HTTP server on 127.0.0.1 serving fixture zips
in both real trip layouts and Open-Meteo archive responses in the real shape."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.fixtures.capital_bikeshare import cbfake

from bikecast.config import IngestParams
from bikecast.data.schema import COLUMNS, DataError
from bikecast.data.sources import capital_bikeshare as cbs
from bikecast.data.sources import load_source
from bikecast.data.sources import weather as wx
from bikecast.data.sources.http import DownloadError, Http
from bikecast.data.validation import validate_frame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "capital_bikeshare"
MARCH, APRIL, NOV18 = (
    "202403-capitalbikeshare-tripdata.zip",
    "202404-capitalbikeshare-tripdata.zip",
    "201811-capitalbikeshare-tripdata.zip",
)


@pytest.fixture
def services():
    with cbfake.FakeServices(files=cbfake.committed_zips()) as fake:
        yield fake


def params(services, tmp_path: Path, as_of: str, start: str = "2024-03", **extra) -> IngestParams:
    settings = {
        "trips_url": services.trips_url,
        "weather_url": services.weather_url,
        "cache_dir": str(tmp_path / "cache"),
        "start": start,
        "retries": 2,
        "backoff_s": 0,
        "timeout_s": 10,
        **extra,
    }
    return IngestParams(source="capital_bikeshare", as_of=as_of, capital_bikeshare=settings)


def oracle_utc(name: str) -> pd.Series:
    """Trips per UTC hour from the independent csv+datetime oracle, for unambiguous hours."""
    counts: dict[pd.Timestamp, int] = {}
    for (hour, _kind), n in cbfake.expected_local_counts(name).items():
        stamp = pd.Timestamp(hour).tz_localize("America/New_York").tz_convert("UTC")
        counts[stamp] = counts.get(stamp, 0) + n
    return pd.Series(counts).sort_index()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("name", [APRIL, NOV18], ids=["current-layout", "legacy-layout"])
def test_counts_by_local_start_hour_match_an_independent_count(name):
    counts = cbs.count_trips(FIXTURES / name)
    expected = cbfake.expected_local_counts(name)
    got = {
        (hour.to_pydatetime(), kind): int(n)
        for hour, row in counts.iterrows()
        for kind, n in row.items()
        if n
    }
    assert got == expected
    assert list(counts.columns) == ["casual", "registered"]


def test_both_layouts_are_detected_and_an_unknown_one_is_named():
    current = cbs.detect_layout(cbfake.CURRENT_HEADER, "x")
    legacy = cbs.detect_layout(cbfake.LEGACY_HEADER, "x")
    assert (current.start, legacy.start) == ("started_at", "Start date")
    with pytest.raises(DataError) as err:
        cbs.detect_layout(["tripduration", "starttime", "usertype"], "f.zip")
    assert str(err.value) == (
        "f.zip: unknown trip layout; against the current (2020-04 on) layout it lacks "
        "'started_at', 'member_casual', 'start_station_id' (+10 more) and has unexpected "
        "'tripduration', 'starttime', 'usertype'"
    )
    renamed = [*cbfake.LEGACY_HEADER[:-1], "Member kind"]
    with pytest.raises(DataError) as err:
        cbs.detect_layout(renamed, "f.zip")
    assert str(err.value) == (
        "f.zip: unknown trip layout; against the legacy (to 2020-03) layout it lacks "
        "'Member type' and has unexpected 'Member kind'"
    )


def test_fall_back_hour_is_split_between_its_two_utc_hours():
    counts = pd.DataFrame(
        {"casual": [3, 5], "registered": [4, 1]},
        index=pd.DatetimeIndex([datetime(2018, 11, 4, 0), datetime(2018, 11, 4, 1)]),
    )
    utc = cbs.local_counts_to_utc(counts)
    assert list(utc.index.strftime("%H:%M")) == ["04:00", "05:00", "06:00"]  # EDT, EDT, EST
    assert utc["casual"].tolist() == [3, 3, 2]
    assert utc["registered"].tolist() == [4, 1, 0]
    assert str(utc.index.dtype) == "datetime64[ns, UTC]"


def test_trips_stamped_in_the_skipped_spring_hour_count_in_the_next_one():
    counts = pd.DataFrame(
        {"casual": [1, 2], "registered": [0, 4]},
        index=pd.DatetimeIndex([datetime(2024, 3, 10, 2), datetime(2024, 3, 10, 3)]),
    )
    utc = cbs.local_counts_to_utc(counts)
    assert utc.index.tolist() == [pd.Timestamp("2024-03-10T07:00Z")]  # 03:00 EDT
    assert utc.iloc[0].tolist() == [3, 4]


def test_unknown_member_types_beyond_one_percent_fail(tmp_path):
    text = "\n".join(
        [",".join(cbfake.LEGACY_HEADER)]
        + [f"60,2019-05-01 08:0{i}:00,2019-05-01 08:10:00,1,a,2,b,W1,Member" for i in range(8)]
        + ["60,2019-05-01 09:00:00,2019-05-01 09:10:00,1,a,2,b,W1,Unknown"] * 2
    )
    path = tmp_path / "201905-capitalbikeshare-tripdata.zip"
    path.write_bytes(cbfake.zip_bytes({"201905-capitalbikeshare-tripdata.csv": text}))
    with pytest.raises(DataError, match=r"201905.*2 of 10 trips.*'Member type'.*Unknown"):
        cbs.count_trips(path)


def test_other_timestamp_formats_fall_back_to_a_full_parse(tmp_path):
    text = "\n".join(
        [",".join(cbfake.LEGACY_HEADER)]
        + ["60,3/1/2019 7:05,3/1/2019 7:06,1,a,2,b,W1,Member"] * 3
        + ["60,3/1/2019 17:59,3/1/2019 18:06,1,a,2,b,W1,Casual"] * 2
        + ["60,,3/1/2019 18:06,1,a,2,b,W1,Casual"]  # no start time: 1 of 6 is too many
    )
    path = tmp_path / "201903-capitalbikeshare-tripdata.zip"
    path.write_bytes(cbfake.zip_bytes({"201903.csv": text}))
    with pytest.raises(DataError, match=r"201903.*1 of 6 trips have an unreadable 'Start date'"):
        cbs.count_trips(path)
    path.write_bytes(cbfake.zip_bytes({"201903.csv": text.rsplit("\n", 1)[0]}))
    counts = cbs.count_trips(path)
    assert counts.loc["2019-03-01 07:00"].tolist() == [0, 3]
    assert counts.loc["2019-03-01 17:00"].tolist() == [2, 0]


# --------------------------------------------------------------------------- the window


def test_month_across_spring_forward_is_continuous_in_utc(services, tmp_path):
    frame = cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    stamps = frame["timestamp"]
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 743  # March 2024 in DC: 31 days minus the skipped hour
    assert stamps.iloc[0] == pd.Timestamp("2024-03-01T05:00Z")
    assert stamps.iloc[-1] == pd.Timestamp("2024-04-01T03:00Z")
    assert (stamps.diff().dropna() == pd.Timedelta(hours=1)).all()
    oracle = oracle_utc(MARCH)
    assert frame["rentals"].sum() == oracle.sum()
    assert frame.set_index("timestamp")["rentals"].reindex(oracle.index).tolist() == oracle.tolist()
    # 01:00 EST then 03:00 EDT: consecutive UTC hours
    assert frame.set_index("timestamp").loc["2024-03-10T07:00Z", "rentals"] == oracle.get(
        pd.Timestamp("2024-03-10T07:00Z"), 0
    )
    assert (frame["rentals"] == frame["casual"] + frame["registered"]).all()
    assert frame.dtypes.astype(str).to_dict() == {
        "timestamp": "datetime64[ns, UTC]",
        "rentals": "int64",
        "casual": "int64",
        "registered": "int64",
        "temp_c": "float64",
        "feels_like_c": "float64",
        "humidity_pct": "float64",
        "wind_kmh": "float64",
        "weather": "object",
    }
    report = validate_frame(frame).report
    assert report["quarantined_rows"] == 0 and report["missing_hours"] == 0


def test_hour_without_trips_is_zero_not_missing(services, tmp_path):
    frame = cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    empty = pd.Timestamp(cbfake.EMPTY_HOUR).tz_localize("America/New_York").tz_convert("UTC")
    row = frame.set_index("timestamp").loc[empty]
    assert (row["rentals"], row["casual"], row["registered"]) == (0, 0, 0)


def test_legacy_month_across_fall_back(services, tmp_path):
    frame = cbs.fetch(params(services, tmp_path, "2018-11-30T23:00:00-05:00", start="2018-11"))
    assert len(frame) == 721  # November 2018 in DC: 30 days plus the repeated hour
    local = cbfake.expected_local_counts(NOV18)
    repeated = sum(n for (hour, _), n in local.items() if hour == cbfake.FALL_BACK_HOUR)
    by_hour = frame.set_index("timestamp")["rentals"]
    first, second = by_hour["2018-11-04T05:00Z"], by_hour["2018-11-04T06:00Z"]
    assert repeated == 7  # 4 trips in the EDT hour + 3 in the EST one, one wall-clock hour
    assert (first, second) == (4, 3)
    assert by_hour.sum() == sum(local.values())


def test_window_stops_at_as_of(services, tmp_path):
    frame = cbs.fetch(params(services, tmp_path, "2024-04-10T12:30:00Z"))
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-04-10T12:00Z")
    assert not any("202405" in r for r in services.requests)


def test_month_not_published_ends_the_window(services, tmp_path):
    frame = cbs.fetch(params(services, tmp_path, "2024-06-15T00:00:00Z"))
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-05-01T03:00Z")  # end of April, DC
    assert [r for r in services.requests if r.startswith("/trips/")] == [
        f"/trips/{MARCH}",
        f"/trips/{APRIL}",
        "/trips/202405-capitalbikeshare-tripdata.zip",
    ]


def short_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bikecast.data.sources" and r.levelno == logging.WARNING
    ]


def test_a_month_missing_mid_window_is_a_warning_at_ingest(services, tmp_path, caplog):
    del services.files[APRIL]  # March is there, April not (yet): the window ends with March
    with caplog.at_level(logging.WARNING, logger="bikecast.data.sources"):
        frame = load_source(params(services, tmp_path, "2024-04-30T23:00:00-04:00"))
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-04-01T03:00Z")
    (message,) = short_warnings(caplog)
    assert message.startswith(
        "capital_bikeshare: the rows end at 2024-04-01T03:00Z, 720 h (30.0 days) before "
        "ingest.as_of 2024-04-30T23:00:00-04:00; 202404-capitalbikeshare-tripdata.zip is not "
        f"published at {services.trips_url} (HTTP 404), which ends the window"
    )
    assert "\n" not in message


def test_weather_archive_ending_early_is_a_warning_naming_it(services, tmp_path, caplog):
    services.weather_until = "2024-03-28T17:00"
    with caplog.at_level(logging.WARNING, logger="bikecast.data.sources"):
        load_source(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    (message,) = short_warnings(caplog)
    assert "the rows end at 2024-03-28T17:00Z, 82 h (3.4 days) before ingest.as_of" in message
    assert "the weather archive ends there" in message


def test_rows_up_to_a_day_short_of_as_of_are_no_warning(services, tmp_path, caplog):
    services.weather_until = "2024-03-31T05:00"  # 22 h before as_of: the archive's usual lag
    with caplog.at_level(logging.WARNING, logger="bikecast.data.sources"):
        load_source(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert short_warnings(caplog) == []


def test_first_month_not_published_is_an_error(services, tmp_path):
    with pytest.raises(DataError, match=r"/trips/202301-capitalbikeshare-tripdata.zip: not pub"):
        cbs.fetch(params(services, tmp_path, "2023-01-31T00:00:00Z", start="2023-01"))


def test_as_of_before_start_is_an_error(services, tmp_path):
    with pytest.raises(DataError, match=r"before capital_bikeshare\.start 2024-03"):
        cbs.fetch(params(services, tmp_path, "2024-02-01T00:00:00Z"))
    assert services.requests == []


def test_rerun_with_same_as_of_reads_the_cache_and_writes_the_same_bytes(
    services, tmp_path, monkeypatch
):
    from bikecast import paths
    from bikecast.stages import ingest

    class P:  # the stage needs only .ingest and .grain
        grain = "city"
        ingest = params(services, tmp_path, "2024-04-30T23:00:00-04:00")

    monkeypatch.chdir(tmp_path)
    ingest.run(P)
    first = (tmp_path / paths.RAW).read_bytes()
    seen = len(services.requests)
    assert seen == 4  # two zips, two months of weather
    ingest.run(P)
    assert len(services.requests) == seen  # nothing downloaded again
    assert (tmp_path / paths.RAW).read_bytes() == first


def test_environment_overrides_the_urls(services, tmp_path, monkeypatch):
    monkeypatch.setenv(cbs.ENV_TRIPS_URL, services.trips_url)
    monkeypatch.setenv(cbs.ENV_WEATHER_URL, services.weather_url)
    p = params(services, tmp_path, "2024-03-31T23:00:00-04:00")
    p = p.model_copy(
        update={
            "capital_bikeshare": p.capital_bikeshare.model_copy(
                update={
                    "trips_url": "http://127.0.0.1:9/none",
                    "weather_url": "http://127.0.0.1:9/",
                }
            )
        }
    )
    assert len(cbs.fetch(p)) == 743


# --------------------------------------------------------------------------- failures


def test_server_failing_twice_then_answering_is_retried(services, tmp_path):
    services.fail_first[f"/trips/{MARCH}"] = [503, 500]
    services.fail_first["/v1/archive"] = [502]
    frame = cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert len(frame) == 743
    assert services.requests.count(f"/trips/{MARCH}") == 3


def test_backoff_doubles_between_attempts(services, tmp_path):
    delays: list[float] = []
    services.fail_first[f"/trips/{MARCH}"] = [503, 503, 503]
    http = Http(timeout_s=5, retries=3, backoff_s=0.5, sleep=delays.append)
    assert http.download(f"{services.trips_url}/{MARCH}", tmp_path / "m.zip", lambda p: None)
    assert delays == [0.5, 1.0, 2.0]


def test_timeouts_are_retried_and_named(tmp_path):
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/trips/x.zip"
        http = Http(timeout_s=0.2, retries=1, backoff_s=0, sleep=lambda s: None)
        with pytest.raises(DownloadError, match=r"x\.zip: giving up after 2 attempts.*timed out"):
            http.download(url, tmp_path / "x.zip", lambda p: None)
    assert not (tmp_path / "x.zip").exists()


def test_client_errors_other_than_404_fail_at_once(services, tmp_path):
    services.fail_first[f"/trips/{MARCH}"] = [403]
    with pytest.raises(DownloadError, match=rf"{MARCH}: HTTP 403"):
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert services.requests.count(f"/trips/{MARCH}") == 1


def test_server_that_keeps_failing_leaves_cache_and_raw_data_whole(services, tmp_path, monkeypatch):
    # A first good run fills the cache and data/raw for March.
    from bikecast.config import load_params
    from bikecast.stages import ingest

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(
        params_yaml(services, repo / "cache", "2024-03-31T23:00:00-04:00")
    )
    monkeypatch.chdir(repo)
    ingest.run(load_params("params.yaml"))
    raw = repo / "data" / "raw" / "hourly.parquet"
    before_raw, before_cache = raw.read_bytes(), tree_digest(repo / "cache")

    # April is now asked for, but its server keeps answering 503.
    services.always_fail.add(f"/trips/{APRIL}")
    (repo / "params.yaml").write_text(
        params_yaml(services, repo / "cache", "2024-04-30T23:00:00-04:00")
    )
    proc = run_bikecast(["ingest"], repo, check=False)
    assert proc.returncode == 1
    assert f"error: {services.trips_url}/{APRIL}: giving up after 3 attempts" in proc.stderr
    assert "HTTP 503" in proc.stderr
    assert raw.read_bytes() == before_raw
    assert tree_digest(repo / "cache") == before_cache
    assert services.requests.count(f"/trips/{APRIL}") == 3


def test_weather_errors_name_the_endpoint_and_days_not_the_query(services, tmp_path):
    march = f"{services.weather_url} (2024-03-01..2024-04-01)"
    services.fail_first["/v1/archive"] = [400]
    with pytest.raises(DownloadError) as err:
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert str(err.value) == f"{march}: HTTP 400: Bad Request"

    services.always_fail.add("/v1/archive")
    with pytest.raises(DownloadError) as err:
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert str(err.value) == (
        f"{march}: giving up after 3 attempts; last error: HTTP 503 Service Unavailable"
    )


def test_a_weather_host_that_refuses_is_named_without_the_query(services, tmp_path):
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/archive"
    p = params(services, tmp_path, "2024-03-31T23:00:00-04:00", weather_url=url)
    with pytest.raises(DownloadError) as err:
        cbs.fetch(p)
    message = str(err.value)
    assert message.startswith(f"{url} (2024-03-01..2024-04-01): giving up after 3 attempts")
    assert "connection failed" in message
    assert "?" not in message and "latitude" not in message and "\n" not in message


def test_urls_in_messages_lose_their_query_and_credentials():
    from bikecast.data.sources.http import one_line, shown_url

    assert shown_url("https://u:secret@archive.example/v1/archive?apikey=k&x=1") == (
        "https://archive.example/v1/archive"
    )
    assert shown_url("http://127.0.0.1:8080/a?b=c") == "http://127.0.0.1:8080/a"
    text = "Max retries exceeded with url: /v1/archive?latitude=38.9&hourly=a,b (Caused by\nX)"
    assert one_line(text) == "Max retries exceeded with url: /v1/archive (Caused by X)"
    assert one_line("Did you mean 2024?") == "Did you mean 2024?"


def test_truncated_zip_is_rejected_and_not_cached(services, tmp_path):
    whole = services.files[MARCH]
    services.files[MARCH] = whole[: len(whole) // 2]
    with pytest.raises(DataError, match=rf"/trips/{MARCH}: not a valid zip file, truncated"):
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert list((tmp_path / "cache").rglob("*")) in ([], [tmp_path / "cache" / "trips"])


def test_zip_with_corrupt_data_fails_its_crc_check(services, tmp_path):
    data = bytearray(cbfake.zip_bytes({"a.csv": "x" * 5000}))
    data[60] ^= 0xFF  # inside the compressed stream: the directory is intact
    services.files[MARCH] = bytes(data)
    with pytest.raises(DataError, match=rf"{MARCH}.*(CRC|corrupt|truncated)"):
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    assert not (tmp_path / "cache" / "trips" / MARCH).exists()


def test_zip_with_unknown_layout_is_rejected_and_not_cached(services, tmp_path):
    divvy_2019 = (
        "trip_id,start_time,end_time,bikeid,tripduration,usertype\n1,2019-03-01,x,1,60,Customer\n"
    )
    services.files[MARCH] = cbfake.zip_bytes({"202403-capitalbikeshare-tripdata.csv": divvy_2019})
    with pytest.raises(DataError, match=rf"{MARCH} \(202403-capital.*\.csv\): unknown trip layout"):
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    with pytest.raises(DataError) as err:
        cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    message = str(err.value).split(".csv): ", 1)[1]  # after the URL and the member's name
    assert "\n" not in message and len(message) < 200, message
    assert not (tmp_path / "cache" / "trips" / MARCH).exists()


def test_macos_metadata_in_a_zip_is_ignored(tmp_path):
    with zipfile.ZipFile(FIXTURES / APRIL) as zf:
        text = zf.read(zf.namelist()[0]).decode()
    path = tmp_path / APRIL
    path.write_bytes(
        cbfake.zip_bytes({"202404.csv": text, "__MACOSX/._202404.csv": "\x00\x05junk"})
    )
    cbs.verify_trips_zip(path, str(path))
    assert cbs.count_trips(path).equals(cbs.count_trips(FIXTURES / APRIL))


# --------------------------------------------------------------------------- weather


def test_weather_with_nulls(services, tmp_path):
    services.null_hours = frozenset(
        ["2024-03-12T10:00", "2024-03-12T11:00"]  # short gap: interpolated
        + [f"2024-03-20T{h:02d}:00" for h in range(5)]  # 5 h: left for validate
    )
    services.weather_until = "2024-03-28T17:00"  # archive lag: the window ends here
    frame = cbs.fetch(params(services, tmp_path, "2024-03-31T23:00:00-04:00"))
    by_hour = frame.set_index("timestamp")
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-03-28T17:00Z")
    full = cbfake.archive_payload("2024-03-12", "2024-03-12")["hourly"]
    t9, t12 = full["temperature_2m"][9], full["temperature_2m"][12]
    assert by_hour.loc["2024-03-12T10:00Z", "temp_c"] == pytest.approx(t9 + (t12 - t9) / 3)
    assert by_hour.loc["2024-03-12T11:00Z", "weather"] in {
        "clear",
        "mist",
        "light_precip",
        "heavy_precip",
    }
    gap = by_hour.loc["2024-03-20T00:00Z":"2024-03-20T04:00Z"]
    assert gap["temp_c"].isna().all() and gap["weather"].isna().all()
    result = validate_frame(frame)
    assert result.report["quarantined_rows"] == 5
    assert (
        result.quarantine["reason"]
        == "weather gap: temp_c, feels_like_c, humidity_pct, wind_kmh missing"
    ).all()


def test_wmo_codes_map_onto_four_categories():
    codes = pd.Series(
        [
            0,
            1,
            2,
            3,
            45,
            48,
            51,
            57,
            61,
            63,
            65,
            66,
            71,
            73,
            75,
            77,
            80,
            81,
            82,
            85,
            86,
            95,
            96,
            99,
            np.nan,
        ]
    )
    labels = wx.weather_labels(codes, "u").tolist()
    assert labels[:6] == ["clear"] * 3 + ["mist"] * 3
    assert labels[6:10] == ["light_precip"] * 4
    assert labels[10:12] == ["heavy_precip"] * 2
    assert labels[12:16] == ["light_precip", "light_precip", "heavy_precip", "light_precip"]
    assert labels[16:19] == ["light_precip", "light_precip", "heavy_precip"]
    assert labels[19:24] == [
        "light_precip",
        "heavy_precip",
        "light_precip",
        "heavy_precip",
        "heavy_precip",
    ]
    assert pd.isna(labels[24])
    with pytest.raises(DataError, match=r"u: unknown WMO weather codes \[4.0\]"):
        wx.weather_labels(pd.Series([0, 4]), "u")


def test_weather_response_shape_and_units_are_checked():
    good = cbfake.archive_payload("2024-03-01", "2024-03-01")
    assert len(wx.parse_archive(good, "u")) == 24
    bad_units = {**good, "hourly_units": {**good["hourly_units"], "wind_speed_10m": "m/s"}}
    with pytest.raises(DataError, match=r"u: wind_speed_10m is in 'm/s', expected 'km/h'"):
        wx.parse_archive(bad_units, "u")
    short = {**good, "hourly": {**good["hourly"], "weather_code": [0]}}
    with pytest.raises(DataError, match="hourly arrays differ in length"):
        wx.parse_archive(short, "u")
    with pytest.raises(DataError, match=r"u: hourly lacks \['apparent_temperature'\]"):
        hourly = {k: v for k, v in good["hourly"].items() if k != "apparent_temperature"}
        wx.parse_archive({"hourly": hourly}, "u")
    with pytest.raises(DataError, match="not in GMT"):
        wx.parse_archive({**good, "utc_offset_seconds": -18000}, "u")


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from bikecast.data.sources import http

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert http._progress(10, "f").disable
    monkeypatch.setattr(sys, "stderr", Tty())
    bar = http._progress(10, "f")
    assert not bar.disable
    bar.close()


# --------------------------------------------------------------------------- helpers


def params_yaml(services, cache: Path, as_of: str) -> str:
    return f"""ingest:
  source: capital_bikeshare
  as_of: "{as_of}"
  capital_bikeshare:
    trips_url: {services.trips_url}
    weather_url: {services.weather_url}
    cache_dir: {cache}
    start: "2024-03"
    retries: 2
    backoff_s: 0
"""


def run_bikecast(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "bikecast.cli", *args], cwd=cwd, capture_output=True, text=True
    )
    if check and proc.returncode:
        raise AssertionError(f"bikecast {args} exited {proc.returncode}: {proc.stderr}")
    return proc
