"""Model cards for review tests: the pre-schema dict shape older revisions wrote, and the
typed card today's code reads (parsed from it, as compare parses a base's card)."""

from __future__ import annotations

from typing import Any

from bikecast.ml.card import ModelCard

FEATURES = ["hour", "temp_c"]


def card_dict(**overrides: Any) -> dict[str, Any]:
    """A card as `stages/train.py` wrote it before the card had a schema_version."""
    window = {
        "source": "replay",
        "as_of": "2011-12-04T18:00:00-05:00",
        "train_start": "2011-01-01T05:00:00+00:00",
        "train_end": "2011-12-04T23:00:00+00:00",
        "train_rows": 96,
    }
    card = {
        "version": "v1",
        "sha256": "0" * 64,
        "format": "xgboost-ubj",
        "xgboost_version": "2.1.0",
        "target": "log1p(rentals)",
        "grain": "city",
        "compute_engine": "local",
        "feature_columns": FEATURES,
        "rounds": 10,
        "params": {"max_depth": 6},
        "data_window": window | overrides.pop("data_window", {}),
    }
    return card | overrides


def model_card(**overrides: Any) -> ModelCard:
    return ModelCard.parse(card_dict(**overrides), "test card")
