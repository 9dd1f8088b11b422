"""The model card: one typed contract, old cards still readable."""

from __future__ import annotations

import json

import pytest

from bikecast.grain import Grain
from bikecast.ml.card import SCHEMA_VERSION, ModelCard, ModelError

# A card as the first revisions wrote it (before grain, engine and schema_version existed).
OLD_CARD = {
    "version": "0123456789ab",
    "sha256": "0123456789ab" + "0" * 52,
    "format": "xgboost-ubj",
    "xgboost_version": "2.1.1",
    "target": "log1p(rentals)",
    "feature_columns": ["hour", "weekday"],
    "rounds": 120,
    "params": {"n_estimators": 800, "max_depth": 6},
    "data_window": {
        "source": "replay",
        "as_of": "2011-12-31T23:00:00-05:00",
        "train_start": "2011-01-01T05:00:00+00:00",
        "train_end": "2011-12-04T04:00:00+00:00",
        "train_rows": 7976,
    },
}


def test_an_old_card_upgrades_to_the_current_schema():
    card = ModelCard.parse(OLD_CARD)
    assert card.schema_version == SCHEMA_VERSION
    assert card.grain is Grain.CITY and card.compute_engine == "local"
    assert card.feature_columns == ("hour", "weekday")
    assert card.data_window.train_rows == 7976
    assert card.station_table is None


def test_a_card_round_trips_through_its_file(tmp_path):
    card = ModelCard.parse(OLD_CARD)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(card.to_dict()))
    assert ModelCard.read(path) == card
    assert next(iter(card.to_dict())) == "schema_version"
    assert "stations" not in card.to_dict()  # a city card carries no station table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rounds": "120"}, "rounds"),  # strict: no silent coercion
        ({"grain": "district"}, "grain"),
        ({"typo_key": 1}, "typo_key"),  # extra keys are refused
        ({"schema_version": 99}, "newer than this code"),
    ],
)
def test_a_bad_card_is_one_clear_model_error(change, message):
    with pytest.raises(ModelError, match=message) as info:
        ModelCard.parse({**OLD_CARD, **change}, "models/model.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("models/model.json")


def test_missing_or_broken_card_files(tmp_path):
    with pytest.raises(ModelError, match="model card not found"):
        ModelCard.read(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelCard.read(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ModelError, match="JSON object"):
        ModelCard.read(tmp_path / "list.json")


def test_a_station_card_without_a_usable_table_fails_when_asked():
    card = ModelCard.parse({**OLD_CARD, "grain": "station", "stations": {"ids": []}})
    with pytest.raises(ModelError, match="station table"):
        _ = card.station_table
