"""`bikecast monitor` without a server: logs written by the API's own writer, scored against
the rentals a source publishes, and the decision each signal leads to."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SEED
from tests.fixtures.capital_bikeshare import cbfake

from bikecast.config import MonitorParams, load_params
from bikecast.data.schema import read_canonical
from bikecast.monitor.decision import decide
from bikecast.monitor.run import run
from bikecast.monitor.scoring import join_actuals, score
from bikecast.prediction_log.destinations import LocalDestination
from bikecast.prediction_log.reader import read_window
from bikecast.prediction_log.records import Chunk
from bikecast.prediction_log.writer import PredictionLog
from bikecast.serve.schemas import Record

REQUESTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC).timestamp()
WEATHER = {"temp_c": 10.0, "feels_like_c": 8.0, "humidity_pct": 60.0, "wind_kmh": 9.0}


def log_forecasts(root, hours: pd.DatetimeIndex, predictions, version="v1", when=REQUESTED):
    """What the API logs for these hours (one request per 24), through its own writer."""
    writer = PredictionLog(LocalDestination(root))
    stamps = list(hours)
    for i in range(0, len(stamps), 24):
        records = [
            Record.model_validate({"timestamp": ts.isoformat(), "weather": "clear", **WEATHER})
            for ts in stamps[i : i + 24]
        ]
        chunk = Chunk(when, version, records, np.asarray(predictions[i : i + 24]))
        writer.record(chunk)
    assert writer.flush()


def seed_hours(start: str, hours: int) -> pd.DataFrame:
    frame = read_canonical(SEED)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    first = pd.Timestamp(start, tz="UTC")
    return frame[
        (frame["timestamp"] >= first) & (frame["timestamp"] < first + pd.Timedelta(hours=hours))
    ]


def monitor_offline(tmp_path, params=None, evaluate=None, now=None):
    """`monitor` on tmp_path/log: with the seed replayed unless `params` say otherwise, no
    drift reference, and `evaluate` (the test metrics) when given."""
    if params is None:
        params = load_params()
        params = params.model_copy(
            update={"ingest": params.ingest.model_copy(update={"path": str(SEED)})}
        )
    return run(
        params,
        str(tmp_path / "log"),
        until=date(2026, 12, 1),
        now=now or datetime(2026, 12, 1, 12, tzinfo=UTC),
        reference_path=tmp_path / "absent.parquet",
        evaluate_path=evaluate or tmp_path / "absent.json",
    )


def test_logged_forecasts_are_scored_against_the_seeds_rentals(tmp_path):
    truth = seed_hours("2011-11-01T04:00", 96)  # midnight in DC (EDT)
    predictions = (truth["rentals"].to_numpy(dtype=float) * 1.2).round(1)  # 20% over, every hour
    log_forecasts(tmp_path / "log", pd.DatetimeIndex(truth["timestamp"]), predictions)
    evaluate = tmp_path / "evaluate.json"
    evaluate.write_text(json.dumps({"model_version": "v1", "model": {"rmsle": 0.1}}))
    result = monitor_offline(tmp_path, evaluate=evaluate)
    summary = result.summary
    errors = summary["errors"]
    assert (errors["forecasts"], errors["scored"], errors["pending"]) == (96, 96, 0)
    actual = truth["rentals"].to_numpy(dtype=float)
    expected_bias = float(np.mean(predictions - actual))
    assert errors["overall"]["bias"] == pytest.approx(expected_bias, abs=1e-3)
    rmsle = float(np.sqrt(np.mean((np.log1p(predictions) - np.log1p(actual)) ** 2)))
    assert errors["by_model_version"]["v1"]["rmsle"] == pytest.approx(rmsle, abs=1e-4)
    assert sorted(errors["by_day"]) == ["2011-11-01", "2011-11-02", "2011-11-03", "2011-11-04"]
    # 20% over everywhere is an RMSLE near 0.17: above 1.5x the test RMSLE of 0.1
    assert summary["retrain_recommended"] is True
    assert "live RMSLE of v1" in summary["reasons"][0] and "1.5" in summary["reasons"][0]
    assert "no training data to compare with" in summary["drift_skipped"]
    assert "Retrain recommended" in result.markdown.splitlines()[0]


def test_hours_the_source_does_not_have_yet_are_pending_not_errors(tmp_path):
    truth = seed_hours("2012-01-01T00:00", 12)  # the seed ends at 2012-01-01T04:00Z
    hours = pd.date_range("2012-01-01T00:00", periods=12, freq="h", tz="UTC")
    log_forecasts(tmp_path / "log", hours, np.full(12, 50.0))
    summary = monitor_offline(tmp_path).summary
    assert len(truth) == 5
    assert (summary["errors"]["scored"], summary["errors"]["pending"]) == (5, 7)
    assert summary["retrain_recommended"] is False
    assert any("metrics/evaluate.json absent" in note for note in summary["notes"])


def test_the_live_source_publishes_the_truth_and_monitor_scores_against_it(tmp_path):
    """Forecasts of April 2024, scored against the trip history in its real format, fetched
    from the source's URLs (faked on 127.0.0.1) as `ingest` would."""
    april = "202404-capitalbikeshare-tripdata.zip"
    oracle = cbfake.expected_local_counts(april)
    local = pd.date_range("2024-04-01", "2024-04-30 23:00", freq="h", tz="America/New_York")
    counts = np.array(
        [sum(oracle.get((ts.to_pydatetime().replace(tzinfo=None), k), 0)
             for k in ("casual", "registered")) for ts in local]
    )  # fmt: skip
    log_forecasts(tmp_path / "log", local.tz_convert("UTC"), counts + 1.0)
    with cbfake.FakeServices(files=cbfake.committed_zips()) as services:
        params = load_params()
        live = params.ingest.capital_bikeshare.model_copy(
            update={
                "trips_url": services.trips_url,
                "weather_url": services.weather_url,
                "cache_dir": str(tmp_path / "cache"),
                "backoff_s": 0.0,
            }
        )
        ingest = params.ingest.model_copy(
            update={"source": "capital_bikeshare", "as_of": "2024-03-31T23:00:00-04:00",
                    "capital_bikeshare": live}
        )  # fmt: skip
        summary = monitor_offline(tmp_path, params.model_copy(update={"ingest": ingest})).summary
        assert services.requests.count(f"/trips/{april}") == 1
        assert all("202403" not in r for r in services.requests)  # only the window's months
    errors = summary["errors"]
    assert (errors["scored"], errors["pending"]) == (len(local), 0)
    assert errors["overall"]["bias"] == pytest.approx(1.0) and errors["overall"]["mae"] == 1.0


