"""bikecast.serve.metrics: requests are counted by the route they matched, the one-pass
histogram update equals prometheus_client's own, and a request's forecasts count the same
whether they come one by one or in one batch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bikecast.serve.metrics import (
    PREDICTION_BUCKETS,
    SMALL,
    ForecastMetrics,
    RequestMetrics,
    observe_all,
    request_series,
)


def test_requests_are_counted_by_the_route_they_matched():
    """The handler label is the route's template (a 405 too), "none" for a path no route
    matches; a handler that raises counts as the 500 the server answers; /metrics is not
    counted; a router included with a prefix keeps its full path."""
    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient

    registry = CollectorRegistry()
    app = FastAPI()
    app.add_middleware(RequestMetrics, **request_series(registry))
    router = APIRouter(prefix="/v1")

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/metrics")
    async def metrics() -> str:
        return "x"

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/v1/items/1", "/v1/items/2", "/v1/items/x", "/nowhere", "/boom", "/metrics"):
            client.get(path)
        client.post("/v1/items/1")
    seen = samples(registry)
    counted = {
        name: value for name, value in seen.items() if name.startswith("http_requests_total")
    }
    assert counted == {
        'http_requests_total{handler="/v1/items/{item_id}",method="GET",status="200"}': 2.0,
        'http_requests_total{handler="/v1/items/{item_id}",method="GET",status="422"}': 1.0,
        'http_requests_total{handler="/v1/items/{item_id}",method="POST",status="405"}': 1.0,
        'http_requests_total{handler="none",method="GET",status="404"}': 1.0,
        'http_requests_total{handler="/boom",method="GET",status="500"}': 1.0,
    }
    assert seen['http_request_duration_seconds_count{handler="/boom",method="GET"}'] == 1.0


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("h", "h", buckets=PREDICTION_BUCKETS, registry=registry)


def test_one_pass_equals_observe_per_value_at_every_bound():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.gamma(1.5, 120, 5000),
            np.array(PREDICTION_BUCKETS, dtype="float64"),  # exactly on the bounds: le
            np.nextafter(np.array(PREDICTION_BUCKETS, dtype="float64"), np.inf),
            [0.0, 5_000.0],
        ]
    )
    looped, by_value = _histogram()
    for value in values.tolist():
        by_value.observe(value)
    passed, at_once = _histogram()
    observe_all(at_once, values)
    one, other = samples(passed), samples(looped)
    assert one.pop("h_sum") == pytest.approx(other.pop("h_sum"), rel=1e-12)
    assert one == other  # every bucket and the count, exactly
    assert one['h_bucket{le="+Inf"}'] == len(values) == 5024


def test_small_requests_count_as_one_big_one():
    """observe() counts a few forecasts in Python and many with numpy: the same samples."""
    rng = np.random.default_rng(1)
    n = 40 * SMALL
    inputs = {"temp_c": rng.uniform(-15, 45, n), "wind_kmh": rng.uniform(0, 80, n)}
    predictions = rng.gamma(1.5, 120, n)

    ranges = {"temp_c": (-5.0, 38.0), "wind_kmh": (0.0, 60.0)}
    model = SimpleNamespace(version="v1", card=SimpleNamespace(input_ranges=ranges))

    one_by_one, at_once = CollectorRegistry(), CollectorRegistry()
    small = ForecastMetrics(one_by_one)
    for start in range(0, n, 3):  # 3 forecasts a request: the Python path
        part = {name: values[start : start + 3] for name, values in inputs.items()}
        small.observe(model, part, predictions[start : start + 3])
    ForecastMetrics(at_once).observe(model, inputs, predictions)  # n > SMALL: the numpy path
    few, many = samples(one_by_one), samples(at_once)
    total = 'bikecast_prediction_rentals_sum{model_version="v1"}'
    assert few.pop(total) == pytest.approx(many.pop(total), rel=1e-12)
    assert few == many
    out = few['bikecast_inputs_out_of_range_total{input="temp_c",model_version="v1"}']
    assert out == np.count_nonzero((inputs["temp_c"] < -5) | (inputs["temp_c"] > 38)) > 0


def samples(registry: CollectorRegistry) -> dict[str, float]:
    """name{labels} → value of every sample, without the creation time."""
    lines = generate_latest(registry).decode().splitlines()
    pairs = (line.rsplit(" ", 1) for line in lines if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs if "_created" not in name}
