"""evaluate: the model and both baselines on the test window → metrics/evaluate.json + plots."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bikecast import baselines, io, paths
from bikecast.metrics import METRIC_NAMES, regression_metrics, skill
from bikecast.model import load_model, predict_features

log = logging.getLogger(__name__)


def score(
    test: pd.DataFrame, train: pd.DataFrame, history: pd.DataFrame, predicted: np.ndarray
) -> dict:
    """Metrics of the model and the baselines on the same test rows, and the model's skill."""
    actual = test["rentals"].to_numpy()
    model = regression_metrics(actual, predicted)
    base = {
        "seasonal_naive": regression_metrics(
            actual, baselines.seasonal_naive(history, test, train)
        ),
        "hour_workingday_mean": regression_metrics(
            actual, baselines.hour_workingday_mean(train, test)
        ),
    }
    return {
        "model": model,
        "baselines": base,
        "skill": {
            f"{metric}_vs_{name}": skill(model[metric], scores[metric])
            for name, scores in base.items()
            for metric in ("rmsle", "rmse")
        },
        "test_window": {
            "start": test["timestamp"].min().isoformat(),
            "end": test["timestamp"].max().isoformat(),
            "rows": len(test),
        },
    }


def plot_tables(test: pd.DataFrame, predicted: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted vs actual per hour, and the mean residual by local hour of day."""
    predictions = pd.DataFrame(
        {
            "timestamp": test["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "actual": test["rentals"].to_numpy(),
            "predicted": np.round(predicted, 2),
        }
    )
    residual = pd.DataFrame(
        {"hour": test["hour"].astype(int), "residual": predicted - test["rentals"]}
    )
    by_hour = (
        residual.groupby("hour")["residual"]
        .agg(mean_residual="mean", mean_abs_error=lambda r: r.abs().mean())
        .round(3)
        .reset_index()
    )
    return predictions, by_hour


def run() -> dict:
    test, train = pd.read_parquet(paths.TEST), pd.read_parquet(paths.TRAIN)
    history = pd.read_parquet(paths.FEATURES, columns=["timestamp", "rentals"])
    booster, _ = load_model(paths.MODEL, paths.MODEL_META)
    predicted = predict_features(booster, test)
    metrics = score(test, train, history, predicted)
    predictions, by_hour = plot_tables(test, predicted)
    io.write_csv(predictions, paths.PREDICTIONS_PLOT)
    io.write_csv(by_hour, paths.RESIDUALS_PLOT)
    io.write_json(metrics, paths.EVALUATE_METRICS)
    log.info(
        "evaluate: model %s",
        ", ".join(f"{k}={metrics['model'][k]}" for k in METRIC_NAMES),
    )
    return metrics
