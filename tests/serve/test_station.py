"""The API serving a station-grain model (TestClient): station_id per record, checked against
the model's grain and stations, and forecasts identical to the pipeline's own features.

A small real station model is trained here, the way the features and train stages do it, on
six synthetic stations dealt out of the last 90 days of the seed file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.serve.test_app import RECORD, settings_for, train_tiny_model

from bikecast.config import IngestParams, Params, StationParams, TrainParams
from bikecast.data.schema import read_canonical
from bikecast.ml.card import ModelCard
from bikecast.ml.features import feature_columns
from bikecast.ml.model import ModelError, file_sha256, load_model, predict
from bikecast.ml.stations import StationTable
from bikecast.serve import create_app

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data/seed/bikeshare_dc_2011.csv.gz"
STATIONS, DAYS = 6, 90
HISTORY_DAYS, LAG_DAYS = 14, 28  # different, so a mix-up of the two shows


@dataclass(frozen=True)
class StationModel:
    model: Path
    full: StationTable  # built from all the data, as the features stage saves it
    data_end: pd.Timestamp


def train_station_model(directory: Path) -> StationModel:
    """Synthetic stations → features → fit → model.ubj + card, as `dvc repro` would."""
    from bikecast.data.synthetic import stations_from_city
    from bikecast.data.validation import validate_frame
    from bikecast.ml import training as train_stage
    from bikecast.ml.training import model_card
    from bikecast.stages.features import feature_table, station_table

    city = validate_frame(read_canonical(SEED)).valid
    city = city[city["timestamp"] > city["timestamp"].max() - pd.Timedelta(days=DAYS)]
    frame = stations_from_city(city, STATIONS, seed=0)
    params = Params(
        grain="station",
        ingest=IngestParams(as_of=frame["timestamp"].max().isoformat()),
        train=TrainParams(n_estimators=30, max_depth=4, early_stopping_rounds=10, valid_days=7),
        station=StationParams(history_days=HISTORY_DAYS, history_lag_days=LAG_DAYS),
    )
    full = station_table(frame, params)
    train = feature_table(frame, full)
    fitted = train_stage.fit(train, params.train, feature_columns("station"))  # conftest: 1 thread
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / "model.ubj"
    fitted.booster.save_model(str(model))
    card = model_card(fitted, params, file_sha256(model), full)
    model.with_suffix(".json").write_text(json.dumps(card.to_dict()))
    return StationModel(model=model, full=full, data_end=frame["timestamp"].max())


@pytest.fixture(scope="module")
def station_model(tmp_path_factory) -> StationModel:
    return train_station_model(tmp_path_factory.mktemp("station") / "models")


@pytest.fixture(scope="module")
def city_model(tmp_path_factory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("city") / "models")


@pytest.fixture
def client(station_model, tmp_path):
    settings = settings_for(station_model.model, tmp_path, max_batch=200)
    with TestClient(create_app(settings)) as c:
        yield c


def record(when: pd.Timestamp, station_id: str | None, **changes) -> dict:
    body = {**RECORD, "timestamp": when.isoformat(), **changes}
    if station_id is not None:
        body["station_id"] = station_id
    return body


def expected_forecasts(model: StationModel, records: list[dict]) -> tuple[list[float], pd.Series]:
    """The pipeline's own path: model.predict with the FULL station table of the features;
    and the recent-level feature of each record."""
    booster, _ = load_model(model.model)
    frame = pd.DataFrame(records)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame["station_id"] = frame["station_id"].str.strip()
    recent = model.full.features(frame)["station_recent_mean"]
    return predict(booster, frame, model.full).tolist(), recent


# --- forecasts ------------------------------------------------------------------------------


def test_forecasts_after_the_data_end_equal_those_of_the_full_station_table(client, station_model):
    trimmed = ModelCard.read(station_model.model.with_suffix(".json")).station_table
    # the card carries only the latest days (at least lag + history), not the whole history
    kept, full_days = trimmed.rentals.shape[1], station_model.full.rentals.shape[1]
    assert HISTORY_DAYS + LAG_DAYS <= kept < full_days
    assert trimmed.first_day == station_model.full.first_day + full_days - kept
    # from the first hour after the data up to well past the lag (the latest window is reused)
    offsets = [1, 5, 13, 24, 24 * 3 + 7, 24 * 7 + 3, 24 * 13, 24 * 20 + 11, 24 * 27 + 23]
    offsets += [24 * LAG_DAYS + 2, 24 * (LAG_DAYS + HISTORY_DAYS) + 5, 24 * 90]
    ids = list(station_model.full.ids)
    records = [
        record(station_model.data_end + pd.Timedelta(hours=h), sid, temp_c=2.0 + h % 17)
        for h in offsets
        for sid in ids
    ]
    records[0] = {**records[0], "station_id": f"  {ids[0]} "}  # surrounding blanks are stripped
    assert len(records) > 64  # the thread-pool path (big batches) ...
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    expected, recent = expected_forecasts(station_model, records)
    assert recent.nunique() > 2 * len(ids), "the hours ask for different history windows"
    assert body["predictions"] == expected
    assert body["station_ids"] == [ids[0]] + [r["station_id"] for r in records[1:]]
    same_hour = body["predictions"][: len(ids)]
    assert len(set(same_hour)) > 1, "the stations of one hour get different forecasts"
    # ... and the inline path (one record) give the same numbers
    one = client.post("/predict", json={"records": [records[7]]}).json()
    assert (one["predictions"], one["station_ids"]) == ([expected[7]], [records[7]["station_id"]])


def test_model_info_shows_the_grain_and_the_number_of_stations(client, city_model, tmp_path):
    info = client.get("/model").json()
    assert info["grain"] == "station"
    assert info["station_count"] == STATIONS
    assert info["feature_columns"] == list(feature_columns("station"))
    assert "stations" not in info  # the count, not the table
    with TestClient(create_app(settings_for(city_model, tmp_path))) as city:
        info = city.get("/model").json()
    assert (info["grain"], info["station_count"]) == ("city", None)


# --- station_id checked against the model -------------------------------------------------


def test_a_record_without_station_id_is_a_422_naming_it(client, station_model):
    when = station_model.data_end + pd.Timedelta(hours=3)
    sid = station_model.full.ids[0]
    response = client.post(
        "/predict", json={"records": [record(when, sid), record(when, None), record(when, sid)]}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"records[1].station_id: required: this model is station-grain "
        f"(it knows {STATIONS} stations)"
    )
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "records", 1, "station_id"]


def test_an_unknown_station_is_a_422_naming_it_and_asking_for_a_retrain(client, station_model):
    when = station_model.data_end + pd.Timedelta(hours=3)
    records = [record(when, station_model.full.ids[1]), record(when, "99999"), record(when, "x")]
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("records[1].station_id: unknown station_id '99999': ")
    assert "; records[2].station_id: unknown station_id 'x': " in detail
    assert f"this model knows {STATIONS} stations and must be retrained" in detail
    assert [e["loc"][2] for e in response.json()["errors"]] == [1, 2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "at least 1 character"),
        ("   ", "at least 1 character"),
        ("3" * 65, "at most 64 characters"),
        (31000, "valid string"),
    ],
)
def test_a_malformed_station_id_is_a_422(client, station_model, value, message):
    body = {**record(station_model.data_end, None), "station_id": value}
    response = client.post("/predict", json={"records": [body]})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("records[0].station_id: ")
    assert message in response.json()["detail"]


def test_a_city_model_refuses_station_id_and_answers_as_before(city_model, tmp_path):
    with TestClient(create_app(settings_for(city_model, tmp_path))) as client:
        refused = client.post(
            "/predict", json={"records": [RECORD, {**RECORD, "station_id": "31000"}]}
        )
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            "records[1].station_id: this model is city-grain (it forecasts the whole city): "
            "send no station_id"
        )
        answered = client.post("/predict", json={"records": [RECORD]})
    assert answered.status_code == 200
    assert list(answered.json()) == ["model_version", "predictions"]  # no station_ids key


def test_openapi_documents_station_id_and_keeps_the_city_example(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    station_id = schemas["Record"]["properties"]["station_id"]
    assert "station-grain" in station_id["description"]
    assert "station_id" not in schemas["Record"].get("required", [])
    assert schemas["PredictRequest"]["examples"][0]["records"][0] == RECORD
    assert "station_ids" in schemas["PredictResponse"]["properties"]
    assert {"grain", "station_count"} <= set(schemas["ModelInfo"]["properties"])


# --- a station table that cannot be used: not ready, like a corrupt model ------------------


def _damaged(card: dict, damage: str) -> dict:
    stations = dict(card["stations"])
    if damage == "no table":
        del card["stations"]
    elif damage == "not numbers":
        stations["rentals"] = "many"
    elif damage == "latitudes missing":
        stations["latitude"] = stations["latitude"][:-1]
    elif damage == "duplicate ids":
        stations["ids"] = [stations["ids"][0]] * len(stations["ids"])
    if "stations" in card:
        card["stations"] = stations
    return card


DAMAGES = ["no table", "not numbers", "latitudes missing", "duplicate ids"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_an_unusable_station_table_is_503_with_the_reason(station_model, tmp_path, damage):
    model = tmp_path / "models" / "model.ubj"
    model.parent.mkdir()
    model.write_bytes(station_model.model.read_bytes())
    card = json.loads(station_model.model.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps(_damaged(card, damage)))
    with TestClient(create_app(settings_for(model, tmp_path))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        reason = ready.json()["reason"]
        assert reason.startswith(f"{model.with_suffix('.json')}: ")
        assert "station-grain card without a usable station table" in reason
        when = station_model.data_end.isoformat()
        body = {"records": [{**RECORD, "timestamp": when, "station_id": "31000"}]}
        for response in (client.post("/predict", json=body), client.get("/model")):
            assert response.status_code == 503
            assert response.json()["detail"].startswith("model not ready: ")
    strict = settings_for(model, tmp_path, require_model=True)
    with pytest.raises(ModelError, match="BIKECAST_REQUIRE_MODEL"), TestClient(create_app(strict)):
        pass


def test_a_card_of_an_unknown_grain_is_503(city_model, tmp_path):
    model = tmp_path / "models" / "model.ubj"
    model.parent.mkdir()
    model.write_bytes(city_model.read_bytes())
    card = json.loads(city_model.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**card, "grain": "district"}))
    with TestClient(create_app(settings_for(model, tmp_path))) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert reason.startswith(f"{model.with_suffix('.json')}: not a valid model card (grain: ")
    assert "'city' or 'station'" in reason and "\n" not in reason
