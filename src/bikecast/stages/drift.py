"""drift: the test window vs a like-with-like reference → reports/drift.html + metrics/drift.json.

The method lives in bikecast.ml.drift; Evidently is imported only inside it, so nothing else
pays its ~8 s import.
"""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.drift_report import measure
from bikecast.ml.features import city_totals
from bikecast.ml.model import load_model, predict_features

log = logging.getLogger(__name__)


def run(params: Params) -> dict:
    train, test = pd.read_parquet(paths.TRAIN), pd.read_parquet(paths.TEST)
    booster, _ = load_model(paths.EVAL_MODEL, paths.EVAL_META)  # it never saw the test window
    if params.grain.is_station:  # the city's weather, calendar, demand and forecast
        train = city_totals(train, predict_features(booster, train))
        test = city_totals(test, predict_features(booster, test))
    result = measure(train, test, params.drift, booster)
    io.write_text(result.html, paths.DRIFT_REPORT)
    io.write_json(result.summary, paths.DRIFT_METRICS)
    features = result.summary["features"]
    log.info(
        "drift: %d of %d features drifted vs %s; retrain_recommended=%s: %s",
        features["drifted"],
        features["tested"],
        result.summary["reference"]["kind"],
        result.summary["retrain_recommended"],
        result.summary["reason"],
    )
    return result.summary
