"""The served model, loaded once at start-up and verified, or the reason it could not be.

A station-grain model also brings its station table (from the card), read and checked here
once, so a request only looks ids up; a table that cannot be used makes the model not ready,
like a corrupt model file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bikecast.ml.model import ModelError, load_model, model_version, stations_of

if TYPE_CHECKING:
    import xgboost as xgb

    from bikecast.ml.stations import StationTable
    from bikecast.serve.settings import ServeSettings

GRAINS = ("city", "station")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """Either a verified booster with its card and metrics, or `error` saying why not."""

    booster: xgb.Booster | None = None
    card: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    error: str | None = None
    stations: StationTable | None = None  # station-grain models only
    station_ids: frozenset[str] = frozenset()  # the ids of `stations`, for request checks

    @property
    def ready(self) -> bool:
        return self.booster is not None

    @property
    def grain(self) -> str:
        return "city" if self.stations is None else "station"

    @property
    def version(self) -> str | None:
        return self.card.get("version") if self.ready else None


def read_metrics(path: Path, version: str) -> dict[str, Any] | None:
    """evaluate.json of the served model; None (and a warning) if absent, bad or not its own."""
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        log.warning("serve: %s not found; /model will report metrics: null", path)
        return None
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("serve: %s is unreadable (%s); /model will report metrics: null", path, exc)
        return None
    if not isinstance(metrics, dict):
        log.warning("serve: %s is not a JSON object; /model will report metrics: null", path)
        return None
    recorded = metrics.get("model_version")
    if recorded is not None and recorded != version:
        log.warning("serve: %s is for model %s, not %s; ignoring it", path, recorded, version)
        return None
    return metrics


def load_stations(card: dict[str, Any], card_path: Path) -> StationTable | None:
    """The checked station table of a station-grain card, None for a city card."""
    grain = card.get("grain", "city")  # cards from before station grain have no key
    if grain not in GRAINS:
        raise ModelError(f"{card_path}: unknown grain {grain!r}; expected one of {list(GRAINS)}")
    stations = stations_of(card, card_path)
    if stations is not None:
        stations.codes(pd.Series(stations.ids[:1]))  # build its lookup now, not on a request
    return stations


def load_served_model(settings: ServeSettings) -> ServedModel:
    """Load and verify the model (sha256 against its card); never raise for a bad model."""
    try:
        booster, card = load_model(settings.model_path, settings.resolved_card_path)
        stations = load_stations(card, settings.resolved_card_path)
    except ModelError as exc:
        log.error("serve: model not ready: %s", exc)
        return ServedModel(error=str(exc))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        # e.g. a card that is JSON but not a mapping, or an unreadable file: still "not ready"
        reason = (
            f"{settings.model_path} with card {settings.resolved_card_path} cannot be loaded "
            f"({type(exc).__name__}: {exc})"
        )
        log.error("serve: model not ready: %s", reason)
        return ServedModel(error=reason)
    # One thread per prediction: on small batches OpenMP start-up costs more than it saves,
    # and concurrent requests already use the cores.
    booster.set_param({"nthread": settings.predict_threads})
    version = str(card.get("version") or model_version(card["sha256"]))
    card = {**card, "version": version}
    metrics = read_metrics(settings.metrics_path, version)
    log.info(
        "serve: %s-grain model %s loaded from %s%s",
        card.get("grain", "city"),
        version,
        settings.model_path,
        f" ({len(stations.ids)} stations)" if stations is not None else "",
    )
    return ServedModel(
        booster=booster,
        card=card,
        metrics=metrics,
        stations=stations,
        station_ids=frozenset(stations.ids) if stations is not None else frozenset(),
    )
