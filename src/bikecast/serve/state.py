"""The served model, loaded once at start-up and verified, or the reason it could not be.

The card is read only as a `ModelCard` (bikecast.ml.card validates it, grain included). A
station-grain model also brings its station table and a level model its level table (both
from the card), read and checked here once, so a request only looks them up; a table that
cannot be used makes the model not ready, like a corrupt model file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bikecast.ml.model import ModelError, load_model

if TYPE_CHECKING:
    import xgboost as xgb

    from bikecast.grain import Grain
    from bikecast.ml.card import ModelCard
    from bikecast.ml.level import LevelTable
    from bikecast.ml.runtime import OnnxModel
    from bikecast.ml.stations import StationTable
    from bikecast.serve.settings import ServeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A verified model (the ONNX export, or an XGBoost booster) with its card, its test
    metrics and, at station grain, the station table of the card."""

    booster: xgb.Booster | OnnxModel
    card: ModelCard
    metrics: dict[str, Any] | None = None
    stations: StationTable | None = None
    station_ids: frozenset[str] = frozenset()  # the ids of `stations`, for request checks
    level: LevelTable | None = None  # a level model's table (bikecast.ml.level)

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def grain(self) -> Grain:
        return self.card.grain


@dataclass(frozen=True)
class ServedModel:
    """What the app serves: a loaded model, or `error` saying why there is none."""

    model: LoadedModel | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.model is not None

    @property
    def version(self) -> str | None:
        return self.model.version if self.model is not None else None


NOT_LOADED = ServedModel(error="the model has not been loaded yet (start-up in progress)")


def read_metrics(path: Path, version: str) -> dict[str, Any] | None:
    """evaluate.json of the served model; None (and a warning) if absent, bad or not its own.

    evaluate.json names the model it scored (`model_version`); files written before it did
    carry no name and are shown as they are.
    """
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        log.warning("serve: %s not found; /model will report metrics: null", path)
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("serve: %s is unreadable (%s); /model will report metrics: null", path, exc)
        return None
    if not isinstance(metrics, dict):
        log.warning("serve: %s is not a JSON object; /model will report metrics: null", path)
        return None
    recorded = metrics.get("model_version")
    if recorded is not None and recorded != version:
        log.warning(
            "serve: %s is for model %s, not %s; /model will report metrics: null",
            path,
            recorded,
            version,
        )
        return None
    return metrics


def station_table(card: ModelCard, card_path: Path) -> StationTable | None:
    """The checked station table of a station-grain card; None for a city card."""
    try:
        return card.station_table
    except ModelError as exc:
        raise ModelError(f"{card_path}: {exc}") from None


def warm_up(model: LoadedModel) -> None:
    """One forecast at load, through the code a request runs: the DC calendar's DST table,
    the holidays, the station lookup and the runtime's first call are built now instead of
    on the first request, and a model that cannot forecast is not ready."""
    from bikecast.data.schema import WEATHER
    from bikecast.ml.model import predict

    moment = datetime.fromisoformat(model.card.data_window.train_end).astimezone(UTC)
    inputs: dict[str, Any] = {
        "timestamp": np.array([moment.replace(tzinfo=None)], dtype="datetime64[us]"),
        **{name: np.array([value]) for name, value in _TYPICAL_WEATHER.items()},
        "weather": np.array([WEATHER[0]], dtype=object),
    }
    if model.stations is not None:
        inputs["station_id"] = np.array(model.stations.ids[:1], dtype=object)
    predict(model.booster, inputs, model.stations, model.level)


_TYPICAL_WEATHER = {"temp_c": 15.0, "feels_like_c": 15.0, "humidity_pct": 60.0, "wind_kmh": 10.0}


def load_served_model(settings: ServeSettings) -> ServedModel:
    """Load and verify the model (sha256 against its card); never raise for a bad model."""
    card_path = settings.resolved_card_path
    try:
        # One thread per prediction: on small batches OpenMP start-up costs more than it saves,
        # and concurrent requests already use the cores.
        booster, card = load_model(settings.model_path, card_path, settings.predict_threads)
        stations = station_table(card, card_path)
        loaded = LoadedModel(
            booster=booster,
            card=card,
            metrics=read_metrics(settings.metrics_path, card.version),
            stations=stations,
            station_ids=frozenset(stations.ids) if stations is not None else frozenset(),
            level=card.level_table,
        )
        warm_up(loaded)
    except ModelError as exc:
        log.error("serve: model not ready: %s", exc)
        return ServedModel(error=str(exc))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        # e.g. a model file that exists but cannot be read: still "not ready", never a crash
        reason = (
            f"{settings.model_path} with card {card_path} cannot be loaded "
            f"({type(exc).__name__}: {exc})"
        )
        log.error("serve: model not ready: %s", reason)
        return ServedModel(error=reason)
    log.info(
        "serve: %s-grain model %s loaded from %s%s",
        card.grain,
        card.version,
        settings.model_path,
        f" ({len(stations.ids)} stations)" if stations is not None else "",
    )
    return ServedModel(loaded)
