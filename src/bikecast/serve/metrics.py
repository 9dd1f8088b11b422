"""What /metrics says: requests and their latencies by route, and the forecasts themselves (how
many were made, how they are distributed, how many inputs fell outside the ranges the served
fit was trained on). The alerts and the dashboard watch these (deploy/prometheus/alerts.yaml,
deploy/grafana/bikecast.json) between retrains.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from bikecast.serve.state import LoadedModel

# Request latency buckets, in seconds: one-record forecasts take milliseconds, 10k-record
# batches a few hundred (bench/RESULTS.md); the slow-predictions alert fires at 0.5.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Rentals per hour: the city's quiet nights are under 10, its busiest hours near 1,000.
PREDICTION_BUCKETS = (1, 5, 10, 25, 50, 100, 200, 300, 500, 750, 1000)
SMALL = 16  # forecasts per request counted one by one


class RequestMetrics:
    """Pure ASGI middleware: `http_requests_total{handler,method,status}` and
    `http_request_duration_seconds{handler,method}`, the series (and labels) of
    prometheus-fastapi-instrumentator, which this replaces: it matched every request against
    the routes a second time, ~45 µs of a one-record /predict's ~370 in process
    (bench/RESULTS.md). Here the handler is the route Starlette matched (`scope["route"]`:
    its path template, also for a 405), and "none" when no route did."""

    def __init__(
        self,
        app: ASGIApp,
        requests: Counter,
        latency: Histogram,
        excluded: tuple[str, ...] = ("/metrics",),
    ) -> None:
        self.app, self.requests, self.latency, self.excluded = app, requests, latency, excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500  # what the server answers when the app raises

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            handler = getattr(scope.get("route"), "path", None) or "none"
            if handler not in self.excluded:
                method = scope["method"]
                self.requests.labels(handler, method, str(status)).inc()
                self.latency.labels(handler, method).observe(perf_counter() - start)


def request_series(registry: CollectorRegistry) -> dict[str, Any]:
    """RequestMetrics' two series, registered once per app (the middleware is built later)."""
    return {
        "requests": Counter(
            "http_requests",
            "Total number of requests by method, status and handler.",
            ["handler", "method", "status"],
            registry=registry,
        ),
        "latency": Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests in seconds",
            ["handler", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
    }


class ForecastMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "bikecast_predictions",
            "Hours forecast by /predict, by model version.",
            ["model_version"],
            registry=registry,
        )
        self.rentals = Histogram(
            "bikecast_prediction_rentals",
            "Forecast rentals per hour, by model version.",
            ["model_version"],
            buckets=PREDICTION_BUCKETS,
            registry=registry,
        )
        self.out_of_range = Counter(
            "bikecast_inputs_out_of_range",
            "Forecast hours whose input lay outside the served fit's training range "
            "(the model card's input_ranges), by model version and input.",
            ["model_version", "input"],
            registry=registry,
        )

    def observe(self, model: LoadedModel, inputs: dict[str, Any], predictions: np.ndarray) -> None:
        """Count one request's forecasts (thread-safe: big batches call it in the pool)."""
        version = model.version
        self.predictions.labels(version).inc(len(predictions))
        observe_all(self.rentals.labels(version), predictions)
        for name, (low, high) in (model.card.input_ranges or {}).items():
            outside = count_outside(inputs[name], low, high)
            if outside:
                self.out_of_range.labels(version, name).inc(outside)


def count_outside(values: np.ndarray, low: float, high: float) -> int:
    """How many values lie outside [low, high]; a few in plain Python (numpy's per-call cost
    is more than their work)."""
    if len(values) <= SMALL:
        return sum(1 for v in values.tolist() if v < low or v > high)
    return int(np.count_nonzero((values < low) | (values > high)))


def observe_all(histogram: Any, values: np.ndarray) -> None:
    """`histogram.observe(v)` for every value, in one numpy pass.

    prometheus_client's own call costs ~1-5 µs a value (10-50 ms for a 10,000-record
    request). Its histogram keeps one counter per bucket (not cumulative) and a sum, so each
    bucket's count goes in at once. A few values, or a client version without those
    attributes, get the plain loop (numpy's per-call cost is more than a few values' work).
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if len(values) <= SMALL or bounds is None or buckets is None or total is None:
        for value in values.tolist():
            histogram.observe(value)
        return
    # the first bound >= the value, as observe() picks it (the last bound is +Inf)
    index = np.searchsorted(np.asarray(bounds, dtype="float64"), values, side="left")
    counts = np.bincount(np.minimum(index, len(bounds) - 1), minlength=len(bounds))
    for bucket, count in zip(buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)
    total.inc(float(np.sum(values)))
