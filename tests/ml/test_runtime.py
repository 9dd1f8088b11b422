"""The served model's ONNX export (bikecast.ml.runtime): the same predictions as XGBoost,
city and station (categorical) trees alike, byte-identical exports, and a serving path that
loads neither XGBoost, scipy nor pandas."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tests.serve.test_app import synthetic_hours, train_tiny_model

from bikecast.ml.card import ModelCard, ModelError
from bikecast.ml.features import FEATURE_COLUMNS, build_features
from bikecast.ml.model import load_model, predict
from bikecast.ml.runtime import ONNX_TOLERANCE, OnnxModel, check_equal, export, to_onnx
from bikecast.ml.xgb import xgboost


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny XGBoost model with its card and its ONNX export, written as train writes them."""
    return train_tiny_model(tmp_path_factory.mktemp("runtime") / "models")


def synthetic_frame(n: int, seed: int) -> pd.DataFrame:
    return synthetic_hours(n, seed, start="2011-06-01")


def features_of(frame: pd.DataFrame) -> np.ndarray:
    return build_features(frame)[list(FEATURE_COLUMNS)].to_numpy(dtype="float32")


def test_onnx_serves_what_xgboost_predicts(tiny):
    frame = synthetic_frame(300, seed=11)  # hours the export was not checked on
    xgb_model, _ = load_model(tiny)
    onnx_model, card = load_model(tiny.with_suffix(".onnx"), tiny.with_suffix(".json"))
    assert isinstance(onnx_model, OnnxModel) and card.onnx_sha256
    raw_xgb = xgb_model.inplace_predict(features_of(frame))
    raw_onnx = onnx_model.inplace_predict(features_of(frame))
    assert np.max(np.abs(raw_xgb - raw_onnx)) <= ONNX_TOLERANCE
    assert not np.array_equal(raw_xgb, np.zeros_like(raw_xgb))
    np.testing.assert_allclose(predict(onnx_model, frame), predict(xgb_model, frame), rtol=1e-4)


def test_categorical_station_trees_export_equal():
    """Station models split station_code as a category: the export keeps those splits."""
    xgb = xgboost()
    rng = np.random.default_rng(0)
    n = 2000
    matrix = np.column_stack([rng.integers(0, 30, n), rng.normal(size=n)]).astype("float32")
    target = np.sin(matrix[:, 0]) * 3 + matrix[:, 1]
    data = xgb.DMatrix(
        matrix,
        label=target,
        feature_names=["station_code", "temp_c"],
        feature_types=["c", "q"],
        enable_categorical=True,
    )
    booster = xgb.train({"max_depth": 4, "max_cat_to_onehot": 1, "nthread": 1}, data, 40)
    dump = "".join(booster.get_dump(dump_format="json"))
    assert '"split_condition": [' in dump  # the trees really hold set splits
    onnx = OnnxModel(to_onnx(booster), ("station_code", "temp_c"), threads=1)
    assert check_equal(booster, onnx, matrix) <= ONNX_TOLERANCE


def test_export_is_byte_identical_run_to_run(tiny):
    """dvc.lock and the card hash it: a rerun of train must write the same bytes."""
    booster, _ = load_model(tiny)
    assert to_onnx(booster) == to_onnx(booster)


def test_an_export_that_differs_is_refused(tiny):
    booster, _ = load_model(tiny)
    frame = features_of(synthetic_frame(50, seed=5))
    shifted = OnnxModel(to_onnx(booster), tuple(booster.feature_names), threads=1)
    shifted.inplace_predict = lambda m: booster.inplace_predict(m) + 1e-3  # a wrong export
    with pytest.raises(ModelError, match=r"differs from XGBoost by 1\.00e-03"):
        check_equal(booster, shifted, frame)


def test_corrupt_or_unnamed_onnx_is_refused(tiny, tmp_path):
    corrupt = tmp_path / "model.onnx"
    data = bytearray(tiny.with_suffix(".onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    card = tiny.with_suffix(".json")
    with pytest.raises(ModelError, match=r"does not match .* corrupt or from another run"):
        load_model(corrupt, card)
    unnamed = tmp_path / "unnamed.json"
    unnamed.write_text(json.dumps({**json.loads(card.read_text()), "onnx_sha256": None}))
    assert ModelCard.read(unnamed).onnx_sha256 is None
    with pytest.raises(ModelError, match="names no ONNX export"):
        load_model(tiny.with_suffix(".onnx"), unnamed)


def test_serving_the_onnx_export_imports_no_xgboost_scipy_or_pandas(tiny):
    code = f"""
import sys
from bikecast.serve.app import create_app
from bikecast.ml.model import load_model
from bikecast.ml.model import predict
from bikecast.serve.routes import records_inputs
from bikecast.serve.schemas import EXAMPLE_RECORDS, predict_request_model
model, card = load_model({str(tiny.with_suffix(".onnx"))!r}, {str(tiny.with_suffix(".json"))!r})
create_app()
records = predict_request_model(10).model_validate({{"records": EXAMPLE_RECORDS}}).records
assert (predict(model, records_inputs(records)) > 0).all()
heavy = {{m.split(".")[0] for m in sys.modules}} & {{"xgboost", "scipy", "sklearn", "pandas"}}
heavy = sorted(heavy)
print(",".join(heavy) or "none")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_export_writes_nothing_when_the_check_fails(tiny, tmp_path, monkeypatch):
    booster, _ = load_model(tiny)
    wrong = OnnxModel.inplace_predict
    monkeypatch.setattr(OnnxModel, "inplace_predict", lambda self, m: wrong(self, m) + 0.01)
    target = tmp_path / "model.onnx"
    with pytest.raises(ModelError, match="not exported"):
        export(booster, features_of(synthetic_frame(20, seed=1)), target)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_the_xgboost_file_without_xgboost_is_a_clear_model_error(tiny, monkeypatch):
    """As in the API image, where only the ONNX export can be served."""
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost → ImportError
    with pytest.raises(ModelError, match=r"needs xgboost, which is not installed.*model\.onnx"):
        load_model(tiny)
