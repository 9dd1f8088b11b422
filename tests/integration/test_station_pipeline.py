"""Station grain end to end: a multi-station canonical file through the real `dvc repro` on a
Dask LocalCluster of 2 workers, Dask training against local training on the same data, an
unreachable scheduler, and the live trip-history source at station grain."""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pytest
from tests.conftest import copy_repo, run, set_params
from tests.fixtures.capital_bikeshare import cbfake

from bikecast.ml.model import file_sha256, load_model, predict

STATIONS = 8
DAYS = 120
STATION_FILE = "data/seed/stations_test.csv.gz"


def read_json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def station_repo(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("stations") / "repo")
    run(
        ["bikecast", "synth-stations", "--out", STATION_FILE, "--stations", str(STATIONS),
         "--days", str(DAYS), "--seed", "3"],
        repo,
    )  # fmt: skip
    set_params(
        repo,
        {
            "grain": "station",
            "path": STATION_FILE,
            "engine": "dask",
            "n_workers": "2",
            "partition_rows": "5000",  # several partitions on each worker
            "n_estimators": "300",
        },
    )
    run(["dvc", "repro"], repo)
    return repo


@pytest.mark.slow
def test_station_grain_runs_through_dvc_repro_on_a_dask_cluster(station_repo):
    repo = station_repo
    validated = read_json(repo / "metrics/validate.json")
    assert validated["stations"] == STATIONS and validated["quarantined_rows"] == 0
    # Dask wrote the features and the train split as partitioned datasets
    assert len(list((repo / "data/features/features.parquet").glob("*.parquet"))) >= 2
    assert len(list((repo / "data/split/train.parquet").glob("*.parquet"))) >= 2

    booster, card = load_model(repo / "models/model.ubj", repo / "models/model.json")
    assert (card.grain, card.compute_engine) == ("station", "dask")
    stations = card.station_table
    assert len(stations.ids) == STATIONS
    # history_days + history_lag_days + test_days: the test window and the days after the end
    assert stations.rentals.shape[1] == 28 + 28 + 28

    metrics = read_json(repo / "metrics/evaluate.json")
    assert metrics["grain"] == "station"
    assert metrics["per_station"]["stations"] == STATIONS
    # one global model beats each station's own hour x working-day mean
    assert metrics["model"]["rmsle"] < metrics["baselines"]["hour_workingday_mean"]["rmsle"]
    aggregate = metrics["aggregate"]
    test = pd.read_parquet(repo / "data/split/test.parquet")
    assert aggregate["hours"] == test["timestamp"].nunique()
    assert set(aggregate) >= {"station_sum", "city_model", "skill"}
    # the synthetic stations add up to the real city series, hour by hour
    plotted = pd.read_csv(repo / "metrics/plots/predictions.csv")
    seed = pd.read_csv(repo / "data/seed/bikeshare_dc_2011.csv.gz")
    city = seed.set_index("timestamp")["rentals"]
    assert (plotted["actual"].to_numpy() == city.loc[plotted["timestamp"]].to_numpy()).all()
    assert "retrain_recommended" in read_json(repo / "metrics/drift.json")

    # the model serves every station for the day after the data end
    after = pd.Timestamp(card.data_window.as_of).tz_convert("UTC") + pd.Timedelta(hours=13)
    row = test.iloc[-1]
    inputs = pd.DataFrame(
        {"timestamp": [after] * STATIONS, "station_id": list(stations.ids)}
        | {c: [row[c]] * STATIONS for c in ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")}
        | {"weather": ["clear"] * STATIONS}
    )
    served = predict(booster, inputs, stations)
    assert np.isfinite(served).all() and (served >= 0).all() and served.std() > 0

    assert "Data and pipelines are up to date" in run(["dvc", "repro"], repo).stdout


@pytest.mark.slow
def test_compare_scores_a_station_model_with_its_own_card(station_repo):
    """Against itself: the card's station history rebuilds exactly the pipeline's features,
    so compare's predictions equal evaluate's and the verdict is a pass."""
    run(["git", "add", "-A"], station_repo)
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "model"], station_repo
    )
    run(["bikecast", "compare", "--base", "HEAD"], station_repo)
    result = read_json(station_repo / "metrics/compare.json")
    assert result["verdict"] == "pass"
    rmsle = read_json(station_repo / "metrics/evaluate.json")["model"]["rmsle"]
    models = result["models"]
    assert models["champion"]["rmsle"] == models["challenger"]["rmsle"] == rmsle
    run(["bikecast", "report", "--base", "HEAD", "--out", "reports/pr.md"], station_repo)
    assert (station_repo / "reports/pr_pred_vs_actual.png").stat().st_size > 10_000


