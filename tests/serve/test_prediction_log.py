"""The prediction log in the API's process: what a line holds, when files are written, and
that a destination that is down or a full buffer never costs a request or an acknowledged
record. Files go to real directories; "down" is a directory that cannot be created."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from tests.serve.test_app import RECORD, settings_for, tiny_model  # noqa: F401

from bikecast.prediction_log.destinations import LocalDestination, destination
from bikecast.prediction_log.records import FIELDS, Chunk, decode, render
from bikecast.prediction_log.writer import LogMetrics, PredictionLog
from bikecast.serve import create_app
from bikecast.serve.routes import INLINE_MAX_RECORDS
from bikecast.serve.schemas import Record


def chunk(n: int, when: float = 1_764_000_000.0, version: str = "v1") -> Chunk:
    records = [Record.model_validate(RECORD | {"temp_c": float(i % 40)}) for i in range(n)]
    return Chunk(when, version, records, np.arange(n, dtype="float64"), {"temp_c": (0, 30)})


def read_all(root: Path) -> list[dict]:
    local = LocalDestination(root)
    return [line for key in local.list_keys() for line in decode(local.get(key))]


def test_a_line_holds_the_request_the_forecast_and_the_range_check(tmp_path):
    writer = PredictionLog(LocalDestination(tmp_path), batch_records=10**6)
    writer.record(chunk(35))
    assert writer.flush()
    keys = LocalDestination(tmp_path).list_keys()
    assert len(keys) == 1 and keys[0].startswith("date=2025-11-24/model_version=v1/")
    assert keys[0].endswith(".jsonl.gz")
    lines = read_all(tmp_path)
    assert len(lines) == 35 and all(tuple(line) == FIELDS for line in lines)
    first = lines[0]
    assert first["forecast_hour"] == "2011-12-05T13:00:00Z"
    assert first["timestamp"] == "2011-12-05T08:00:00-05:00"  # as the client sent it
    assert first["request_time"] == "2025-11-24T16:00:00.000Z"
    assert [line["prediction"] for line in lines] == list(range(35))
    assert lines[31]["outside_training_range"] == ["temp_c"]  # 31 °C > the range's 30
    assert lines[30]["outside_training_range"] == []
    assert len({line["request_id"] for line in lines}) == 1


def test_each_line_is_the_record_as_json_would_write_it():
    """render() formats a whole chunk at once; each line must still be what json.dumps makes
    of that record alone (any offset, microseconds, quotes in a station id, range edges)."""
    sent = [
        RECORD | {"timestamp": "2011-03-13T02:30:00.250000-05:00", "temp_c": -0.5},
        RECORD | {"timestamp": "2024-07-01T09:00:00+05:30", "wind_kmh": 40.0, "temp_c": 31.0},
        RECORD | {"timestamp": "2024-11-03T05:59:59Z", "humidity_pct": 0.0, "station_id": 'a"b/ü'},
        RECORD | {"timestamp": "2099-12-31T20:00:00-01:00", "temp_c": 30.0, "wind_kmh": 12.5},
    ]
    records = [Record.model_validate(r) for r in sent]
    ranges = {"temp_c": (0.0, 30.0), "wind_kmh": (0.0, 35.0)}
    predictions = np.array([0.0004, 1234.56789, 2.0005, 17.0])
    got = [
        json.loads(line)
        for line in render(Chunk(1.7e9, "v2", records, predictions, ranges)).splitlines()
    ]
    for line, record, prediction in zip(got, records, predictions.tolist(), strict=True):
        hour = record.timestamp.astimezone(UTC)
        assert line == {
            "request_id": line["request_id"], "request_time": "2023-11-14T22:13:20.000Z",
            "model_version": "v2", "forecast_hour": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timestamp": record.timestamp.isoformat(), "temp_c": record.temp_c,
            "feels_like_c": record.feels_like_c, "humidity_pct": record.humidity_pct,
            "wind_kmh": record.wind_kmh, "weather": record.weather, "station_id": record.station_id,
            "prediction": round(prediction, 3),
            "outside_training_range": [
                name for name, (low, high) in ranges.items()
                if not low <= getattr(record, name) <= high
            ],
        }  # fmt: skip
    assert [line["outside_training_range"] for line in got] == [
        ["temp_c"],
        ["temp_c", "wind_kmh"],
        [],
        [],
    ]


def test_a_file_per_day_and_model_version(tmp_path):
    writer = PredictionLog(LocalDestination(tmp_path))
    for when, version in [(0.0, "a"), (86_400.0, "a"), (86_400.0, "b"), (86_401.0, "b")]:
        writer.record(chunk(2, when, version))
    writer.flush()
    parts = sorted(k.rsplit("/", 1)[0] for k in LocalDestination(tmp_path).list_keys())
    assert parts == [
        "date=1970-01-01/model_version=a",
        "date=1970-01-02/model_version=a",
        "date=1970-01-02/model_version=b",
    ]


def test_the_thread_writes_by_size_and_by_time(tmp_path):
    by_size = PredictionLog(LocalDestination(tmp_path / "size"), batch_records=10, interval_s=60)
    by_time = PredictionLog(
        LocalDestination(tmp_path / "time"), batch_records=10**6, interval_s=0.2
    )
    for writer in (by_size, by_time):
        writer.start()
        writer.record(chunk(4))
    by_size.record(chunk(6))  # 10 buffered: written now, not in a minute
    deadline = time.monotonic() + 10
    while (by_size.written, by_time.written) != (10, 4) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (by_size.written, by_time.written) == (10, 4)
    for writer in (by_size, by_time):
        assert writer.close() == 0


def test_a_destination_that_is_down_is_retried_and_loses_nothing(tmp_path, caplog):
    blocker = tmp_path / "log"
    blocker.write_text("a file where the log directory should be")  # mkdir fails: "down"
    writer = PredictionLog(LocalDestination(blocker), retry_s=(0.05, 0.2), interval_s=0.05)
    writer.start()
    with caplog.at_level(logging.WARNING, "bikecast.prediction_log.writer"):
        writer.record(chunk(5))
        time.sleep(0.5)
        writer.record(chunk(3))
        assert writer.written == 0 and writer.buffered == 8
        assert "will retry" in caplog.text and str(blocker) in caplog.text
        blocker.unlink()  # the destination is back
        deadline = time.monotonic() + 10
        while writer.written < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert writer.close() == 0
    assert sorted(line["prediction"] for line in read_all(blocker)) == [0, 0, 1, 1, 2, 2, 3, 4]


def test_a_full_buffer_drops_the_oldest_and_counts_them(tmp_path):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    blocker = tmp_path / "down"
    blocker.write_text("")
    writer = PredictionLog(LocalDestination(blocker), max_buffer=10, metrics=LogMetrics(registry))
    for when in range(5):
        writer.record(chunk(4, when=float(when)))  # 20 forecasts into room for 10
    assert (writer.buffered, writer.dropped) == (8, 12)
    assert not writer.flush()  # still down: the batch goes back, nothing more is dropped
    assert (writer.buffered, writer.dropped) == (8, 12)
    value = registry.get_sample_value
    assert value("bikecast_prediction_log_records_total", {"outcome": "dropped"}) == 12
    assert value("bikecast_prediction_log_buffered") == 8
    assert value("bikecast_prediction_log_write_errors_total") == 1
    blocker.unlink()
    assert writer.flush()
    kept = sorted({line["request_time"] for line in read_all(blocker)})
    assert kept == ["1970-01-01T00:00:03.000Z", "1970-01-01T00:00:04.000Z"]  # the newest
    assert value("bikecast_prediction_log_records_total", {"outcome": "written"}) == 8


def test_a_request_the_log_cannot_render_is_dropped_and_counted_not_raised(tmp_path, caplog):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    writer = PredictionLog(LocalDestination(tmp_path), metrics=LogMetrics(registry))
    broken = Chunk(0.0, "v1", [object(), object()], np.zeros(2))  # records without fields
    with caplog.at_level(logging.ERROR):
        writer.record(chunk(3))
        writer.record(broken)  # queued as it is: the thread (here, flush) renders it
        writer.record(chunk(1))
        assert writer.buffered == 6
        assert writer.flush()
    assert (writer.buffered, writer.dropped, writer.written) == (0, 2, 4)
    value = registry.get_sample_value
    assert value("bikecast_prediction_log_records_total", {"outcome": "dropped"}) == 2
    assert value("bikecast_prediction_log_buffered") == 0
    assert "cannot render a request" in caplog.text
    assert len(read_all(tmp_path)) == 4  # the others' lines are written


def test_shutdown_with_the_destination_down_says_what_is_lost(tmp_path, caplog):
    blocker = tmp_path / "down"
    blocker.write_text("")
    writer = PredictionLog(LocalDestination(blocker), retry_s=(0.05, 0.05))
    writer.start()
    writer.record(chunk(7))
    with caplog.at_level(logging.ERROR):
        assert writer.close(timeout_s=0.3) == 7
    assert "7 forecasts not written" in caplog.text


def test_destination_urls():
    assert isinstance(destination("predictions"), LocalDestination)
    s3 = destination("s3://bucket/some/prefix/")
    assert (s3.bucket, s3.prefix, s3.url) == ("bucket", "some/prefix", "s3://bucket/some/prefix")


# --- in the API -------------------------------------------------------------------------


def test_the_api_logs_every_forecast_and_writes_them_at_shutdown(tiny_model, tmp_path):  # noqa: F811
    log_dir = tmp_path / "log"
    settings = settings_for(tiny_model, tmp_path, prediction_log=str(log_dir), max_batch=200)
    batch = [RECORD | {"temp_c": float(i % 40)} for i in range(INLINE_MAX_RECORDS + 36)]
    with TestClient(create_app(settings)) as client:
        for records in ([RECORD], [RECORD] * 3, batch):  # the batch is logged after its reply
            assert client.post("/predict", json={"records": records}).status_code == 200
        version = client.get("/model").json()["model_version"]
        assert not log_dir.exists()  # buffered: nothing written while requests wait
    lines = read_all(log_dir)
    assert len(lines) == 104 and {line["model_version"] for line in lines} == {version}
    assert len({line["request_id"] for line in lines}) == 3
    assert [line["temp_c"] for line in lines[4:]] == [r["temp_c"] for r in batch]  # in order


def test_the_api_answers_while_its_log_destination_is_down(tiny_model, tmp_path):  # noqa: F811
    blocker = tmp_path / "down"
    blocker.write_text("")
    settings = settings_for(
        tiny_model, tmp_path, prediction_log=str(blocker), prediction_log_batch=1
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(5):
            assert client.post("/predict", json={"records": [RECORD]}).status_code == 200
        metrics = client.get("/metrics").text
    assert 'bikecast_prediction_log_records_total{outcome="written"} 0.0' in metrics
    assert "bikecast_prediction_log_buffered" in metrics


def test_the_log_can_be_turned_off(tiny_model, tmp_path):  # noqa: F811
    settings = settings_for(tiny_model, tmp_path, prediction_log="off")
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", json={"records": [RECORD]}).status_code == 200
        assert "bikecast_prediction_log" not in client.get("/metrics").text
    assert json.dumps(settings.model_dump(mode="json"))  # still a plain settings object
