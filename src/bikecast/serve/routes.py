"""The routes: /health, /ready, /model and /predict. Each handler gets the served model (and
the settings) from `request.app.state` through the `Annotated` dependencies below; the app
around them (lifespan, middleware, Prometheus) is built in bikecast.serve.app.
"""

# No `from __future__ import annotations` here: FastAPI must see the real request class of
# /predict (built per app, with that app's batch limit) in the signature, not a string it
# cannot resolve.
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bikecast.grain import Grain
from bikecast.ml.level import LevelTable
from bikecast.ml.model import predict
from bikecast.ml.stations import UnknownStationError
from bikecast.prediction_log.records import Chunk
from bikecast.serve.errors import NotReady, documented, error_response, invalid_response
from bikecast.serve.schemas import (
    Health,
    LevelInfo,
    ModelInfo,
    PredictResponse,
    Readiness,
    Record,
    predict_request_model,
)
from bikecast.serve.settings import ServeSettings
from bikecast.serve.state import NOT_LOADED, LoadedModel, ServedModel

INLINE_MAX_RECORDS = 64  # larger batches are predicted in the thread pool


# --- dependencies -----------------------------------------------------------------------
# `async def` throughout, though none of them awaits: FastAPI runs a plain `def` dependency
# or handler in its thread pool, and that hop cost more than the whole one-record forecast.


def _served(request: Request) -> ServedModel:
    return getattr(request.app.state, "served", NOT_LOADED)


async def served_model(request: Request) -> ServedModel:
    """What the lifespan loaded (NOT_LOADED until it has run)."""
    return _served(request)


async def ready_model(request: Request) -> LoadedModel:
    """The verified model, or a 503 naming why there is none."""
    served = _served(request)
    if served.model is None:
        raise NotReady(served.error or "unknown")
    return served.model


async def app_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


ServedDep = Annotated[ServedModel, Depends(served_model)]
ReadyDep = Annotated[LoadedModel, Depends(ready_model)]
SettingsDep = Annotated[ServeSettings, Depends(app_settings)]