def test_a_corrupt_file_is_skipped_and_named_and_retried_lines_count_once(tmp_path):
    root = tmp_path / "log"
    hours = pd.date_range("2011-11-01T05:00", periods=24, freq="h", tz="UTC")
    log_forecasts(root, hours, np.arange(24.0))
    dest = LocalDestination(root)
    (key,) = dest.list_keys()
    dest.put(key.replace(".jsonl.gz", "-retry.jsonl.gz"), dest.get(key))  # written twice
    dest.put(key.replace(".jsonl.gz", "-bad.jsonl.gz"), b"not gzip")
    dest.put(key.replace(".jsonl.gz", "-cut.jsonl.gz"), gzip.compress(b'{"request_id": "x"')[:-4])
    window = read_window(dest, date(2026, 12, 1), date(2026, 12, 1))
    assert len(window.frame) == 24 and window.duplicates == 24 and window.files == 2
    assert sorted(k.rsplit("-", 1)[1] for k in window.unreadable) == [
        "bad.jsonl.gz",
        "cut.jsonl.gz",
    ]
    assert read_window(dest, date(2026, 12, 2), date(2026, 12, 8)).frame.empty  # other days


def test_station_forecasts_join_on_hour_and_station():
    hour = pd.Timestamp("2024-04-01T12:00", tz="UTC")
    logged = pd.DataFrame(
        {"forecast_hour": [hour] * 3, "station_id": ["a", "b", "c"], "prediction": [1.0, 2.0, 3.0],
         "model_version": "v", "outside_training_range": [()] * 3}
    )  # fmt: skip
    actuals = pd.DataFrame({"timestamp": [hour, hour], "station_id": ["a", "b"], "rentals": [1, 4]})
    scored = score(join_actuals(logged, actuals, station=True), station=True)
    assert (scored["scored"], scored["pending"]) == (2, 1)
    assert scored["by_station"]["a"]["mae"] == 0 and scored["by_station"]["b"]["bias"] == -2


def summary_with(rmsle: float, n: int, share: float = 0.0, drift: dict | None = None) -> dict:
    return {
        "baseline": {"model_version": "v", "test_rmsle": 0.4},
        "errors": {"by_model_version": {"v": {"n": n, "rmsle": rmsle}}},
        "out_of_range": {"share": share, "by_input": {"temp_c": 3}},
        "drift": drift,
        "drift_skipped": "too few hours",
    }


@pytest.mark.parametrize(
    ("summary", "recommended", "says"),
    [
        (summary_with(0.58, 100), False, "1.45x its test RMSLE 0.4 (within 1.5x)"),
        (summary_with(0.61, 100), True, "1.52x its test RMSLE 0.4 (> monitor.max_rmsle_ratio"),
        (summary_with(2.0, 47), False, "only 47 scored forecasts of v"),
        (summary_with(0.4, 100, share=0.06), True, "6.0% of forecasts had inputs outside"),
        (summary_with(0.4, 100, drift={"retrain_recommended": True, "reason": "demand moved"}),
         True, "live inputs drifted: demand moved"),
    ],
)  # fmt: skip
def test_each_signal_decides_with_its_reason(summary, recommended, says):
    got, reasons, notes = decide(summary, MonitorParams())
    assert got is recommended
    assert any(says in line for line in reasons + notes), reasons + notes


def test_an_empty_window_is_reported_not_an_error(tmp_path):
    (tmp_path / "log").mkdir()
    result = monitor_offline(tmp_path)
    summary = result.summary
    assert summary["retrain_recommended"] is False and summary["errors"]["forecasts"] == 0
    assert summary["notes"][0].startswith("no forecasts logged in")
    assert "0 distinct scored hours" in summary["drift_skipped"]
    assert "No retrain needed" in result.markdown
