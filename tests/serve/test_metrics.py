"""bikecast.serve.metrics: the one-pass histogram update equals prometheus_client's own."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bikecast.serve.metrics import PREDICTION_BUCKETS, observe_all


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


def samples(registry: CollectorRegistry) -> dict[str, float]:
    """name{labels} → value of every sample, without the creation time."""
    lines = generate_latest(registry).decode().splitlines()
    pairs = (line.rsplit(" ", 1) for line in lines if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs if not name.startswith("h_created")}
