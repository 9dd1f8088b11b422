"""Baselines every model must beat, fitted on the train split only."""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = pd.Timedelta(days=7)


def hour_workingday_mean(train: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
    """Mean rentals of the train split by local hour and working day."""
    keys = ["hour", "working_day"]
    means = train.groupby(keys)["rentals"].mean().rename("prediction").reset_index()
    joined = target[keys].merge(means, on=keys, how="left")
    fallback = float(train["rentals"].mean())
    return joined["prediction"].fillna(fallback).to_numpy(dtype="float64")


def seasonal_naive(history: pd.DataFrame, target: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Rentals at the same hour one week earlier (a one-week-ahead forecast).

    `history` holds every observed hour (train and test); when the hour a week earlier is
    missing from it, the hour x working-day mean stands in.
    """
    observed = history.set_index("timestamp")["rentals"]
    observed = observed[~observed.index.duplicated()]
    week_ago = observed.reindex(target["timestamp"] - WEEK).to_numpy(dtype="float64")
    fallback = hour_workingday_mean(train, target)
    return np.where(np.isnan(week_ago), fallback, week_ago)
