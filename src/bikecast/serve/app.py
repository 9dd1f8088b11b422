"""The FastAPI app: `create_app(settings)` builds it; the model is loaded once, in the lifespan.

A missing or corrupt model does not crash the process: /health stays 200 (the process is
alive), /ready, /model and /predict answer 503 with the reason, and the reason is logged, so
an orchestrator keeps the pod out of rotation and shows why. `BIKECAST_REQUIRE_MODEL=true`
makes start-up fail instead. Either way no prediction is ever made with an unverified model.

The routes are in bikecast.serve.routes, the error bodies in bikecast.serve.errors.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from bikecast.ml.model import ModelError
from bikecast.prediction_log.writer import PredictionLog
from bikecast.serve.errors import add_error_handlers
from bikecast.serve.limits import BodySizeLimit
from bikecast.serve.routes import api_router
from bikecast.serve.settings import ServeSettings
from bikecast.serve.state import load_served_model

log = logging.getLogger(__name__)


def _instrument(app: FastAPI) -> Any:
    """Request counts and latencies by route, the forecasts (serve/metrics.py), /metrics."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
    from starlette.responses import Response

    from bikecast.serve.metrics import ForecastMetrics, RequestMetrics, request_series

    registry = CollectorRegistry()  # per app: tests build many apps in one process

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics, **request_series(registry))
    app.add_route("/metrics", metrics, include_in_schema=False)
    app.state.forecasts = ForecastMetrics(registry)
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


def prediction_log(settings: ServeSettings, registry: Any) -> PredictionLog | None:
    """The background log of every forecast, started; None when BIKECAST_PREDICTION_LOG=off."""
    if not settings.logs_predictions:
        log.info("serve: prediction log off")
        return None
    from bikecast.prediction_log.destinations import destination
    from bikecast.prediction_log.writer import LogMetrics

    writer = PredictionLog(
        destination(settings.prediction_log),
        batch_records=settings.prediction_log_batch,
        interval_s=settings.prediction_log_interval_s,
        max_buffer=settings.prediction_log_buffer,
        metrics=LogMetrics(registry),
    )
    writer.start()
    log.info("serve: logging predictions to %s", writer.destination.url)
    return writer


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the API; nothing is loaded until the lifespan starts."""
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served = load_served_model(settings)
        if settings.require_model and not served.ready:
            raise ModelError(f"BIKECAST_REQUIRE_MODEL is set and {served.error}")
        app.state.served = served
        app.state.model_ready.set(1 if served.ready else 0)
        if served.ready:
            app.state.model_info.labels(served.version, settings.git_sha).set(1)
        app.state.prediction_log = prediction_log(settings, registry)
        # What is alive now (the libraries, the model, the app) lives as long as the process:
        # out of the collector's way, a full collection scans only what requests leave behind
        # (without it, one-record p99 jumped to ~30 ms in some runs; bench/RESULTS.md)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if app.state.prediction_log is not None:
                app.state.prediction_log.close()

    app = FastAPI(
        title="bikecast",
        version=_package_version(),
        summary="Hourly bike-rental forecasts for Washington DC (Capital Bikeshare).",
        description=(
            "POST the hours you want forecast (timestamp with a UTC offset and the weather "
            f"forecast, 1 to {settings.max_batch} per request) to /predict; a station-grain "
            "model (GET /model: grain) also needs each record's station_id. Prometheus "
            "metrics are at /metrics."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    registry = _instrument(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    add_error_handlers(app)
    app.include_router(api_router(settings.max_batch))
    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bikecast")
    except PackageNotFoundError:
        return "0+unknown"
