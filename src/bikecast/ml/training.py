"""train: XGBoost on log1p(rentals) → models/model.ubj + models/model.json, dvclive curves.

The last `train.valid_days` of the train split pick the number of boosting rounds by early
stopping (those curves go to dvclive); the model is then refit on the whole train split with
that many rounds, so the most recent weeks are learned too. The test window is never seen.

With `compute.engine: dask` the same two steps run through `xgboost.dask` on the cluster: each
worker holds its partitions as a quantised DaskQuantileDMatrix and the workers build every
tree together (Rabit allreduce), so no worker ever needs the whole train split in memory.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bikecast import paths
from bikecast.config import Params, TrainParams
from bikecast.data.schema import DataError
from bikecast.ml.card import DataWindow, Evaluation, ModelCard
from bikecast.ml.features import FEATURE_COLUMNS, LEVEL_COLUMN, feature_columns, feature_types
from bikecast.ml.level import LevelTable
from bikecast.ml.model import model_version
from bikecast.ml.stations import StationTable
from bikecast.ml.xgb import xgboost, xgboost_dask

log = logging.getLogger(__name__)


def threads() -> int:
    """XGBoost threads per local fit: OMP_NUM_THREADS when set, else 2. The model is the same
    to the byte whatever the count; 2 fit 1.2-1.5x faster than 1 alone, but two 2-thread fits
    side by side on 2 cores take 3-50x longer than alone (OpenMP's idle threads spin on the
    core the other fit needs) and two 1-thread fits 1.3-1.4x (bench/bench_contention.py)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 2


def xgb_params(params: TrainParams, nthread: int) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror",  # on log1p(target): minimises RMSLE
        "eval_metric": "rmse",
        "tree_method": "hist",
        "eta": params.learning_rate,
        "max_depth": params.max_depth,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "min_child_weight": params.min_child_weight,
        "lambda": params.reg_lambda,
        "seed": params.seed,
        "nthread": nthread,
    }


def target(table: pd.DataFrame) -> Any:
    """What the trees learn: log1p(rentals), relative to the level where the table has one
    (pandas or Dask)."""
    label = np.log1p(table["rentals"].astype("float64"))
    return label - table[LEVEL_COLUMN].astype("float64") if LEVEL_COLUMN in table else label


def matrix(table: pd.DataFrame, columns: tuple[str, ...] = FEATURE_COLUMNS):
    xgb = xgboost()
    types = feature_types(columns)
    return xgb.DMatrix(
        table[list(columns)].to_numpy(dtype="float32"),
        label=target(table).to_numpy(dtype="float64"),
        feature_names=list(columns),
        feature_types=types,
        enable_categorical=types is not None,
    )


@dataclass(frozen=True)
class Fitted:
    booster: Any
    rounds: int
    curves: dict[str, list[float]]  # {"fit": [...], "valid": [...]} RMSLE per round
    window: dict  # train_window: the rows it was trained on


def hour_counts(stamps) -> pd.Series:
    """Rows per hour of a pandas or Dask timestamp column, in time order. One pass over the
    data gives the train window, the validation cutoff and the size of both parts."""
    counts = stamps.value_counts()
    if hasattr(counts, "compute"):
        counts = counts.compute()
    return counts.sort_index()


def _cutoff(counts: pd.Series, params: TrainParams) -> pd.Timestamp:
    """The last fit hour: the final `valid_days` go to validation; both parts must have rows."""
    if counts.empty:
        raise DataError("train: the train split has no rows")
    cutoff = counts.index[-1] - pd.Timedelta(days=params.valid_days)
    rows, fit_rows = int(counts.sum()), int(counts[counts.index <= cutoff].sum())
    if not fit_rows or fit_rows == rows:
        raise DataError(
            f"train: {rows} rows cannot be split into fit and the last "
            f"{params.valid_days} validation days; lower train.valid_days"
        )
    return cutoff


