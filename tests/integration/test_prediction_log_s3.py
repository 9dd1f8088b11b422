"""The prediction log for real: `bikecast serve` on 127.0.0.1 writing to an S3 server (moto)
under concurrent load, the S3 server stopped mid-run and started again, then `bikecast
monitor` reading the bucket back and scoring it against the seed's rentals."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import run
from tests.e2e.harness.s3 import S3
from tests.integration.test_serve_live import (
    raw_records,
    start_server,
    stop_server,
    wait_ready,
)

from bikecast.prediction_log.records import decode

pytestmark = pytest.mark.slow

BUCKET, PREFIX = "bikecast-logs", "predictions"
AWS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
REQUESTS_PER_PHASE = 1000


def s3_client(s3: S3):
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
        region_name=AWS["AWS_DEFAULT_REGION"],
    )


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def load(url: str, records: list[dict], n: int, seed: int) -> list[tuple[int, list, list]]:
    """n requests of 1-4 records each, 8 at a time; (status, records sent, predictions)."""
    rng = random.Random(seed)
    bodies = [rng.sample(records, rng.randint(1, 4)) for _ in range(n)]

    def post(client: httpx.Client, body: list[dict]):
        response = client.post(f"{url}/predict", json={"records": body}, timeout=30)
        ok = response.status_code == 200
        return response.status_code, body, response.json()["predictions"] if ok else []

    with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda b: post(client, b), bodies))


def test_served_forecasts_reach_s3_through_an_outage_and_monitor_scores_them(
    pipeline_repo, tmp_path
):
    s3 = S3()  # stop() then start() reopens its port with the same buckets
    s3.start()
    s3_client(s3).create_bucket(Bucket=BUCKET)
    env = {
        **AWS,
        "AWS_ENDPOINT_URL_S3": s3.endpoint,
        "BIKECAST_PREDICTION_LOG": f"s3://{BUCKET}/{PREFIX}",
        "BIKECAST_PREDICTION_LOG_BATCH": "500",
        "BIKECAST_PREDICTION_LOG_INTERVAL_S": "1",
    }
    test = pd.read_parquet(pipeline_repo / "data/split/test.parquet")
    records = raw_records(pipeline_repo, test["timestamp"])
    proc, url = start_server(pipeline_repo, "--no-access-log", env=env)
    try:
        wait_ready(proc, url)
        answered = load(url, records, REQUESTS_PER_PHASE, seed=1)
        time.sleep(2)  # a flush by time
        acknowledged = metric(url, 'bikecast_prediction_log_records_total{outcome="written"}')
        s3.stop()  # the destination goes down mid-run
        answered += load(url, records, REQUESTS_PER_PHASE, seed=2)
        time.sleep(2)
        errors = metric(url, "bikecast_prediction_log_write_errors_total")
        s3.start()  # back
        answered += load(url, records, REQUESTS_PER_PHASE, seed=3)
    finally:
        output = stop_server(proc)  # SIGINT: uvicorn's shutdown writes what is buffered
    try:
        client = s3_client(s3)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        lines = [
            line
            for key in keys
            for line in decode(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        ]
        # monitor reads the bucket back and scores it against the seed (replay: all known)
        out, report = tmp_path / "monitor.json", tmp_path / "monitor.md"
        monitor = run(
            ["bikecast", "monitor", "--log", f"s3://{BUCKET}/{PREFIX}", "--out", str(out),
             "--report", str(report), "--drift-report", str(tmp_path / "drift.html")],
            pipeline_repo,
            env={**env, "GITHUB_OUTPUT": str(tmp_path / "gh")},
        )  # fmt: skip
    finally:
        s3.stop()

    # the API kept answering, and the log holds every forecast it answered, once
    assert [status for status, *_ in answered] == [200] * (3 * REQUESTS_PER_PHASE)
    sent = sum(len(body) for _, body, _ in answered)
    assert acknowledged > 0 and errors > 0, output  # written before the outage, refused in it
    unique = {json.dumps(line, sort_keys=True) for line in lines}
    assert len(unique) == sent, output
    assert all(k.startswith(f"{PREFIX}/date=") and "/model_version=" in k for k in keys)
    # what the clients got is what was logged, hour by hour
    served = sorted(
        (pd.Timestamp(r["timestamp"]).tz_convert("UTC").isoformat(), round(p, 3))
        for _, body, predictions in answered
        for r, p in zip(body, predictions, strict=True)
    )
    logged = sorted(
        (pd.Timestamp(line["forecast_hour"]).isoformat(), line["prediction"]) for line in lines
    )
    assert served == logged

    summary = json.loads(out.read_text())
    assert summary["errors"]["scored"] == sent and summary["errors"]["pending"] == 0
    interim = pd.read_parquet(pipeline_repo / "data/interim/hourly.parquet").set_index("timestamp")
    hours = pd.to_datetime([line["forecast_hour"] for line in lines], utc=True)
    actual = interim.loc[hours, "rentals"].to_numpy(dtype=float)
    predicted = np.array([line["prediction"] for line in lines])
    rmsle = float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(actual)) ** 2)))
    assert summary["errors"]["overall"]["rmsle"] == pytest.approx(rmsle, abs=1e-4)
    assert summary["drift"] is not None and (tmp_path / "drift.html").exists()
    assert "retrain_recommended=" in (tmp_path / "gh").read_text()
    assert monitor.stdout.startswith("## bikecast monitor:")


def test_monitor_scores_the_s3_log_against_the_live_sources_trip_history(pipeline_repo, tmp_path):
    """The same chain for the live source: a month of 2024 forecasts served and logged to S3,
    then `bikecast monitor` with `ingest.source: capital_bikeshare` fetching that month's
    trip history (the real zip layout, from cbfake on 127.0.0.1)."""
    import yaml
    from tests.fixtures.capital_bikeshare import cbfake

    april = pd.date_range("2024-04-01", "2024-04-30 23:00", freq="h", tz="America/New_York")
    oracle = cbfake.expected_local_counts("202404-capitalbikeshare-tripdata.zip")
    actual = np.array(
        [sum(oracle.get((ts.to_pydatetime().replace(tzinfo=None), k), 0)
             for k in ("casual", "registered")) for ts in april]
    )  # fmt: skip
    weather = {"temp_c": 15.0, "feels_like_c": 15.0, "humidity_pct": 60.0, "wind_kmh": 10.0}
    records = [{"timestamp": ts.isoformat(), "weather": "clear", **weather} for ts in april]
    bucket = "bikecast-logs-live"  # moto keeps the other test's bucket in this process
    s3 = S3()  # stop() then start() reopens its port with the same buckets
    s3.start()
    try:
        s3_client(s3).create_bucket(Bucket=bucket)
        env = {**AWS, "AWS_ENDPOINT_URL_S3": s3.endpoint,
               "BIKECAST_PREDICTION_LOG": f"s3://{bucket}/{PREFIX}"}  # fmt: skip
        proc, url = start_server(pipeline_repo, "--no-access-log", env=env)
        try:
            wait_ready(proc, url)
            bodies = [records[i : i + 24] for i in range(0, len(records), 24)]
            with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
                responses = list(
                    pool.map(lambda b: client.post(f"{url}/predict", json={"records": b}), bodies)
                )
        finally:
            stop_server(proc)
        served = np.array([p for r in responses for p in r.json()["predictions"]])
        params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
        with cbfake.FakeServices(files=cbfake.committed_zips()) as services:
            params["ingest"].update(source="capital_bikeshare", as_of="2024-03-31T23:00:00-04:00")
            params["ingest"]["capital_bikeshare"].update(
                trips_url=services.trips_url, weather_url=services.weather_url,
                cache_dir=str(tmp_path / "cache"), start="2024-03", backoff_s=0,
            )  # fmt: skip
            params["monitor"]["min_drift_hours"] = 10_000  # drift is the other test's
            (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
            out = tmp_path / "monitor.json"
            run(
                ["bikecast", "monitor", "--params", str(tmp_path / "params.yaml"),
                 "--out", str(out), "--report", str(tmp_path / "monitor.md"),
                 "--now", "2026-12-01T00:00:00Z"],
                pipeline_repo,
                env=env,
            )  # fmt: skip
    finally:
        s3.stop()
    errors = json.loads(out.read_text())["errors"]
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert (errors["scored"], errors["pending"]) == (len(april), 0)
    assert errors["overall"]["mae"] == pytest.approx(np.mean(np.abs(served - actual)), abs=1e-2)
    assert errors["overall"]["bias"] == pytest.approx(np.mean(served - actual), abs=1e-2)
    assert sorted(errors["by_day"])[0] == "2024-04-01" and len(errors["by_day"]) == 30
