"""Hyper-parameter choice by time-series cross-validation inside the train split only.

The test window is never looked at: folds are rolling origins over the end of the train
split, each `fold_days` long, trained on everything before it (as the pipeline does).
Time is the second objective: every result carries its fit's seconds and rounds, the
error-vs-seconds Pareto front is marked, and the choice is the fastest result within
`time_tolerance` of the lowest CV error (a retrain that costs half as much for 0.5% more
error is the one to ship).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd

from bikecast.config import TrainParams
from bikecast.data.schema import DataError
from bikecast.grain import Grain
from bikecast.ml import baselines
from bikecast.ml.features import feature_columns
from bikecast.ml.metrics import regression_metrics, skill
from bikecast.ml.model import predict_features
from bikecast.ml.training import fit

log = logging.getLogger(__name__)


# `bikecast tune` without --grid: the two parameters that matter most on the seed
DEFAULT_GRID: dict[str, list] = {"max_depth": [4, 6, 8], "min_child_weight": [1.0, 10.0, 30.0]}


def rolling_folds(
    train: pd.DataFrame, n_folds: int, fold_days: int
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(fit, holdout) pairs; the latest holdout ends at the end of the train split."""
    end = train["timestamp"].max()
    for k in reversed(range(n_folds)):
        stop = end - pd.Timedelta(days=fold_days * k)
        start = stop - pd.Timedelta(days=fold_days)
        before = train[train["timestamp"] <= start]
        holdout = train[(train["timestamp"] > start) & (train["timestamp"] <= stop)]
        if before.empty or holdout.empty:
            raise DataError(f"tune: not enough history for {n_folds} folds of {fold_days} days")
        yield before, holdout


def cross_validate(train: pd.DataFrame, params: TrainParams, n_folds: int, fold_days: int) -> dict:
    """Mean RMSLE over the folds, and the skill vs the hour x working-day mean baseline
    (per station at station grain: a train split with `station_id` rows)."""
    grain = Grain.of_frame(train)
    columns, by = feature_columns(grain), grain.by
    scores, skills, seconds, rounds = [], [], [], []
    for before, holdout in rolling_folds(train, n_folds, fold_days):
        start = time.perf_counter()
        fitted = fit(before, params, columns)
        seconds.append(time.perf_counter() - start)
        rounds.append(fitted.rounds)
        predicted = predict_features(fitted.booster, holdout)
        model = regression_metrics(holdout["rentals"], predicted)["rmsle"]
        base = regression_metrics(
            holdout["rentals"], baselines.hour_workingday_mean(before, holdout, by)
        )["rmsle"]
        scores.append(model)
        skills.append(skill(model, base))
    return {
        "rmsle": round(float(np.mean(scores)), 4),
        "rmsle_folds": scores,
        "skill_vs_hour_workingday_mean": round(float(np.mean(skills)), 4),
        "skill_folds": skills,
        # the evaluation fit's cost (early stopping, then the refit); the served fit adds
        # one more refit of `rounds` on every row
        "fit_s": round(float(np.mean(seconds)), 2),
        "fit_s_folds": [round(s, 2) for s in seconds],
        "rounds": round(float(np.mean(rounds)), 1),
    }


def grid_search(
    train: pd.DataFrame,
    base: TrainParams,
    grid: dict[str, list],
    n_folds: int,
    fold_days: int,
) -> list[dict]:
    """Every combination of `grid` on top of `base`, best (lowest CV RMSLE) first."""
    warm_up(train, base)
    results = []
    names = sorted(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        overrides = dict(zip(names, values, strict=True))
        params = base.model_copy(update=overrides)
        cv = cross_validate(train, params, n_folds, fold_days)
        log.info("tune: %s → CV RMSLE %.4f", overrides, cv["rmsle"])
        results.append({"params": overrides, **cv})
    for result in results:
        result["pareto"] = not any(_dominates(other, result) for other in results)
    return sorted(results, key=lambda r: r["rmsle"])


def warm_up(train: pd.DataFrame, base: TrainParams) -> None:
    """One short untimed fit first: the first fit of a process pays XGBoost's and OpenMP's
    start-up, which would otherwise be charged to the first setting of the grid."""
    columns = feature_columns(Grain.of_frame(train))
    fit(train, base.model_copy(update={"n_estimators": 5, "early_stopping_rounds": 2}), columns)


def _dominates(a: dict, b: dict) -> bool:
    """a is at least as good as b on error and seconds, and better on one of them."""
    return (a["rmsle"] <= b["rmsle"] and a["fit_s"] <= b["fit_s"]) and (
        a["rmsle"] < b["rmsle"] or a["fit_s"] < b["fit_s"]
    )


def choose(results: list[dict], time_tolerance: float) -> dict:
    """The fastest result whose CV RMSLE is within `time_tolerance` (relative) of the best."""
    best = min(r["rmsle"] for r in results)
    near = [r for r in results if r["rmsle"] <= best * (1 + time_tolerance)]
    return min(near, key=lambda r: (r["fit_s"], r["rmsle"]))