class _Local:
    """The recipe's matrices and boosting in this process (xgboost)."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns

    def matrix(self, frame: pd.DataFrame, ref: Any = None) -> Any:
        return matrix(frame, self.columns)

    def train(self, params: dict, dtrain: Any, rounds: int, **kwargs: Any) -> tuple[Any, dict]:
        xgb = xgboost()
        history: dict[str, dict[str, list[float]]] = {}
        booster = xgb.train(params, dtrain, num_boost_round=rounds, evals_result=history, **kwargs)
        return booster, history


class _Dask:
    """The same on a Dask cluster (xgboost.dask): each worker holds its partitions as a
    quantised DaskQuantileDMatrix and the workers build every tree together."""

    def __init__(self, client: Any, columns: tuple[str, ...]) -> None:
        self.client, self.columns = client, columns

    def matrix(self, frame: Any, ref: Any = None) -> Any:
        dxgb = xgboost_dask()
        types = feature_types(self.columns)
        return dxgb.DaskQuantileDMatrix(
            self.client,
            frame[list(self.columns)].astype("float32"),
            label=target(frame),
            feature_names=list(self.columns),
            feature_types=types,
            enable_categorical=types is not None,
            ref=ref,
        )

    def train(self, params: dict, dtrain: Any, rounds: int, **kwargs: Any) -> tuple[Any, dict]:
        dxgb = xgboost_dask()
        result = dxgb.train(self.client, params, dtrain, num_boost_round=rounds, **kwargs)
        return result["booster"], result["history"]


def _recipe(engine: _Local | _Dask, train: Any, params: TrainParams, nthread: int) -> Fitted:
    """The one fit recipe: early stopping on the last valid_days picks the number of rounds,
    then a refit on the whole train split with that many rounds."""
    counts = hour_counts(train["timestamp"])
    cutoff = _cutoff(counts, params)
    fit_part, valid_part = train[train["timestamp"] <= cutoff], train[train["timestamp"] > cutoff]
    booster_params = xgb_params(params, nthread)
    fit_matrix = engine.matrix(fit_part)  # one copy serves training and its curve
    probe, history = engine.train(
        booster_params,
        fit_matrix,
        params.n_estimators,
        evals=[(fit_matrix, "fit"), (engine.matrix(valid_part, fit_matrix), "valid")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    del fit_matrix  # freed before the whole split is copied for the refit
    final, _ = engine.train(booster_params, engine.matrix(train), probe.best_iteration + 1)
    curves = {name: [float(v) for v in result["rmse"]] for name, result in history.items()}
    return Fitted(final, probe.best_iteration + 1, curves, train_window(counts))


def _refit(engine: _Local | _Dask, rows: Any, params: TrainParams, rounds: int, nthread: int):
    booster, _ = engine.train(xgb_params(params, nthread), engine.matrix(rows), rounds)
    return Fitted(booster, rounds, {}, train_window(hour_counts(rows["timestamp"])))


def refit(rows: pd.DataFrame, params: TrainParams, columns: tuple[str, ...], rounds: int) -> Fitted:
    """The served fit: the recipe's parameters and the evaluation fit's number of rounds on
    every row up to as_of (the test window included), so the model served is as fresh as the
    data. More rows with the same rounds: the rule early stopping chose, kept as it is."""
    return _refit(_Local(columns), rows, params, rounds, nthread=threads())


def refit_dask(client, rows, params: TrainParams, columns, rounds: int, nthread: int = 1) -> Fitted:
    """`refit` on a Dask frame through xgboost.dask."""
    return _refit(_Dask(client, columns), rows, params, rounds, nthread)


def fit(
    train: pd.DataFrame, params: TrainParams, columns: tuple[str, ...] = FEATURE_COLUMNS
) -> Fitted:
    """Choose the number of rounds on the last valid_days, then refit on all of train."""
    return _recipe(_Local(columns), train, params, nthread=threads())


def fit_dask(
    client, train, params: TrainParams, columns: tuple[str, ...], nthread: int = 1
) -> Fitted:
    """`fit` on a Dask frame through xgboost.dask: same recipe, same parameters."""
    return _recipe(_Dask(client, columns), train, params, nthread)


def log_curves(fitted: Fitted) -> None:
    """Training curves (RMSLE per round) and a summary for dvc plots/metrics."""
    from dvclive import Live

    with Live(str(paths.DVCLIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        for fit_value, valid_value in zip(
            fitted.curves["fit"], fitted.curves["valid"], strict=True
        ):
            live.log_metric("fit/rmsle", round(fit_value, 6), plot=True)
            live.log_metric("valid/rmsle", round(valid_value, 6), plot=True)
            live.next_step()
        live.summary["rounds"] = fitted.rounds
        live.summary["valid_rmsle_best"] = round(min(fitted.curves["valid"]), 6)


# The inputs a client sends as numbers; their training ranges go in the served fit's card.
RANGED_INPUTS = ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")


def input_ranges(rows: Any) -> dict[str, tuple[float, float]]:
    """[min, max] of each weather input over a fit's rows (pandas or Dask)."""
    columns = rows[list(RANGED_INPUTS)]
    low, high = columns.min(), columns.max()
    if hasattr(low, "compute"):
        import dask

        low, high = dask.compute(low, high)
    return {c: (round(float(low[c]), 3), round(float(high[c]), 3)) for c in RANGED_INPUTS}


def model_card(
    fitted: Fitted,
    params: Params,
    sha256: str,
    stations: StationTable | None = None,
    evaluation: ModelCard | None = None,
    level: LevelTable | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> ModelCard:
    """The card of a fit; with `evaluation` (the evaluation fit's card), of the served fit."""
    return ModelCard(
        version=model_version(sha256),
        sha256=sha256,
        xgboost_version=xgboost().__version__,
        grain=params.grain,
        compute_engine=params.compute.engine,
        feature_columns=feature_columns(params.grain),
        rounds=fitted.rounds,
        fit="served" if evaluation else "evaluation",
        evaluation=(
            Evaluation(
                version=evaluation.version,
                **evaluation.data_window.model_dump(
                    include={"train_start", "train_end", "train_rows"}
                ),
            )
            if evaluation
            else None
        ),
        params=params.train.model_dump(),
        data_window=DataWindow(
            source=params.ingest.source, as_of=params.ingest.as_of, **fitted.window
        ),
        # what the API needs for station features after the data end
        stations=stations.latest(params.split.test_days).to_dict() if stations else None,
        target="log1p(rentals) - level" if level else "log1p(rentals)",
        level=level.tail(params.split.test_days).to_dict() if level else None,
        input_ranges=ranges,
    )


def train_window(counts: pd.Series) -> dict:
    """First and last train hour and the row count, from `hour_counts`."""
    return {
        "train_start": counts.index[0].isoformat(),
        "train_end": counts.index[-1].isoformat(),
        "train_rows": int(counts.sum()),
    }
