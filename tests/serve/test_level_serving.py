"""A level model served: the API rebuilds the pipeline's level from the card, to the float,
says how far the level is known, and refuses a card whose level table is unusable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.conftest import SEED
from tests.ml.test_level import GROWTH, PARAMS
from tests.ml.test_training import small_params
from tests.serve.test_app import settings_for

from bikecast.data.schema import WEATHER_COLUMNS, read_canonical
from bikecast.data.synthetic import grown_city
from bikecast.data.validation import validate_frame
from bikecast.ml.level import level_for
from bikecast.ml.model import load_model, predict, predict_features
from bikecast.ml.training import fit
from bikecast.serve import create_app
from bikecast.stages.features import feature_table
from bikecast.stages.train import save


@pytest.fixture(scope="module")
def served(tmp_path_factory, two_years) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A small level model on the last 120 days of the grown city, saved as train saves it."""
    level = level_for(two_years, PARAMS)
    table = feature_table(two_years, level=level)
    fitted = fit(table.iloc[-24 * 120 :], small_params())
    model = tmp_path_factory.mktemp("level") / "model.ubj"
    save(fitted, PARAMS, (None, level), model, model.with_suffix(".json"))
    return model, two_years, table


@pytest.fixture(scope="module")
def two_years():
    return grown_city(validate_frame(read_canonical(SEED)).valid, GROWTH)


def records(rows: pd.DataFrame) -> list[dict]:
    body = rows[["timestamp", *WEATHER_COLUMNS]].copy()
    body["timestamp"] = body["timestamp"].map(lambda t: t.isoformat())
    return body.to_dict(orient="records")


def test_the_api_serves_the_pipelines_level_to_the_float(served, tmp_path):
    model, rows, table = served
    booster, card = load_model(model)
    assert card.target == "log1p(rentals) - level" and card.level is not None
    window = rows.iloc[-24 * 28 :]  # the test window: its level is in the card's tail
    ahead = window.assign(timestamp=window["timestamp"] + pd.Timedelta(days=90))  # past it
    with TestClient(create_app(settings_for(model, tmp_path, max_batch=10_000))) as client:
        got = [
            client.post("/predict", json={"records": records(part)}).json()["predictions"]
            for part in (window, ahead)
        ]
        info = client.get("/model").json()
    np.testing.assert_array_equal(got[0], predict_features(booster, table.iloc[-24 * 28 :]))
    full = level_for(rows, PARAMS)  # what the whole history says of hours past the data
    np.testing.assert_array_equal(got[1], predict(booster, ahead, level=full))
    assert info["level"]["known_through"] == full.known_through
    assert info["level"]["latest_growth"] == pytest.approx(GROWTH, rel=0.05)
    assert info["level"]["lag_days"] == 28


def test_a_card_with_a_broken_level_table_is_not_ready(served, tmp_path):
    model, _, _ = served
    card = json.loads(model.with_suffix(".json").read_text())
    broken = tmp_path / "model.ubj"
    broken.write_bytes(model.read_bytes())
    card["level"]["values"] = []
    broken.with_suffix(".json").write_text(json.dumps(card))
    with TestClient(create_app(settings_for(broken, tmp_path))) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert "level table is malformed" in ready.json()["reason"]


def test_a_loaded_level_model_forecasts_with_its_level_when_given_none(served):
    """load_model + predict(booster, frame), as an older caller writes it, is not silently
    a forecast at last year's level."""
    model, rows, _ = served
    booster, card = load_model(model)
    ahead = rows.iloc[-48:].assign(timestamp=rows["timestamp"].iloc[-48:] + pd.Timedelta(days=60))
    with_card = predict(booster, ahead, level=card.level_table)
    np.testing.assert_array_equal(predict(booster, ahead), with_card)
    assert card.level_table.latest > 0.4  # the growth is there to be missed
