"""The FastAPI app: `create_app(settings)` builds it; the model is loaded once, in the lifespan.

A missing or corrupt model does not crash the process: /health stays 200 (the process is
alive), /ready, /model and /predict answer 503 with the reason, and the reason is logged, so
an orchestrator keeps the pod out of rotation and shows why. `BIKECAST_REQUIRE_MODEL=true`
makes start-up fail instead. Either way no prediction is ever made with an unverified model.
"""

# No `from __future__ import annotations` here: FastAPI must see the real request class
# (built per app in create_app) in the endpoint signature, not a string it cannot resolve.
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bikecast.ml.model import ModelError, predict
from bikecast.ml.stations import UnknownStationError
from bikecast.serve.limits import BodySizeLimit
from bikecast.serve.schemas import (
    ErrorResponse,
    Health,
    ModelInfo,
    PredictResponse,
    Readiness,
    Record,
    predict_request_model,
)
from bikecast.serve.settings import ServeSettings
from bikecast.serve.state import ServedModel, load_served_model

log = logging.getLogger(__name__)
NOT_LOADED = ServedModel(error="the model has not been loaded yet (start-up in progress)")
MAX_LISTED_ERRORS = 5
INLINE_MAX_RECORDS = 64  # larger batches are predicted in the thread pool


class NotReady(Exception):
    """Raised by the model dependency while no verified model is loaded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def served_model(request: Request) -> ServedModel:
    return getattr(request.app.state, "served", NOT_LOADED)


def ready_model(request: Request) -> ServedModel:
    """The verified model, or a 503 naming why there is none."""
    served = served_model(request)
    if not served.ready:
        raise NotReady(served.error or "unknown")
    return served


ServedDep = Annotated[ServedModel, Depends(served_model)]
ReadyDep = Annotated[ServedModel, Depends(ready_model)]


def json_body(request: Request) -> None:
    """Refuse bodies not declared as JSON with a 415 naming the header, not a puzzling 422."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        got = repr(content_type[:60]) if content_type else "no Content-Type header"
        raise StarletteHTTPException(415, f"content-type: expected application/json, got {got}")


def records_frame(records: Sequence[Record], stations: bool = False) -> pd.DataFrame:
    """Validated records → the raw-input frame the shared feature function takes (UTC);
    with `station_id` too for a station-grain model."""
    columns = {
        "timestamp": pd.to_datetime([r.timestamp for r in records], utc=True),
        "temp_c": [float(r.temp_c) for r in records],
        "feels_like_c": [float(r.feels_like_c) for r in records],
        "humidity_pct": [float(r.humidity_pct) for r in records],
        "wind_kmh": [float(r.wind_kmh) for r in records],
        "weather": [r.weather for r in records],
    }
    if stations:
        columns["station_id"] = [r.station_id for r in records]
    return pd.DataFrame(columns)


def _station_error(index: int, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ("body", "records", index, "station_id"), "msg": msg, "type": kind}


def station_errors(records: Sequence[Record], served: ServedModel) -> list[dict[str, Any]]:
    """Field errors of station_id against the model's grain (pydantic cannot know the grain:
    the request model is built before the model is loaded). Empty when all is well."""
    if served.stations is None:
        return [
            _station_error(
                i,
                "this model is city-grain (it forecasts the whole city): send no station_id",
                "station_id_not_allowed",
            )
            for i, r in enumerate(records)
            if r.station_id is not None
        ]
    known, count = served.station_ids, len(served.station_ids)
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


