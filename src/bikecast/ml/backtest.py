"""The retrain loop replayed over history: what a recipe would have done in production.

Rolling origin, one `ingest.step` at a time. At each origin the served model is fitted as
the pipeline fits it when `ingest.as_of` is that origin (the same split and the same fit
recipe, in this process, no DVC per step) and forecasts the hours of the next step, which
it has never seen. Beside it, on the same hours: the model fitted at the first origin and
never retrained, and the two baselines fitted on the served model's rows. One test window
says little about the next weeks; many origins say how a change would have fared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bikecast import io
from bikecast.config import Params
from bikecast.data.schema import DataError
from bikecast.grain import Grain
from bikecast.ml import baselines
from bikecast.ml.features import LEVEL_COLUMN, feature_columns
from bikecast.ml.level import LevelTable, level_for
from bikecast.ml.metrics import regression_metrics, skill
from bikecast.ml.model import predict_features
from bikecast.ml.split import split_by_time
from bikecast.ml.training import Fitted, fit, refit

log = logging.getLogger(__name__)

SERVED, FROZEN = "served", "never_retrained"
MODELS = (SERVED, FROZEN, "seasonal_naive", "hour_workingday_mean")
STEP_METRICS = ("rmsle", "rmse", "mae", "bias")


def served_rows(table: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The rows the pipeline fits its served model on at this as_of: all of them."""
    return table[table["timestamp"] <= as_of].reset_index(drop=True)


def pipeline_fit(rows: pd.DataFrame, params: Params, columns: tuple[str, ...]) -> Fitted:
    """What `dvc repro` serves when as_of is the last of these rows."""
    train, _ = split_by_time(rows, rows["timestamp"].max(), params.split.test_days)
    rounds = fit(train, params.train, columns).rounds
    return refit(rows, params.train, columns, rounds)


def with_level(rows: pd.DataFrame, level: LevelTable | None) -> pd.DataFrame:
    """Rows with the level a model's card would give them (its table ends where it was fitted)."""
    return rows if level is None else rows.assign(**{LEVEL_COLUMN: level.of(rows["timestamp"])})


def origins(start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta) -> list[pd.Timestamp]:
    """Origins start, start + step, ... whose whole next step ends by `end`."""
    found, origin = [], start
    while origin + step <= end:
        found.append(origin)
        origin += step
    return found


@dataclass(frozen=True)
class Backtest:
    result: dict  # metrics/backtest.json
    steps: pd.DataFrame  # one row per origin and model: what the plot shows


def run_backtest(
    table: pd.DataFrame,
    params: Params,
    start: pd.Timestamp,
    end: pd.Timestamp,
    fitter: Callable[[pd.DataFrame], Fitted] | None = None,
) -> Backtest:
    """Replay the loop over (start, end] on a feature table (the features stage's output).

    The default fitter is the pipeline's: the evaluation fit on the split at the origin
    picks the rounds (early stopping), then the served fit refits them on every row."""
    grain = Grain(params.grain)
    step = pd.Timedelta(params.ingest.step)
    columns = feature_columns(grain)
    fitter = fitter or (lambda rows: pipeline_fit(rows, params, columns))
    table = table.sort_values(list(grain.keys), ignore_index=True)
    points = origins(start, end, step)
    if not points:
        raise DataError(f"backtest: no whole {params.ingest.step} step between {start} and {end}")
    frozen, frozen_level, rows, hours = None, None, [], []
    for origin in points:
        seen = served_rows(table, origin)
        ahead = table[(table["timestamp"] > origin) & (table["timestamp"] <= origin + step)]
        if seen.empty or ahead.empty:
            raise DataError(
                f"backtest: origin {origin.isoformat()} has {len(seen)} rows to fit and "
                f"{len(ahead)} to forecast; choose a span inside the data"
            )
        served = fitter(seen).booster
        if frozen is None:  # the first origin's model, with its card's level for ever after
            frozen, frozen_level = served, level_for(seen, params)
        predicted = {
            SERVED: predict_features(served, ahead),
            FROZEN: predict_features(frozen, with_level(ahead, frozen_level)),
            # the served rows are every observed hour up to the origin: the naive's history
            "seasonal_naive": baselines.seasonal_naive(seen, ahead, seen, grain.by),
            "hour_workingday_mean": baselines.hour_workingday_mean(seen, ahead, grain.by),
        }
        actual = ahead["rentals"].to_numpy(dtype="float64")
        for name, values in predicted.items():
            scores = regression_metrics(actual, values)
            rows.append({"origin": origin, "model": name, "rows": len(ahead), **scores})
        hours.append(pd.DataFrame({"actual": actual, **predicted}))
        log.info("backtest: %s served RMSLE %.4f", origin.date(), rows[-len(predicted)]["rmsle"])
    steps = pd.DataFrame(rows)
    everything = pd.concat(hours, ignore_index=True)
    overall = {m: regression_metrics(everything["actual"], everything[m]) for m in MODELS}
    mean = float(everything["actual"].mean())
    result = {
        "span": {
            "start": points[0].isoformat(),
            "end": (points[-1] + step).isoformat(),
            "step": params.ingest.step,
            "origins": len(points),
            "hours": len(everything),
        },
        "served_fit": "every row up to the origin, rounds from the evaluation fit on its split",
        "mean_rentals": round(mean, 4),
        "overall": overall,
        "skill": {
            f"rmsle_{SERVED}_vs_{other}": skill(overall[SERVED]["rmsle"], overall[other]["rmsle"])
            for other in MODELS[1:]
        },
        "bias_share_of_mean": round(overall[SERVED]["bias"] / mean, 4) if mean else None,
        "steps": [
            {
                "origin": origin.isoformat(),
                "rows": int(group["rows"].iloc[0]),
                **{
                    r.model: {k: float(getattr(r, k)) for k in STEP_METRICS}
                    for r in group.itertuples()
                },
            }
            for origin, group in steps.groupby("origin", sort=True)
        ],
    }
    return Backtest(result=result, steps=steps)


def plot(steps: pd.DataFrame, path: Path) -> None:
    """RMSLE and bias per origin, one line per model, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name in MODELS:
        part = steps[steps["model"] == name]
        top.plot(part["origin"], part["rmsle"], marker=".", label=name)
        bottom.plot(part["origin"], part["bias"], marker=".", label=name)
    top.set_ylabel("RMSLE of the next step")
    bottom.set_ylabel("bias (rentals / hour)")
    bottom.axhline(0, color="grey", linewidth=0.8)
    top.legend(fontsize=8)
    top.set_title("Backtest: each origin's forecast of the next step")
    fig.autofmt_xdate()
    fig.tight_layout()
    io.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def default_start(end: pd.Timestamp) -> pd.Timestamp:
    """Half a year of weekly origins before `end`."""
    return end - pd.Timedelta(weeks=26)
