"""train: the train split → models/model.ubj + model.json, dvclive curves (ml/training.py)."""

from __future__ import annotations

import json
import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.card import ModelCard
from bikecast.ml.features import feature_columns
from bikecast.ml.model import file_sha256
from bikecast.ml.stations import StationTable
from bikecast.ml.training import fit, fit_dask, log_curves, model_card

log = logging.getLogger(__name__)


def run(params: Params) -> ModelCard:
    columns = feature_columns(params.grain)
    if params.compute.engine == "dask":
        from bikecast.compute import dask_client, read_parquet

        with dask_client(params.compute) as client:
            train = read_parquet(paths.TRAIN, params.compute, ["timestamp", "rentals", *columns])
            fitted = fit_dask(
                client, train, params.train, columns, params.compute.threads_per_worker
            )
    else:
        fitted = fit(pd.read_parquet(paths.TRAIN), params.train, columns)
    stations = None
    if params.grain.is_station:
        stations = StationTable.from_dict(json.loads(paths.STATIONS.read_text()))
    log_curves(fitted)
    io.write_with(paths.MODEL, lambda p: fitted.booster.save_model(str(p)))
    card = model_card(fitted, params, file_sha256(paths.MODEL), stations)
    io.write_json(card.to_dict(), paths.MODEL_META)
    log.info("train: %d rounds, model %s → %s", fitted.rounds, card.version, paths.MODEL)
    return card
