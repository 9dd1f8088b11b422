"""Baselines every model must beat, fitted on the train split only.

`by` adds grouping keys: at station grain each station gets its own baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = pd.Timedelta(days=7)


def hour_workingday_mean(
    train: pd.DataFrame, target: pd.DataFrame, by: tuple[str, ...] = ()
) -> np.ndarray:
    """Mean rentals of the train split by local hour and working day."""
    keys = [*by, "hour", "working_day"]
    means = train.groupby(keys)["rentals"].mean().rename("prediction").reset_index()
    joined = target[keys].merge(means, on=keys, how="left")
    fallback = float(train["rentals"].mean())
    return joined["prediction"].fillna(fallback).to_numpy(dtype="float64")


def seasonal_naive(
    history: pd.DataFrame, target: pd.DataFrame, train: pd.DataFrame, by: tuple[str, ...] = ()
) -> np.ndarray:
    """Rentals at the same hour one week earlier (a one-week-ahead forecast).

    `history` holds every observed hour (train and test); when the hour a week earlier is
    missing from it, the hour x working-day mean stands in.
    """
    keys = [*by, "timestamp"]
    observed = history.set_index(keys)["rentals"]
    observed = observed[~observed.index.duplicated()]
    week_ago = target[keys].assign(timestamp=target["timestamp"] - WEEK)
    lookup = pd.MultiIndex.from_frame(week_ago) if by else pd.Index(week_ago["timestamp"])
    values = observed.reindex(lookup).to_numpy(dtype="float64")
    fallback = hour_workingday_mean(train, target, by)
    return np.where(np.isnan(values), fallback, values)
