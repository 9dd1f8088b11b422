"""The gate and the numbers beside it (pure): verdict, deltas, importance shares, fairness."""

from __future__ import annotations

import math

import pandas as pd

from bikecast.ml.card import ModelCard
from bikecast.ml.metrics import METRIC_NAMES

PASS, FAIL, NO_BASE = "pass", "fail", "no_base"
GATE_METRIC = "rmsle"
BASELINES = ("seasonal_naive", "hour_workingday_mean")


def gate(champion: float, challenger: float, tolerance: float) -> tuple[str, dict[str, float]]:
    """pass when challenger RMSLE <= champion RMSLE x (1 + tolerance), else fail."""
    limit = champion * (1 + tolerance)
    verdict = PASS if challenger <= limit + 1e-12 else FAIL
    relative = (
        (challenger - champion) / champion
        if champion > 0
        else (0.0 if challenger == 0 else math.inf)
    )
    detail = {
        "champion": champion,
        "challenger": challenger,
        "limit": round(limit, 6),
        "relative_change": round(relative, 6) if math.isfinite(relative) else None,
    }
    return verdict, detail


def deltas(champion: dict[str, float], challenger: dict[str, float]) -> dict[str, dict]:
    """Challenger minus champion per metric, and relative to the champion where it means one."""
    absolute = {m: round(challenger[m] - champion[m], 4) for m in METRIC_NAMES}
    relative = {
        m: round((challenger[m] - champion[m]) / champion[m], 4)
        for m in ("rmse", "mae", "rmsle")
        if champion[m] > 0
    }
    return {"absolute": absolute, "relative": relative}


def importance_shares(gains: dict[str, float]) -> dict[str, float]:
    """XGBoost gain per feature as a share of the total, so two models can be compared."""
    total = sum(gains.values())
    if total <= 0:
        return {}
    return {name: round(value / total, 4) for name, value in sorted(gains.items())}


def overlap_rows(card: ModelCard, window: pd.Series) -> int:
    """Hours of the window at or before the model's last training hour (0 = fair)."""
    return int((window <= pd.Timestamp(card.data_window.train_end)).sum())
