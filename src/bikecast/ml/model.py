"""Load, save and apply the XGBoost model: one code path for evaluate, compare and serve.

The model is stored in XGBoost's own UBJSON format (never pickle) beside its card
(bikecast.ml.card), which records its content hash, so a corrupt or swapped file is caught
before it predicts. The served fit also has an ONNX export (bikecast.ml.runtime), hashed in
the same card, which the API runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bikecast.ml.card import ModelCard, ModelError
from bikecast.ml.features import LEVEL_COLUMN, feature_columns, model_matrix
from bikecast.ml.xgb import xgboost

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from bikecast.ml.features import Inputs
    from bikecast.ml.level import LevelTable
    from bikecast.ml.runtime import OnnxModel
    from bikecast.ml.stations import StationTable


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_version(sha256: str) -> str:
    """Short, human-sized model version derived from the content hash."""
    return sha256[:12]


def load_model(
    model_path: str | Path, card_path: str | Path | None = None, threads: int | None = None
) -> tuple[xgb.Booster | OnnxModel, ModelCard]:
    """Load and verify a model against the sha256 in its card; raise ModelError if unsure.

    A `.onnx` path loads the served fit's ONNX export into ONNX Runtime (no XGBoost needed:
    the API's image has none); any other path, XGBoost's own file. `threads` per predict call.
    """
    model_path = Path(model_path)
    card_path = Path(card_path) if card_path else model_path.with_suffix(".json")
    if not model_path.exists():
        raise ModelError(f"{model_path}: model file not found (run `dvc pull` or `dvc repro`)")
    card = ModelCard.read(card_path)
    onnx = model_path.suffix == ".onnx"
    if onnx and card.onnx_sha256 is None:
        raise ModelError(
            f"{card_path}: the card names no ONNX export, so {model_path} is not its model "
            "(retrain with `dvc repro train`, or serve the .ubj file with xgboost installed)"
        )
    expected_sha = card.onnx_sha256 if onnx else card.sha256
    actual = file_sha256(model_path)
    if expected_sha != actual:
        raise ModelError(
            f"{model_path}: sha256 {actual[:12]}… does not match {card_path} "
            f"({expected_sha[:12]}…): the model is corrupt or from another run"
        )
    expected = feature_columns(card.grain)
    if card.feature_columns != expected:
        raise ModelError(
            f"{card_path}: model expects features {list(card.feature_columns)}, "
            f"this code builds {list(expected)}"
        )
    if onnx:
        from bikecast.ml.runtime import OnnxModel

        try:
            booster = OnnxModel(model_path, card.feature_columns, threads or 1)
        except ModelError as exc:
            raise ModelError(f"{model_path}: {exc}") from exc
    else:
        booster = _load_xgboost(model_path, threads)
    # A level model cannot forecast without its level: the loaded booster keeps its card's
    # table, so `predict(booster, frame)` is right even for a caller that passes none.
    booster.bikecast_level = card.level_table
    return booster, card


def _load_xgboost(model_path: Path, threads: int | None) -> xgb.Booster:
    try:
        xgb = xgboost()
    except ImportError:
        raise ModelError(
            f"{model_path}: XGBoost's own file needs xgboost, which is not installed here "
            "(the API image has none): serve models/model.onnx, or install '.[pipeline]'"
        ) from None
    booster = xgb.Booster()
    try:
        booster.load_model(str(model_path))
    except xgb.core.XGBoostError as exc:
        raise ModelError(f"{model_path}: XGBoost cannot read it ({exc})") from exc
    if threads:
        booster.set_param({"nthread": threads})
    return booster


def predict_features(booster: xgb.Booster | OnnxModel, features: pd.DataFrame) -> np.ndarray:
    """A feature table (model_features' frame, or one with timestamps and counts beside the
    features) → rentals per hour."""
    columns = booster.feature_names or list(feature_columns())
    if list(features.columns[: len(columns)]) == columns:  # model_features' own frame
        matrix = features.to_numpy(dtype="float32")[:, : len(columns)]
    else:
        matrix = features[columns].to_numpy(dtype="float32")
    levels = features[LEVEL_COLUMN].to_numpy() if LEVEL_COLUMN in features else None
    return predict_matrix(booster, matrix, levels)


def predict(
    booster: xgb.Booster | OnnxModel,
    frame: Inputs,
    stations: StationTable | None = None,
    level: LevelTable | None = None,
) -> np.ndarray:
    """Raw inputs (timestamp + weather, + station_id for a station model) → rentals per hour,
    through the shared features; a loaded level model uses its card's level by default."""
    level = level if level is not None else getattr(booster, "bikecast_level", None)
    return predict_matrix(booster, *model_matrix(frame, stations, level))


def predict_matrix(
    booster: xgb.Booster | OnnxModel, matrix: np.ndarray, levels: np.ndarray | None = None
) -> np.ndarray:
    """Tree features → rentals per hour: the model is fitted on log1p of the target, less the
    level where the model has one."""
    raw = np.asarray(booster.inplace_predict(matrix), dtype="float64")
    if levels is not None:
        raw = raw + levels.astype("float64")
    return np.maximum(np.expm1(raw), 0)
