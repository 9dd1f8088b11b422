"""train: the train split → models/model.ubj (+ .onnx) + model.json, dvclive curves
(ml/training.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.card import ModelCard
from bikecast.ml.features import LEVEL_COLUMN, feature_columns
from bikecast.ml.level import LevelTable, level_for
from bikecast.ml.model import file_sha256
from bikecast.ml.runtime import export
from bikecast.ml.stations import StationTable
from bikecast.ml.training import (
    Fitted,
    fit,
    fit_dask,
    input_ranges,
    log_curves,
    model_card,
    refit,
    refit_dask,
)

log = logging.getLogger(__name__)


def run(params: Params) -> ModelCard:
    """The evaluation fit on the train split, then the served fit on every row to as_of."""
    columns = feature_columns(params.grain)
    extra = [LEVEL_COLUMN] if params.uses_level else []
    if params.compute.engine == "dask":
        import dask.dataframe as dd

        from bikecast.compute import dask_client, read_parquet

        threads = params.compute.threads_per_worker
        with dask_client(params.compute) as client:
            train, test = (
                read_parquet(path, params.compute, ["timestamp", "rentals", *columns, *extra])
                for path in (paths.TRAIN, paths.TEST)
            )
            fitted = fit_dask(client, train, params.train, columns, threads)
            rows = dd.concat([train, test])
            served = refit_dask(client, rows, params.train, columns, fitted.rounds, threads)
    else:
        train = pd.read_parquet(paths.TRAIN)
        fitted = fit(train, params.train, columns)
        rows = pd.concat([train, pd.read_parquet(paths.TEST)], ignore_index=True)
        served = refit(rows, params.train, columns, fitted.rounds)
    stations = None
    if params.grain.is_station:
        stations = StationTable.from_dict(json.loads(paths.STATIONS.read_text()))
    level = level_for(rows, params)  # the features stage's table: the same rows
    log_curves(fitted)
    evaluation = save(fitted, params, (stations, level), paths.EVAL_MODEL, paths.EVAL_META)
    card = save(
        served, params, (stations, level), paths.MODEL, paths.MODEL_META, evaluation,
        input_ranges(rows),
    )  # fmt: skip
    log.info(
        "train: %d rounds; evaluation fit %s → %s, served fit %s → %s",
        fitted.rounds, evaluation.version, paths.EVAL_MODEL, card.version, paths.MODEL,
    )  # fmt: skip
    return card


def save(
    fitted: Fitted,
    params: Params,
    tables: tuple[StationTable | None, LevelTable | None],
    model: Path,
    meta: Path,
    evaluation: ModelCard | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> ModelCard:
    """The model file, then its card (which records the file's hash)."""
    io.write_with(model, lambda p: fitted.booster.save_model(str(p)))
    stations, level = tables
    card = model_card(fitted, params, file_sha256(model), stations, evaluation, level, ranges)
    if evaluation is not None:  # the served fit: also as ONNX, which the API runs
        window = pd.read_parquet(paths.TEST, columns=list(card.feature_columns))
        sha = export(fitted.booster, window.to_numpy(dtype="float32"), paths.MODEL_ONNX)
        card = card.model_copy(update={"onnx_sha256": sha})
    io.write_json(card.to_dict(), meta)
    return card
