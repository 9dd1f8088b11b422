"""Regression metrics reported for the model and every baseline, always the same five."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("rmse", "mae", "rmsle", "r2", "bias")


def regression_metrics(actual, predicted) -> dict[str, float]:
    """RMSE, MAE, RMSLE, R² and bias (mean of predicted - actual; > 0 over-forecasts)."""
    y = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty arrays; got {y.shape} and {p.shape}")
    if (y < 0).any() or (p < 0).any():
        raise ValueError("counts and forecasts must be >= 0 for RMSLE")
    err = p - y
    total = ((y - y.mean()) ** 2).sum()
    return {
        "rmse": round(float(np.sqrt(np.mean(err**2))), 4),
        "mae": round(float(np.mean(np.abs(err))), 4),
        "rmsle": round(float(np.sqrt(np.mean((np.log1p(p) - np.log1p(y)) ** 2))), 4),
        "r2": round(float(1 - (err**2).sum() / total), 4) if total > 0 else 0.0,
        "bias": round(float(err.mean()), 4),
    }


def skill(model_score: float, baseline_score: float) -> float:
    """Fraction by which the model improves on a baseline (1 = perfect, 0 = no better)."""
    if baseline_score == 0:
        return 0.0
    return round(1 - model_score / baseline_score, 4)
