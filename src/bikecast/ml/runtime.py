"""The served model as ONNX, run by ONNX Runtime: what the API predicts with.

XGBoost's own call costs ~0.3 ms for one row here, and its package imports scipy (143 MB
of the image); ONNX Runtime runs the same trees in ~10 µs a call and needs neither. `train`
exports the served fit with onnxmltools and keeps the export only if ONNX Runtime's
predictions on the test window equal XGBoost's within ONNX_TOLERANCE.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from bikecast.ml.card import ModelError
from bikecast.ml.features import feature_types

# The largest difference allowed between the two runtimes' raw predictions, in log1p
# (rentals): 1e-4 is 0.01% of a forecast. Float32 sums of ~300 leaves differ by ~1e-5.
ONNX_TOLERANCE = 1e-4
ONNX_OPSET = 15  # the newest default-domain opset onnxmltools 1.16 targets


def to_onnx(booster: Any) -> bytes:
    """The booster's trees as a deterministic ONNX model (one TreeEnsembleRegressor)."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    from bikecast.ml.xgb import onnx_converter

    columns = list(booster.feature_names)
    trees = booster.copy()
    # the converter reads features by position (f0, f1, …); categories stay categories
    trees.feature_names = [f"f{i}" for i in range(len(columns))]
    trees.feature_types = feature_types(tuple(columns))
    model = onnx_converter().convert(
        trees,
        initial_types=[("features", FloatTensorType([None, len(columns)]))],
        target_opset=ONNX_OPSET,
    )
    model.graph.name = "bikecast"  # the converter names it with a random uuid
    model.doc_string = "features: " + ",".join(columns)
    return model.SerializeToString()


class OnnxModel:
    """An ONNX Runtime session with the booster methods bikecast predicts through
    (`feature_names`, `inplace_predict`), so ml/model.predict serves both alike."""

    def __init__(self, source: str | Path | bytes, feature_names: tuple[str, ...], threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise ModelError(f"ONNX Runtime cannot read the model ({exc})") from exc
        self.feature_names = list(feature_names)
        self.input = self.session.get_inputs()[0].name

    def inplace_predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: matrix})[0].reshape(-1)


def check_equal(booster: Any, onnx: OnnxModel, matrix: np.ndarray) -> float:
    """The largest |difference| of the two runtimes on these rows; ModelError above the
    tolerance (the export would not serve what the pipeline evaluated)."""
    expected = booster.inplace_predict(matrix)
    worst = float(np.max(np.abs(onnx.inplace_predict(matrix) - expected), initial=0.0))
    if not worst <= ONNX_TOLERANCE:
        raise ModelError(
            f"the ONNX export differs from XGBoost by {worst:.2e} on {len(matrix)} rows "
            f"(tolerance {ONNX_TOLERANCE:g}): not exported"
        )
    return worst


def export(booster: Any, matrix: np.ndarray, path: str | Path) -> str:
    """Write the booster's ONNX export to `path` once it is checked equal on `matrix`; its
    sha256 (for the card)."""
    from bikecast import io  # the pipeline's (pandas) writers: train only

    data = to_onnx(booster)
    check_equal(booster, OnnxModel(data, tuple(booster.feature_names), threads=1), matrix)
    io.write_with(path, lambda p: p.write_bytes(data))
    return hashlib.sha256(data).hexdigest()
