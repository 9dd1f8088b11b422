"""evaluate: the model and both baselines on the test window → metrics/evaluate.json + plots."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.evaluation import aggregate, per_station, plot_tables, score
from bikecast.ml.features import city_totals
from bikecast.ml.metrics import METRIC_NAMES
from bikecast.ml.model import load_model, predict_features

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    grain = params.grain
    test, train = pd.read_parquet(paths.TEST), pd.read_parquet(paths.TRAIN)
    history = pd.read_parquet(paths.FEATURES, columns=[*grain.keys, "rentals"])
    booster, card = load_model(paths.MODEL, paths.MODEL_META)
    predicted = predict_features(booster, test)
    # the version lets a reader (the API's /model) refuse metrics of another model
    metrics = {"model_version": card.version, **score(test, train, history, predicted, grain.by)}
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
