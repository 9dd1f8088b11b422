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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bikecast import paths
from bikecast.config import Params, TrainParams
from bikecast.data.schema import DataError
from bikecast.ml.features import FEATURE_COLUMNS, feature_columns, feature_types
from bikecast.ml.model import model_version
from bikecast.ml.stations import StationTable

log = logging.getLogger(__name__)


def xgb_params(params: TrainParams, nthread: int = 2) -> dict[str, Any]:
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


def matrix(table: pd.DataFrame, columns: tuple[str, ...] = FEATURE_COLUMNS):
    import xgboost as xgb

    types = feature_types(columns)
    return xgb.DMatrix(
        table[list(columns)].to_numpy(dtype="float32"),
        label=np.log1p(table["rentals"].to_numpy(dtype="float64")),
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


def _fitted(probe_booster, final_booster, history: dict, counts: pd.Series) -> Fitted:
    curves = {name: [float(v) for v in result["rmse"]] for name, result in history.items()}
    rounds = probe_booster.best_iteration + 1
    return Fitted(final_booster, rounds, curves, train_window(counts))


def fit(
    train: pd.DataFrame, params: TrainParams, columns: tuple[str, ...] = FEATURE_COLUMNS
) -> Fitted:
    """Choose the number of rounds on the last valid_days, then refit on all of train."""
    import xgboost as xgb

    counts = hour_counts(train["timestamp"])
    cutoff = _cutoff(counts, params)
    fit_part, valid_part = train[train["timestamp"] <= cutoff], train[train["timestamp"] > cutoff]
    booster_params = xgb_params(params)
    history: dict[str, dict[str, list[float]]] = {}
    fit_matrix = matrix(fit_part, columns)  # one copy serves training and its curve
    probe = xgb.train(
        booster_params,
        fit_matrix,
        num_boost_round=params.n_estimators,
        evals=[(fit_matrix, "fit"), (matrix(valid_part, columns), "valid")],
        early_stopping_rounds=params.early_stopping_rounds,
        evals_result=history,
        verbose_eval=False,
    )
    del fit_matrix  # freed before the whole split is copied for the refit
    final = xgb.train(
        booster_params, matrix(train, columns), num_boost_round=probe.best_iteration + 1
    )
    return _fitted(probe, final, history, counts)


def fit_dask(
    client, train, params: TrainParams, columns: tuple[str, ...], nthread: int = 1
) -> Fitted:
    """`fit` on a Dask frame through xgboost.dask: same rule, same parameters."""
    import xgboost.dask as dxgb

    counts = hour_counts(train["timestamp"])
    cutoff = _cutoff(counts, params)
    fit_part, valid_part = train[train["timestamp"] <= cutoff], train[train["timestamp"] > cutoff]
    types = feature_types(columns)

    def quantised(frame, ref=None):
        return dxgb.DaskQuantileDMatrix(
            client,
            frame[list(columns)].astype("float32"),
            label=frame["rentals"].astype("float64").map_partitions(np.log1p),
            feature_names=list(columns),
            feature_types=types,
            enable_categorical=types is not None,
            ref=ref,
        )

    booster_params = xgb_params(params, nthread)
    fit_matrix = quantised(fit_part)
    probe = dxgb.train(
        client,
        booster_params,
        fit_matrix,
        num_boost_round=params.n_estimators,
        evals=[(fit_matrix, "fit"), (quantised(valid_part, fit_matrix), "valid")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    del fit_matrix
    rounds = probe["booster"].best_iteration + 1
    final = dxgb.train(client, booster_params, quantised(train), num_boost_round=rounds)
    return _fitted(probe["booster"], final["booster"], probe["history"], counts)


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


def model_card(
    fitted: Fitted,
    params: Params,
    sha256: str,
    stations: StationTable | None = None,
) -> dict:
    import xgboost

    card = {
        "version": model_version(sha256),
        "sha256": sha256,
        "format": "xgboost-ubj",
        "xgboost_version": xgboost.__version__,
        "target": "log1p(rentals)",
        "grain": params.grain,
        "compute_engine": params.compute.engine,
        "feature_columns": list(feature_columns(params.grain)),
        "rounds": fitted.rounds,
        "params": params.train.model_dump(),
        "data_window": {
            "source": params.ingest.source,
            "as_of": params.ingest.as_of,
            **fitted.window,
        },
    }
    if stations is not None:  # what the API needs for station features after the data end
        card["stations"] = stations.latest(params.split.test_days).to_dict()
    return card


def train_window(counts: pd.Series) -> dict:
    """First and last train hour and the row count, from `hour_counts`."""
    return {
        "train_start": counts.index[0].isoformat(),
        "train_end": counts.index[-1].isoformat(),
        "train_rows": int(counts.sum()),
    }
