"""evaluate: the model and both baselines on the test window → metrics/evaluate.json + plots.

At station grain the model is scored on every station-hour (baselines per station), per
station, and summed per hour against a city model trained on the same hours' totals: does
forecasting stations lose anything the city total would have had?
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bikecast.config import Params
from bikecast.ml import baselines
from bikecast.ml.features import city_totals
from bikecast.ml.metrics import regression_metrics, skill
from bikecast.ml.model import predict_features

WORST_STATIONS = 5

log = logging.getLogger(__name__)


def score(
    test: pd.DataFrame,
    train: pd.DataFrame,
    history: pd.DataFrame,
    predicted: np.ndarray,
    by: tuple[str, ...] = (),
) -> dict:
    """Metrics of the model and the baselines on the same test rows, and the model's skill."""
    actual = test["rentals"].to_numpy()
    model = regression_metrics(actual, predicted)
    base = {
        "seasonal_naive": regression_metrics(
            actual, baselines.seasonal_naive(history, test, train, by)
        ),
        "hour_workingday_mean": regression_metrics(
            actual, baselines.hour_workingday_mean(train, test, by)
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


def plot_tables(
    test: pd.DataFrame, predicted: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted vs actual per hour, and the mean residual by local hour of day (at station
    grain: of the city totals, `test` then carries the summed `predicted` column)."""
    if predicted is None:
        predicted = test["predicted"].to_numpy()
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


def per_station(test: pd.DataFrame, predicted: np.ndarray) -> dict:
    """RMSLE of each station over the test window: the spread, and the worst stations."""
    rows = pd.DataFrame(
        {
            "station_id": test["station_id"].astype(str).to_numpy(),
            "sq_log_error": (np.log1p(predicted) - np.log1p(test["rentals"].to_numpy())) ** 2,
            "rentals": test["rentals"].to_numpy(),
        }
    )
    grouped = rows.groupby("station_id")
    table = pd.DataFrame(
        {
            "rmsle": np.sqrt(grouped["sq_log_error"].mean()),
            "rentals_per_hour": grouped["rentals"].mean(),
        }
    )
    worst = table.sort_values("rmsle", ascending=False).head(WORST_STATIONS)
    return {
        "stations": len(table),
        "rmsle": {
            q: round(float(table["rmsle"].quantile(v)), 4)
            for q, v in (("median", 0.5), ("p90", 0.9), ("max", 1.0))
        },
        "worst": [
            {"station_id": sid, "rmsle": round(float(r.rmsle), 4),
             "rentals_per_hour": round(float(r.rentals_per_hour), 3)}
            for sid, r in worst.iterrows()
        ],
    }  # fmt: skip


def aggregate(
    test: pd.DataFrame, train: pd.DataFrame, predicted: np.ndarray, params: Params
) -> dict:
    """Station forecasts summed per hour vs a city model trained on the hourly totals of the
    same train split, both scored on the city's total of the same test hours."""
    from bikecast.ml.training import fit

    city_test = city_totals(test, predicted)
    city_model = fit(city_totals(train), params.train).booster
    actual = city_test["rentals"].to_numpy()
    station_sum = regression_metrics(actual, city_test["predicted"].to_numpy())
    city = regression_metrics(actual, predict_features(city_model, city_test))
    return {
        "hours": len(city_test),
        "station_sum": station_sum,
        "city_model": city,
        "skill": {
            f"{metric}_station_sum_vs_city_model": skill(station_sum[metric], city[metric])
            for metric in ("rmsle", "rmse")
        },
    }