def _field_path(loc: Sequence[Any]) -> str:
    """("body", "records", 0, "temp_c") → "records[0].temp_c"."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validation_detail(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """One readable line naming each bad field, plus JSON-safe errors (no echoed input)."""
    listed = []
    for err in errors:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            where = (err.get("ctx") or {}).get("error", "")
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            msg, loc = f"not valid JSON ({where}{at})", ("body",)
        listed.append(
            {
                "loc": [p if isinstance(p, int) else str(p) for p in loc],
                "msg": msg,
                "type": str(err.get("type", "value_error")),
            }
        )
    lines = [f"{_field_path(e['loc'])}: {e['msg']}" for e in listed[:MAX_LISTED_ERRORS]]
    if len(listed) > MAX_LISTED_ERRORS:
        lines.append(f"and {len(listed) - MAX_LISTED_ERRORS} more")
    return "; ".join(lines) or "invalid request", listed


def _error(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(detail=detail, errors=errors or []).model_dump(), status)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "The body cannot be decoded (send UTF-8 JSON).",
        413: "Body over the size limit (BIKECAST_MAX_BODY_BYTES).",
        415: "The body is not declared as application/json.",
        422: "Invalid request; `detail` names each bad field.",
        503: "No verified model is loaded; `detail` says why.",
    }
    return {code: {"model": ErrorResponse, "description": text[code]} for code in codes}


def _instrument(app: FastAPI) -> Any:
    """Request counts/latencies by route and status, predictions by model version."""
    from prometheus_client import CollectorRegistry, Counter, Gauge
    from prometheus_fastapi_instrumentator import Instrumentator

    registry = CollectorRegistry()  # per app: tests build many apps in one process
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app).expose(app, include_in_schema=False)
    app.state.predictions_total = Counter(
        "bikecast_predictions",
        "Hours forecast by /predict, by model version.",
        ["model_version"],
        registry=registry,
    )
    app.state.model_info = Gauge(
        "bikecast_model_info",
        "1 for the loaded model (its version and git sha as labels).",
        ["model_version", "git_sha"],
        registry=registry,
    )
    app.state.model_ready = Gauge(
        "bikecast_model_ready", "1 when a verified model is loaded.", registry=registry
    )
    return registry


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the API; nothing is loaded until the lifespan starts."""
    settings = settings or ServeSettings()
    max_batch = settings.resolved_max_batch()
    PredictRequest = predict_request_model(max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served = load_served_model(settings)
        if settings.require_model and not served.ready:
            raise ModelError(f"BIKECAST_REQUIRE_MODEL is set and {served.error}")
        app.state.served = served
        app.state.model_ready.set(1 if served.ready else 0)
        if served.ready:
            app.state.model_info.labels(served.version, settings.git_sha).set(1)
        yield

    app = FastAPI(
        title="bikecast",
        version=_package_version(),
        summary="Hourly bike-rental forecasts for Washington DC (Capital Bikeshare).",
        description=(
            "POST the hours you want forecast (timestamp with a UTC offset and the weather "
            f"forecast, 1 to {max_batch} per request) to /predict; a station-grain model "
            "(GET /model: grain) also needs each record's station_id. Prometheus metrics "
            "are at /metrics."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    _instrument(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = validation_detail(exc.errors())
        return _error(422, detail, errors)

    @app.exception_handler(NotReady)
    async def _not_ready(request: Request, exc: NotReady) -> JSONResponse:
        return _error(503, f"model not ready: {exc.reason}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 400:  # FastAPI could not even decode the body (e.g. not UTF-8)
            detail = f"body: {detail.lower()}; send UTF-8 JSON"
        response = _error(exc.status_code, detail)
        response.headers.update(exc.headers or {})
        return response

    @app.get("/health", tags=["ops"])
    def health() -> Health:
        """The process is alive (says nothing about the model: see /ready)."""
        return Health()

    @app.get(
        "/ready",
        tags=["ops"],
        responses={503: {"model": Readiness, "description": "Not ready; `reason` says why."}},
    )
    def ready(served: ServedDep) -> JSONResponse:
        """A verified model is loaded and predictions can be served."""
        body = Readiness(ready=served.ready, model_version=served.version, reason=served.error)
        return JSONResponse(body.model_dump(), status_code=200 if served.ready else 503)

    @app.get("/model", tags=["model"], responses=_responses(503))
    def model_info(served: ReadyDep) -> ModelInfo:
        """Version, provenance, training window, parameters and test metrics of the model."""
        card = served.card
        return ModelInfo(
            model_version=served.version or "",
            sha256=card["sha256"],
            git_sha=settings.git_sha,
            xgboost_version=card.get("xgboost_version"),
            feature_columns=list(card.get("feature_columns", [])),
            grain=served.grain,
            station_count=None if served.stations is None else len(served.stations.ids),
            data_window=card.get("data_window") or {},
            params=card.get("params") or {},
            metrics=served.metrics,
        )

    @app.post(
        "/predict",
        tags=["model"],
        responses=_responses(400, 413, 415, 422, 503),
        dependencies=[Depends(json_body)],
        response_model_exclude_none=True,  # no station_ids key at all for a city model
    )
    async def predict_rentals(body: PredictRequest, served: ReadyDep) -> PredictResponse:  # type: ignore[valid-type]
        """Forecast rentals per hour for each record, in the order given."""
        records = body.records  # type: ignore[attr-defined]
        stations = served.stations
        if stations is None:  # city model: only refuse station ids
            if any(r.station_id is not None for r in records):
                return _error(422, *validation_detail(station_errors(records, served)))
        elif errors := station_errors(records, served):
            return _error(422, *validation_detail(errors))

        def run() -> Any:
            return predict(served.booster, records_frame(records, stations is not None), stations)

        try:
            if len(records) <= INLINE_MAX_RECORDS:
                # a few milliseconds of CPU: cheaper on the event loop than a thread hop
                predictions = run()
            else:  # a big batch must not stall /health and the other requests
                predictions = await run_in_threadpool(run)
        except UnknownStationError as exc:  # checked above; kept so it can never be a 500
            return _error(422, f"records: {exc}")
        app.state.predictions_total.labels(served.version).inc(len(records))
        return PredictResponse(
            model_version=served.version or "",
            predictions=predictions.tolist(),
            station_ids=None if stations is None else [r.station_id for r in records],
        )

    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bikecast")
    except PackageNotFoundError:
        return "0+unknown"
