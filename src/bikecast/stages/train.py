"""train: XGBoost on log1p(rentals) → models/model.ubj + models/model.json, dvclive curves.

The last `train.valid_days` of the train split pick the number of boosting rounds by early
stopping (those curves go to dvclive); the model is then refit on the whole train split with
that many rounds, so the most recent weeks are learned too. The test window is never seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bikecast import io, paths
from bikecast.config import Params, TrainParams
from bikecast.features import FEATURE_COLUMNS
from bikecast.model import file_sha256, model_version
from bikecast.schema import DataError

log = logging.getLogger(__name__)


def xgb_params(params: TrainParams) -> dict[str, Any]:
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
        "nthread": 2,
    }


def matrix(table: pd.DataFrame):
    import xgboost as xgb

    return xgb.DMatrix(
        table[list(FEATURE_COLUMNS)].to_numpy(dtype="float32"),
        label=np.log1p(table["rentals"].to_numpy(dtype="float64")),
        feature_names=list(FEATURE_COLUMNS),
    )


@dataclass(frozen=True)
class Fitted:
    booster: Any
    rounds: int
    curves: dict[str, list[float]]  # {"fit": [...], "valid": [...]} RMSLE per round


def fit(train: pd.DataFrame, params: TrainParams) -> Fitted:
    """Choose the number of rounds on the last valid_days, then refit on all of train."""
    import xgboost as xgb

    cutoff = train["timestamp"].max() - pd.Timedelta(days=params.valid_days)
    fit_part, valid_part = train[train["timestamp"] <= cutoff], train[train["timestamp"] > cutoff]
    if fit_part.empty or valid_part.empty:
        raise DataError(
            f"train: {len(train)} rows cannot be split into fit and the last "
            f"{params.valid_days} validation days; lower train.valid_days"
        )
    booster_params = xgb_params(params)
    history: dict[str, dict[str, list[float]]] = {}
    probe = xgb.train(
        booster_params,
        matrix(fit_part),
        num_boost_round=params.n_estimators,
        evals=[(matrix(fit_part), "fit"), (matrix(valid_part), "valid")],
        early_stopping_rounds=params.early_stopping_rounds,
        evals_result=history,
        verbose_eval=False,
    )
    rounds = probe.best_iteration + 1
    final = xgb.train(booster_params, matrix(train), num_boost_round=rounds)
    curves = {name: [float(v) for v in result["rmse"]] for name, result in history.items()}
    return Fitted(booster=final, rounds=rounds, curves=curves)


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


def model_card(fitted: Fitted, train: pd.DataFrame, params: Params, sha256: str) -> dict:
    import xgboost

    return {
        "version": model_version(sha256),
        "sha256": sha256,
        "format": "xgboost-ubj",
        "xgboost_version": xgboost.__version__,
        "target": "log1p(rentals)",
        "feature_columns": list(FEATURE_COLUMNS),
        "rounds": fitted.rounds,
        "params": params.train.model_dump(),
        "data_window": {
            "source": params.ingest.source,
            "as_of": params.ingest.as_of,
            "train_start": train["timestamp"].min().isoformat(),
            "train_end": train["timestamp"].max().isoformat(),
            "train_rows": len(train),
        },
    }


def run(params: Params) -> dict:
    train = pd.read_parquet(paths.TRAIN)
    fitted = fit(train, params.train)
    log_curves(fitted)
    io.write_with(paths.MODEL, lambda p: fitted.booster.save_model(str(p)))
    card = model_card(fitted, train, params, file_sha256(paths.MODEL))
    io.write_json(card, paths.MODEL_META)
    log.info("train: %d rounds, model %s → %s", fitted.rounds, card["version"], paths.MODEL)
    return card
