"""evaluate: the model and both baselines on the test window → metrics/evaluate.json + plots."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.card import ModelCard
from bikecast.ml.evaluation import aggregate, per_station, plot_tables, score
from bikecast.ml.features import city_totals
from bikecast.ml.metrics import METRIC_NAMES
from bikecast.ml.model import load_model, predict_features

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    grain = params.grain
    test, train = pd.read_parquet(paths.TEST), pd.read_parquet(paths.TRAIN)
    history = pd.read_parquet(paths.FEATURES, columns=[*grain.keys, "rentals"])
    # the evaluation fit never saw the test window; the served fit is the same recipe on
    # every row, so these are its metrics: model_version lets the API refuse another's
    booster, evaluated = load_model(paths.EVAL_MODEL, paths.EVAL_META)
    served = ModelCard.read(paths.MODEL_META)
    predicted = predict_features(booster, test)
    metrics = {
        "model_version": served.version,
        "evaluation_fit": {
            "model_version": evaluated.version,
            **evaluated.data_window.model_dump(include={"train_start", "train_end", "train_rows"}),
        },
        **score(test, train, history, predicted, grain.by),
    }
    if grain.is_station:
        metrics["grain"] = str(grain)
        metrics["per_station"] = per_station(test, predicted)
        metrics["aggregate"] = aggregate(test, train, predicted, params)
        predictions, by_hour = plot_tables(city_totals(test, predicted), None)
    else:
        predictions, by_hour = plot_tables(test, predicted)
    io.write_csv(predictions, paths.PREDICTIONS_PLOT)
    io.write_csv(by_hour, paths.RESIDUALS_PLOT)
    io.write_json(metrics, paths.EVALUATE_METRICS)
    log.info(
        "evaluate: model %s",
        ", ".join(f"{k}={metrics['model'][k]}" for k in METRIC_NAMES),
    )
    return metrics
