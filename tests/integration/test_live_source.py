"""`ingest.source: capital_bikeshare` end to end through the real `dvc repro`, then
`bikecast advance` moving the window, against both services faked on 127.0.0.1."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.conftest import copy_repo, run, set_params
from tests.fixtures.capital_bikeshare import cbfake

APRIL = "/trips/202404-capitalbikeshare-tripdata.zip"
MARCH = "/trips/202403-capitalbikeshare-tripdata.zip"


@pytest.mark.slow
def test_live_source_through_dvc_repro_and_advance(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    with cbfake.FakeServices(files=cbfake.committed_zips()) as services:
        set_params(
            repo,
            {
                "source": "capital_bikeshare",
                "as_of": '"2024-03-31T23:00:00-04:00"',
                "trips_url": services.trips_url,
                "weather_url": services.weather_url,
                "start": '"2024-03"',
                "backoff_s": "0",
                "test_days": "7",  # one month of fixture data: a short test window...
                "valid_days": "5",  # ...and a short early-stopping window
                "n_estimators": "100",
            },
        )

        run(["dvc", "repro", "evaluate"], repo)  # drift (Evidently, slow) is not source-specific
        raw = pd.read_parquet(repo / "data" / "raw" / "hourly.parquet")
        assert len(raw) == 743  # March 2024 in DC
        assert raw["rentals"].sum() == sum(cbfake.expected_local_counts(MARCH[7:]).values())
        report = json.loads((repo / "metrics" / "validate.json").read_text())
        assert (report["quarantined_rows"], report["missing_hours"]) == (0, 0)
        metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
        assert metrics["test_window"]["rows"] == 7 * 24
        assert (repo / ".cache" / "capital_bikeshare" / "trips" / MARCH[7:]).exists()

        moved = run(["bikecast", "advance"], repo)
        assert "new window: 2024-03-01T00:00:00-05:00 .. 2024-04-30T23:00:00-04:00" in moved.stdout
        status = run(["dvc", "status", "ingest"], repo).stdout
        assert "ingest.as_of" in status

        run(["dvc", "repro", "ingest"], repo)
        raw = pd.read_parquet(repo / "data" / "raw" / "hourly.parquet")
        assert len(raw) == 743 + 720
        assert services.requests.count(MARCH) == 1  # the second ingest read it from the cache
        assert services.requests.count(APRIL) == 1  # fetched by advance, reused by ingest

        settled = (repo / "params.yaml").read_bytes()
        nothing = run(["bikecast", "advance"], repo, check=False)
        assert nothing.returncode == 3, nothing.stderr
        assert (repo / "params.yaml").read_bytes() == settled