async def json_body(request: Request) -> None:
    """Refuse bodies not declared as JSON with a 415 naming the header, not a puzzling 422."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        got = repr(content_type[:60]) if content_type else "no Content-Type header"
        raise StarletteHTTPException(415, f"content-type: expected application/json, got {got}")


# --- records → the pipeline's inputs ----------------------------------------------------


def records_inputs(records: Sequence[Record], grain: Grain = Grain.CITY) -> dict[str, np.ndarray]:
    """Validated records → the raw inputs the shared feature function takes, as numpy columns
    (timestamps in UTC, exact to the microsecond); with `station_id` too at station grain.
    No DataFrame: building one cost more than the rest of a one-record forecast."""
    inputs = {
        "timestamp": np.array([_utc_us(r.timestamp) for r in records], dtype="datetime64[us]"),
        "temp_c": np.array([r.temp_c for r in records], dtype="float64"),
        "feels_like_c": np.array([r.feels_like_c for r in records], dtype="float64"),
        "humidity_pct": np.array([r.humidity_pct for r in records], dtype="float64"),
        "wind_kmh": np.array([r.wind_kmh for r in records], dtype="float64"),
        "weather": np.array([r.weather for r in records], dtype=object),
    }
    if grain.is_station:
        inputs["station_id"] = np.array([r.station_id for r in records], dtype=object)
    return inputs


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, in integers (no float rounding)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _station_error(index: int, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ("body", "records", index, "station_id"), "msg": msg, "type": kind}


def station_errors(records: Sequence[Record], model: LoadedModel) -> list[dict[str, Any]]:
    """Field errors of station_id against the model's grain (pydantic cannot know the grain:
    the request model is built before the model is loaded). Empty when all is well."""
    if not model.grain.is_station:
        return [
            _station_error(
                i,
                "this model is city-grain (it forecasts the whole city): send no station_id",
                "station_id_not_allowed",
            )
            for i, r in enumerate(records)
            if r.station_id is not None
        ]
    known, count = model.station_ids, len(model.station_ids)
    errors = []
    for i, r in enumerate(records):
        if r.station_id is None:
            errors.append(
                _station_error(
                    i,
                    f"required: this model is station-grain (it knows {count} stations)",
                    "missing",
                )
            )
        elif r.station_id not in known:
            errors.append(
                _station_error(
                    i,
                    f"unknown station_id {r.station_id!r}: this model knows {count} stations "
                    "and must be retrained with data that includes this one to forecast it",
                    "unknown_station",
                )
            )
    return errors


# --- handlers ---------------------------------------------------------------------------


async def health() -> Health:
    """The process is alive (says nothing about the model: see /ready)."""
    return Health()


async def ready(served: ServedDep) -> JSONResponse:
    """A verified model is loaded and predictions can be served."""
    body = Readiness(ready=served.ready, model_version=served.version, reason=served.error)
    return JSONResponse(body.model_dump(), status_code=200 if served.ready else 503)


async def model_info(model: ReadyDep, settings: SettingsDep) -> ModelInfo:
    """Version, provenance, training window, parameters and test metrics of the model."""
    card = model.card
    return ModelInfo(
        model_version=card.version,
        sha256=card.sha256,
        git_sha=settings.git_sha,
        xgboost_version=card.xgboost_version,
        feature_columns=list(card.feature_columns),
        grain=card.grain.value,
        station_count=None if model.stations is None else len(model.stations.ids),
        level=None if model.level is None else level_info(model.level),
        data_window=card.data_window.model_dump(),
        params=card.params,
        metrics=model.metrics,
    )


def level_info(level: LevelTable) -> LevelInfo:
    return LevelInfo(
        method="year_over_year",
        days=level.days,
        lag_days=level.lag_days,
        known_through=level.known_through,
        latest_growth=round(float(np.exp(level.latest)), 4),
    )


async def forecast(
    records: Sequence[Record], model: LoadedModel, request: Request
) -> PredictResponse | JSONResponse:
    """The body of /predict, once pydantic has validated the records."""
    if errors := station_errors(records, model):
        return invalid_response(errors)

    state = request.app.state
    received = time.time()

    def run() -> Any:
        inputs = records_inputs(records, model.grain)
        predictions = predict(model.booster, inputs, model.stations, model.level)
        state.forecasts.observe(model, inputs, predictions)
        if (prediction_log := getattr(state, "prediction_log", None)) is not None:
            prediction_log.record(
                Chunk(received, model.version, records, predictions, model.card.input_ranges)
            )
        return predictions

    try:
        if len(records) <= INLINE_MAX_RECORDS:
            # a few milliseconds of CPU: cheaper on the event loop than a thread hop
            predictions = run()
        else:  # a big batch must not stall /health and the other requests
            predictions = await run_in_threadpool(run)
    except UnknownStationError as exc:  # checked above; kept so it can never be a 500
        return error_response(422, f"records: {exc}")
    return PredictResponse(
        model_version=model.version,
        predictions=predictions.tolist(),
        station_ids=[r.station_id for r in records] if model.grain.is_station else None,
    )


def api_router(max_batch: int) -> APIRouter:
    """The routes, with a /predict body of 1 to `max_batch` records (in its schema too)."""
    PredictRequest = predict_request_model(max_batch)

    async def predict_rentals(
        body: PredictRequest,  # type: ignore[valid-type]
        model: ReadyDep,
        request: Request,
    ) -> PredictResponse:
        """Forecast rentals per hour for each record, in the order given."""
        return await forecast(body.records, model, request)  # type: ignore[attr-defined,return-value]

    router = APIRouter()
    router.add_api_route("/health", health, methods=["GET"], tags=["ops"])
    router.add_api_route(
        "/ready",
        ready,
        methods=["GET"],
        tags=["ops"],
        responses={503: {"model": Readiness, "description": "Not ready; `reason` says why."}},
    )
    router.add_api_route(
        "/model", model_info, methods=["GET"], tags=["model"], responses=documented(503)
    )
    router.add_api_route(
        "/predict",
        predict_rentals,
        methods=["POST"],
        tags=["model"],
        responses=documented(400, 413, 415, 422, 503),
        dependencies=[Depends(json_body)],
        response_model_exclude_none=True,  # no station_ids key at all for a city model
    )
    return router
