"""Hyper-parameter choice by time-series cross-validation inside the train split only.

The test window is never looked at: folds are rolling origins over the end of the train
split, each `fold_days` long, trained on everything before it (as the pipeline does).
"""

from __future__ import annotations

import itertools
import logging
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
    scores, skills = [], []
    for before, holdout in rolling_folds(train, n_folds, fold_days):
        predicted = predict_features(fit(before, params, columns).booster, holdout)
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
    }


def grid_search(
    train: pd.DataFrame,
    base: TrainParams,
    grid: dict[str, list],
    n_folds: int,
    fold_days: int,
) -> list[dict]:
    """Every combination of `grid` on top of `base`, best (lowest CV RMSLE) first."""
    results = []
    names = sorted(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        overrides = dict(zip(names, values, strict=True))
        params = base.model_copy(update=overrides)
        cv = cross_validate(train, params, n_folds, fold_days)
        log.info("tune: %s → CV RMSLE %.4f", overrides, cv["rmsle"])
        results.append({"params": overrides, **cv})
    return sorted(results, key=lambda r: r["rmsle"])
