"""bikecast tune: CV error and fit seconds per setting, the Pareto front, the time-aware choice."""

import pytest
from tests.conftest import make_canonical

from bikecast.config import TrainParams
from bikecast.ml.tune import choose, grid_search
from bikecast.stages.features import feature_table


def result(rmsle, fit_s, name):
    return {"params": {"name": name}, "rmsle": rmsle, "fit_s": fit_s}


def test_the_fastest_setting_within_the_tolerance_of_the_best_is_chosen():
    results = [result(0.400, 9.0, "slow"), result(0.402, 3.0, "fast"), result(0.45, 1.0, "bad")]
    assert choose(results, 0.01)["params"]["name"] == "fast"
    assert choose(results, 0.0)["params"]["name"] == "slow"  # no tolerance: lowest error
    assert choose(results, 0.2)["params"]["name"] == "bad"


@pytest.fixture(scope="module")
def train():
    return feature_table(make_canonical(hours=24 * 42, start="2011-05-01T04:00Z", seed=3))


def test_grid_search_reports_error_seconds_rounds_and_the_pareto_front(train):
    base = TrainParams(n_estimators=80, early_stopping_rounds=10, valid_days=7)
    results = grid_search(train, base, {"learning_rate": [0.05, 0.3]}, n_folds=2, fold_days=7)
    assert [r["rmsle"] for r in results] == sorted(r["rmsle"] for r in results)
    by_rate = {r["params"]["learning_rate"]: r for r in results}
    for r in results:
        assert r["fit_s"] > 0 and len(r["fit_s_folds"]) == 2
        assert 1 <= r["rounds"] <= 80
    # a six times larger step needs fewer rounds to stop
    assert by_rate[0.3]["rounds"] < by_rate[0.05]["rounds"]
    # the front: nothing on it is beaten on both objectives; at least one result is on it
    front = [r for r in results if r["pareto"]]
    assert front
    for r in front:
        assert not any(o["rmsle"] < r["rmsle"] and o["fit_s"] < r["fit_s"] for o in results)