@pytest.mark.slow
def test_dask_training_matches_local_training_on_the_same_data(station_repo):
    """xgboost.dask on an existing cluster (by address) against one process: same params,
    same rows; the distributed quantile sketch and early stopping may differ a little."""
    from distributed import LocalCluster

    from bikecast.compute import dask_client, read_parquet
    from bikecast.config import ComputeParams, load_params
    from bikecast.ml.features import feature_columns
    from bikecast.ml.model import predict_features
    from bikecast.ml.training import fit, fit_dask

    params = load_params(station_repo / "params.yaml")
    columns = feature_columns("station")
    train_path = station_repo / "data/split/train.parquet"
    test = pd.read_parquet(station_repo / "data/split/test.parquet")
    local = fit(pd.read_parquet(train_path), params.train, columns)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        compute = ComputeParams(engine="dask", scheduler=cluster.scheduler_address)
        with dask_client(compute) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            frame = read_parquet(train_path, compute.model_copy(update={"partition_rows": 5000}))
            assert frame.npartitions >= 4
            distributed = fit_dask(client, frame, params.train, columns)

    def rmsle(booster):
        predicted = predict_features(booster, test)
        return float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(test["rentals"])) ** 2)))

    local_rmsle, dask_rmsle = rmsle(local.booster), rmsle(distributed.booster)
    assert abs(dask_rmsle - local_rmsle) / local_rmsle < 0.03, (local_rmsle, dask_rmsle)
    assert abs(distributed.rounds - local.rounds) / local.rounds < 0.5
    both = np.corrcoef(
        predict_features(local.booster, test), predict_features(distributed.booster, test)
    )
    assert both[0, 1] > 0.98


def test_an_unreachable_scheduler_fails_cleanly_and_keeps_the_model(station_repo, tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = tmp_path / "params.yaml"
    settings.write_text((station_repo / "params.yaml").read_text())
    set_params(tmp_path, {"connect_timeout_s": "2"})
    before = file_sha256(station_repo / "models/model.ubj")
    failed = run(
        ["bikecast", "train", "--params", str(settings)],
        station_repo,
        check=False,
        env={"BIKECAST_DASK_SCHEDULER": f"tcp://127.0.0.1:{port}"},
    )
    assert failed.returncode == 1
    assert f"compute.scheduler tcp://127.0.0.1:{port}: cannot connect" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert file_sha256(station_repo / "models/model.ubj") == before


@pytest.mark.slow
def test_live_trip_history_at_station_grain_through_dvc_repro(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    with cbfake.FakeServices(files=cbfake.committed_zips()) as services:
        set_params(
            repo,
            {
                "grain": "station",
                "source": "capital_bikeshare",
                "as_of": '"2024-04-30T23:00:00-04:00"',
                "trips_url": services.trips_url,
                "weather_url": services.weather_url,
                "start": '"2024-03"',
                "backoff_s": "0",
                "test_days": "7",
                "valid_days": "5",
                "history_days": "7",
                "history_lag_days": "7",
                "n_estimators": "50",
            },
        )
        run(["dvc", "repro", "evaluate"], repo)
    raw = pd.read_parquet(repo / "data/raw/hourly.parquet")
    assert raw["station_id"].nunique() >= 4
    assert not raw.duplicated(["station_id", "timestamp"]).any()
    validated = read_json(repo / "metrics/validate.json")
    assert validated["quarantined_rows"] == 0 and validated["missing_hours"] == 0
    metrics = read_json(repo / "metrics/evaluate.json")
    assert metrics["per_station"]["stations"] == raw["station_id"].nunique()
    assert metrics["aggregate"]["hours"] == 7 * 24
    _, card = load_model(repo / "models/model.ubj", repo / "models/model.json")
    assert card.compute_engine == "local" and len(card.station_table.ids) >= 4
