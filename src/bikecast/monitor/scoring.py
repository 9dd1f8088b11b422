"""Live error: each logged forecast against the rentals its hour turned out to have.

Every logged forecast counts (a forecast asked for twice is scored twice: that is what the
clients got). Forecasts of hours the source does not have yet are `pending`, not errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bikecast.data.schema import TIMEZONE
from bikecast.ml.metrics import regression_metrics

ERROR_METRICS = ("rmsle", "mae", "bias")


def join_actuals(logged: pd.DataFrame, actuals: pd.DataFrame, station: bool) -> pd.DataFrame:
    """The log with an `actual` column (NaN where the hour is not known yet)."""
    keys = ["timestamp", "station_id"] if station else ["timestamp"]
    truth = actuals[[*keys, "rentals"]].dropna(subset=["rentals"])
    truth = truth.assign(timestamp=pd.to_datetime(truth["timestamp"], utc=True))
    truth = truth.drop_duplicates(subset=keys, keep="last").rename(
        columns={"timestamp": "forecast_hour", "rentals": "actual"}
    )
    on = ["forecast_hour", "station_id"] if station else ["forecast_hour"]
    if station:
        truth["station_id"] = truth["station_id"].astype(str)
    return logged.merge(truth, on=on, how="left", validate="many_to_one")


def errors(frame: pd.DataFrame) -> dict:
    """n, RMSLE, MAE and bias (mean forecast - actual: > 0 over-forecasts)."""
    metrics = regression_metrics(frame["actual"], frame["prediction"])
    return {"n": len(frame), **{name: metrics[name] for name in ERROR_METRICS}}


def grouped(frame: pd.DataFrame, by: str) -> dict[str, dict]:
    return {str(key): errors(group) for key, group in frame.groupby(by, sort=True)}


def score(joined: pd.DataFrame, station: bool) -> dict:
    """The error tables of monitor.json."""
    scored = joined.dropna(subset=["actual"])
    out: dict = {
        "forecasts": len(joined),
        "scored": len(scored),
        "pending": int(joined["actual"].isna().sum()),
    }
    if scored.empty:
        return out | {"overall": None, "by_model_version": {}, "by_day": {}}
    scored = scored.assign(day=scored["forecast_hour"].dt.tz_convert(TIMEZONE).dt.date)
    out |= {
        "overall": errors(scored),
        "by_model_version": grouped(scored, "model_version"),
        "by_day": grouped(scored, "day"),
    }
    if station:
        out["by_station"] = grouped(scored, "station_id")
    return out


def out_of_range(joined: pd.DataFrame) -> dict:
    """The share of forecasts with an input outside the served fit's training range."""
    flags = joined["outside_training_range"]
    outside = flags.map(len) > 0
    by_input: dict[str, int] = {}
    for names in flags[outside]:
        for name in names:
            by_input[name] = by_input.get(name, 0) + 1
    share = float(np.mean(outside)) if len(joined) else 0.0
    return {"forecasts": int(outside.sum()), "share": round(share, 4), "by_input": by_input}
