"""The API in process (TestClient): every route, every kind of bad input, a missing or corrupt
model, metrics, OpenAPI, settings, and that serving never imports the pipeline's libraries.

A tiny XGBoost model is trained here on synthetic hours so these tests need no pipeline run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from bikecast.config import ServeParams
from bikecast.data.schema import WEATHER
from bikecast.ml.card import DataWindow, ModelCard
from bikecast.ml.features import FEATURE_COLUMNS, build_features
from bikecast.ml.model import ModelError, file_sha256, load_model, model_version, predict
from bikecast.ml.runtime import export
from bikecast.ml.training import input_ranges
from bikecast.serve import ServeSettings, create_app
from bikecast.serve.errors import validation_detail

ROOT = Path(__file__).resolve().parents[2]
RECORD = {
    "timestamp": "2011-12-05T08:00:00-05:00",
    "temp_c": 6.5,
    "feels_like_c": 4.0,
    "humidity_pct": 70.0,
    "wind_kmh": 11.0,
    "weather": "mist",
}
METRICS = {"model": {"rmse": 50.0, "mae": 30.0, "rmsle": 0.5, "r2": 0.7, "bias": 1.0}}


def synthetic_hours(n: int, seed: int, start: str = "2011-03-01") -> pd.DataFrame:
    """n consecutive hours of raw inputs with random weather in the schema's ranges."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="h", tz="UTC"),
            "temp_c": rng.uniform(-5, 35, n),
            "feels_like_c": rng.uniform(-10, 40, n),
            "humidity_pct": rng.uniform(10, 100, n),
            "wind_kmh": rng.uniform(0, 50, n),
            "weather": rng.choice(WEATHER, n),
        }
    )


def train_tiny_model(directory: Path) -> Path:
    """A 20-tree model on synthetic hours, saved (.ubj and .onnx) with a card like the train
    stage writes."""
    import xgboost as xgb

    n = 600
    frame = synthetic_hours(n, seed=7)
    features = build_features(frame)
    target = np.log1p(20 + 10 * features["hour"] + 3 * features["temp_c"].clip(0))
    booster = xgb.train(
        {"max_depth": 3, "nthread": 1, "seed": 0},
        xgb.DMatrix(features[list(FEATURE_COLUMNS)], label=target),
        num_boost_round=20,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / "model.ubj"
    booster.save_model(model)
    sha = file_sha256(model)
    card = ModelCard(
        version=model_version(sha),
        sha256=sha,
        xgboost_version=xgb.__version__,
        feature_columns=tuple(FEATURE_COLUMNS),
        rounds=20,
        params={"max_depth": 3},
        data_window=DataWindow(
            source="synthetic",
            as_of=frame["timestamp"].iloc[-1].isoformat(),
            train_start=frame["timestamp"].iloc[0].isoformat(),
            train_end=frame["timestamp"].iloc[-1].isoformat(),
            train_rows=n,
        ),
        input_ranges=input_ranges(frame),  # as train writes it for the served fit
    )
    # the served fit's ONNX export beside it, checked on these hours, as train writes it
    onnx_sha = export(
        booster, features[list(FEATURE_COLUMNS)].to_numpy("float32"), model.with_suffix(".onnx")
    )
    card = card.model_copy(update={"onnx_sha256": onnx_sha})
    (directory / "model.json").write_text(json.dumps(card.to_dict()))
    return model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("tiny") / "models")


def settings_for(model: Path, tmp: Path, **overrides) -> ServeSettings:
    metrics = tmp / "evaluate.json"
    if not metrics.exists():
        metrics.write_text(json.dumps(METRICS))
    values = {
        "model_path": model,
        "metrics_path": metrics,
        "git_sha": "0123abcd",
        "max_batch": 50,
        **overrides,
    }
    return ServeSettings(**values)


@pytest.fixture
def client(tiny_model, tmp_path):
    with TestClient(create_app(settings_for(tiny_model, tmp_path))) as c:
        yield c


def post_raw(client: TestClient, body: str | bytes, content_type: str = "application/json"):
    return client.post("/predict", content=body, headers={"content-type": content_type})


# --- happy paths ------------------------------------------------------------------------


def test_health_and_ready(client, tiny_model):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    version = json.loads(tiny_model.with_suffix(".json").read_text())["version"]
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "model_version": version, "reason": None}


def test_model_reports_provenance_and_metrics(client, tiny_model):
    info = client.get("/model").json()
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    assert info["model_version"] == card["version"] == card["sha256"][:12]
    assert info["sha256"] == file_sha256(tiny_model)
    assert info["git_sha"] == "0123abcd"
    assert info["data_window"] == card["data_window"]
    assert info["params"] == {"max_depth": 3}
    assert info["feature_columns"] == list(FEATURE_COLUMNS)
    assert info["metrics"] == METRICS


def test_predict_matches_the_shared_feature_function_in_order(client, tiny_model):
    records = [
        RECORD,
        {**RECORD, "timestamp": "2011-07-04T17:00:00-04:00", "temp_c": 31, "weather": "clear"},
        {**RECORD, "timestamp": "2012-01-01T03:00:00Z", "humidity_pct": 100, "wind_kmh": 0},
    ]
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    booster, card = load_model(tiny_model)
    frame = pd.DataFrame(records)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    expected = predict(booster, frame)
    assert body["model_version"] == card.version
    assert body["predictions"] == expected.tolist()
    assert all(p >= 0 for p in body["predictions"])
    reversed_ = client.post("/predict", json={"records": records[::-1]}).json()
    assert reversed_["predictions"] == body["predictions"][::-1]


def test_the_same_instant_in_two_offsets_gets_the_same_forecast(client):
    local = {**RECORD, "timestamp": "2011-12-05T08:00:00-05:00"}
    utc = {**RECORD, "timestamp": "2011-12-05T13:00:00Z"}
    later = {**RECORD, "timestamp": "2011-12-05T08:00:00Z"}  # 03:00 in Washington
    a, b, c = client.post("/predict", json={"records": [local, utc, later]}).json()["predictions"]
    assert a == b
    assert a != c


def test_batch_at_the_limit_is_served(client):
    response = client.post("/predict", json={"records": [RECORD] * 50})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 50


# --- bad input: always 4xx, naming the field ----------------------------------------------


def _body(**changes) -> str:
    return json.dumps({"records": [{**RECORD, **changes}]})


def _raw(field: str, literal: str) -> str:
    """A body whose `field` is the raw JSON text `literal` (NaN, Infinity: not valid JSON)."""
    return _body(**{field: 12345.5}).replace("12345.5", literal)


BAD_BODIES = {
    "malformed JSON": ('{"records": [', "body"),
    "not an object": ("[1, 2]", "body"),
    "null body": ("null", "body"),
    "missing records": ("{}", "records"),
    "empty list": ('{"records": []}', "records"),
    "record is null": ('{"records": [null]}', "records[0]"),
    "missing field": (
        json.dumps({"records": [{k: v for k, v in RECORD.items() if k != "wind_kmh"}]}),
        "records[0].wind_kmh",
    ),
    "extra field": (_body(rentals=5), "records[0].rentals"),
    "extra top-level field": (json.dumps({"records": [RECORD], "model": "x"}), "model"),
    "number as string": (_body(humidity_pct="50"), "records[0].humidity_pct"),
    "bool as number": (_body(temp_c=True), "records[0].temp_c"),
    "NaN": (_raw("temp_c", "NaN"), "records[0].temp_c"),
    "Infinity": (_raw("wind_kmh", "Infinity"), "records[0].wind_kmh"),
    "-Infinity": (_raw("feels_like_c", "-Infinity"), "records[0].feels_like_c"),
    "overflow to inf": (_raw("temp_c", "1e999"), "records[0].temp_c"),
    "huge integer": (_raw("temp_c", "1" + "0" * 400), "records[0].temp_c"),
    "humidity over 100": (_body(humidity_pct=100.5), "records[0].humidity_pct"),
    "humidity below 0": (_body(humidity_pct=-1), "records[0].humidity_pct"),
    "negative wind": (_body(wind_kmh=-0.1), "records[0].wind_kmh"),
    "temperature out of range": (_body(temp_c=80), "records[0].temp_c"),
    "unknown weather": (_body(weather="snow"), "records[0].weather"),
    "weather wrong case": (_body(weather="Clear"), "records[0].weather"),
    "timestamp without offset": (_body(timestamp="2011-12-05T08:00:00"), "records[0].timestamp"),
    "date only": (_body(timestamp="2011-12-05"), "records[0].timestamp"),
    "unix seconds": (_body(timestamp=1322917200), "records[0].timestamp"),
    "unix seconds as text": (_body(timestamp="1322917200"), "records[0].timestamp"),
    "not a date": (_body(timestamp="yesterday+01:00"), "records[0].timestamp"),
    "impossible date": (_body(timestamp="2011-02-30T08:00:00Z"), "records[0].timestamp"),
    "year out of range": (_body(timestamp="9999-12-05T08:00:00Z"), "records[0].timestamp"),
    "year before 2000": (_body(timestamp="1677-09-21T00:00:00Z"), "records[0].timestamp"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_input_is_a_422_naming_the_field(client, name):
    body, field = BAD_BODIES[name]
    response = post_raw(client, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}:") or f"; {field}:" in detail, detail
    assert response.json()["errors"], "the field errors are listed"


def test_a_batch_over_the_limit_is_a_422_naming_records(client):
    response = client.post("/predict", json={"records": [RECORD] * 51})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("records: List should have at most 50 items")


def test_many_bad_fields_are_summarised(client):
    response = client.post("/predict", json={"records": [{**RECORD, "weather": "x"}] * 8})
    assert response.status_code == 422
    assert response.json()["detail"].endswith("and 3 more")
    assert len(response.json()["errors"]) == 8


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_not_declared_json_is_a_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=_body(), headers=headers)
    assert response.status_code == 415
    assert response.json()["detail"].startswith("content-type:")


def test_a_body_over_the_size_limit_is_a_413(tiny_model, tmp_path):
    settings = settings_for(tiny_model, tmp_path, max_body_bytes=2048)
    with TestClient(create_app(settings)) as client:
        big = json.dumps({"records": [RECORD] * 20})
        assert len(big) > 2048
        declared = post_raw(client, big)
        assert declared.status_code == 413
        assert declared.json()["detail"].startswith("body: request body is larger than 2048")
        # streamed without Content-Length (chunked): counted as it arrives
        streamed = client.post(
            "/predict",
            content=(big[i : i + 500].encode() for i in range(0, len(big), 500)),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        small = post_raw(client, json.dumps({"records": [RECORD] * 5}))
        assert small.status_code == 200


def test_validation_detail_is_json_safe_and_readable():
    errors = [
        {
            "type": "finite_number",
            "loc": ("body", "records", 3, "temp_c"),
            "msg": "m",
            "input": float("nan"),
            "ctx": {"error": ValueError("x")},
        },
        {
            "type": "json_invalid",
            "loc": ("body", 17),
            "msg": "JSON decode error",
            "ctx": {"error": "Expecting value"},
        },
    ]
    detail, listed = validation_detail(errors)
    assert detail == (
        "records[3].temp_c: m; body: not valid JSON (Expecting value at character 17)"
    )
    json.dumps(listed, allow_nan=False)  # no NaN input echoed back, no exception objects


# --- not ready: 503 with the reason, never a prediction ---------------------------------


def _not_ready_client(model: Path, tmp_path: Path) -> TestClient:
    return TestClient(create_app(settings_for(model, tmp_path)))


DAMAGES = {
    "missing model": "model file not found",
    "corrupt model": "does not match",
    "missing card": "model card not found",
    "bad card": "a model card is a JSON object, not list",
    "card without sha256": "not a valid model card (sha256: Field required)",
    "card of a newer schema": "model card schema_version 3 is newer than this code",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_missing_or_corrupt_model_is_503_with_the_reason(tiny_model, tmp_path, damage):
    model = tmp_path / "models" / "model.ubj"
    model.parent.mkdir()
    model.write_bytes(tiny_model.read_bytes())
    card = model.with_suffix(".json")
    fields = json.loads(tiny_model.with_suffix(".json").read_text())
    card.write_text(json.dumps(fields))
    if damage == "missing model":
        model.unlink()
    elif damage == "corrupt model":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "missing card":
        card.unlink()
    elif damage == "bad card":
        card.write_text("[1, 2, 3]")  # valid JSON, not a card
    elif damage == "card without sha256":
        card.write_text(json.dumps({k: v for k, v in fields.items() if k != "sha256"}))
    else:
        card.write_text(json.dumps({**fields, "schema_version": 3}))
    with _not_ready_client(model, tmp_path) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        reason = ready.json()["reason"]
        assert DAMAGES[damage] in reason and "\n" not in reason
        if damage not in ("missing model", "corrupt model"):
            assert reason.startswith(f"{card}: ")
        for response in (client.post("/predict", json={"records": [RECORD]}), client.get("/model")):
            assert response.status_code == 503
            assert response.json()["detail"].startswith("model not ready: ")
        assert "bikecast_model_ready 0.0" in client.get("/metrics").text


def test_require_model_makes_start_up_fail(tmp_path):
    settings = settings_for(tmp_path / "absent.ubj", tmp_path, require_model=True)
    with (
        pytest.raises(ModelError, match=r"absent\.ubj: model file not found"),
        TestClient(create_app(settings)),
    ):
        pass


def test_a_card_from_before_schema_versions_is_served_as_a_city_model(tiny_model, tmp_path):
    """Cards written before the card had a schema_version (and grain, compute_engine)."""
    model = tmp_path / "models" / "model.ubj"
    model.parent.mkdir()
    model.write_bytes(tiny_model.read_bytes())
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    old = {k: v for k, v in card.items() if k not in ("schema_version", "grain", "compute_engine")}
    model.with_suffix(".json").write_text(json.dumps(old))
    with TestClient(create_app(settings_for(model, tmp_path))) as client:
        assert client.get("/ready").status_code == 200
        info = client.get("/model").json()
    assert (info["model_version"], info["grain"], info["station_count"]) == (
        card["version"],
        "city",
        None,
    )
    assert info["data_window"] == card["data_window"]


def _model_metrics(tiny_model, tmp_path, metrics: dict) -> dict | None:
    (tmp_path / "evaluate.json").write_text(json.dumps(metrics))
    with TestClient(create_app(settings_for(tiny_model, tmp_path))) as client:
        return client.get("/model").json()["metrics"]


def test_metrics_of_another_model_are_not_reported(tiny_model, tmp_path, caplog):
    metrics = {**METRICS, "model_version": "0123456789ab"}
    with caplog.at_level("WARNING", logger="bikecast.serve"):
        assert _model_metrics(tiny_model, tmp_path, metrics) is None
    version = json.loads(tiny_model.with_suffix(".json").read_text())["version"]
    assert f"is for model 0123456789ab, not {version}" in caplog.text


def test_metrics_of_this_model_are_reported(tiny_model, tmp_path, caplog):
    version = json.loads(tiny_model.with_suffix(".json").read_text())["version"]
    metrics = {"model_version": version, **METRICS}  # as the evaluate stage writes them
    with caplog.at_level("WARNING", logger="bikecast.serve"):
        assert _model_metrics(tiny_model, tmp_path, metrics) == metrics
    assert "evaluate.json" not in caplog.text


def test_metrics_without_a_model_version_are_still_reported(tiny_model, tmp_path):
    """evaluate.json from before it named its model: nothing to check it against."""
    assert "model_version" not in METRICS
    assert _model_metrics(tiny_model, tmp_path, METRICS) == METRICS


@pytest.mark.parametrize("text", ["", "[1, 2]", "{not json", "\udcff"])
def test_unreadable_metrics_are_reported_as_null(tiny_model, tmp_path, text):
    (tmp_path / "evaluate.json").write_text(text, errors="surrogateescape")
    with TestClient(create_app(settings_for(tiny_model, tmp_path))) as client:
        assert client.get("/ready").status_code == 200
        assert client.get("/model").json()["metrics"] is None


# --- metrics, OpenAPI, settings ---------------------------------------------------------


def test_prometheus_metrics_count_requests_and_predictions(client, tiny_model):
    version = json.loads(tiny_model.with_suffix(".json").read_text())["version"]
    client.post("/predict", json={"records": [RECORD] * 3})
    client.post("/predict", json={"records": []})
    text = client.get("/metrics").text
    assert f'bikecast_predictions_total{{model_version="{version}"}} 3.0' in text
    assert 'http_requests_total{handler="/predict",method="POST",status="200"} 1.0' in text
    assert 'http_requests_total{handler="/predict",method="POST",status="422"} 1.0' in text
    assert 'http_request_duration_seconds_count{handler="/predict",method="POST"}' in text
    assert f'bikecast_model_info{{git_sha="0123abcd",model_version="{version}"}} 1.0' in text
    assert f'bikecast_prediction_rentals_count{{model_version="{version}"}} 3.0' in text
    assert "bikecast_inputs_out_of_range_total{" not in text  # RECORD is inside every range


def test_metrics_count_inputs_outside_the_training_ranges(client, tiny_model):
    """The tiny model was fitted on temperatures of -5..35 °C; 45 °C is valid (the schema
    allows up to 50) but outside what it learned, and /metrics says so per input."""
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    version, (low, high) = card["version"], card["input_ranges"]["temp_c"]
    assert -5 <= low < high <= 35
    inside = {**RECORD, "temp_c": (low + high) / 2}
    hot = {**RECORD, "temp_c": 45.0}
    cold = {**RECORD, "temp_c": -30.0, "humidity_pct": 50.0}
    response = client.post("/predict", json={"records": [inside, hot, cold, hot]})
    assert response.status_code == 200
    text = client.get("/metrics").text
    counted = dict(re.findall(
        rf'bikecast_inputs_out_of_range_total{{input="(\w+)",model_version="{version}"}} (\S+)',
        text,
    ))  # fmt: skip
    assert counted["temp_c"] == "3.0"
    buckets = dict(re.findall(
        rf'bikecast_prediction_rentals_bucket{{le="([^"]+)",model_version="{version}"}} (\S+)',
        text,
    ))  # fmt: skip
    assert buckets["+Inf"] == "4.0"
    assert [float(buckets[b]) for b in ("1.0", "10.0", "100.0", "1000.0")] == sorted(
        float(buckets[b]) for b in ("1.0", "10.0", "100.0", "1000.0")
    )


def test_openapi_documents_limits_errors_and_examples(client):
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/health", "/ready", "/model"} <= set(spec["paths"])
    predict_op = spec["paths"]["/predict"]["post"]
    assert {"200", "413", "415", "422", "503"} <= set(predict_op["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["records"]["maxItems"] == 50
    assert schemas["PredictRequest"]["examples"][0]["records"][0] == RECORD
    record = schemas["Record"]
    assert record["additionalProperties"] is False
    assert record["properties"]["weather"]["enum"] == list(WEATHER)
    assert record["properties"]["timestamp"]["format"] == "date-time"
    assert client.get("/docs").status_code == 200


def test_value_ranges_are_those_of_the_canonical_schema():
    from bikecast.data.schema import canonical_schema

    record = create_app(ServeSettings(max_batch=1)).openapi()["components"]["schemas"]["Record"]
    columns = canonical_schema().columns
    for name in ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh"):
        (check,) = columns[name].checks
        prop = record["properties"][name]
        assert (prop["minimum"], prop["maximum"]) == (
            check.statistics["min_value"],
            check.statistics["max_value"],
        ), name
    assert record["properties"]["weather"]["enum"] == list(WEATHER)


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BIKECAST_MODEL_PATH", str(tmp_path / "m.ubj"))
    monkeypatch.setenv("BIKECAST_GIT_SHA", "feedbeef")
    monkeypatch.setenv("BIKECAST_MAX_BODY_BYTES", "100000")
    monkeypatch.setenv("BIKECAST_MAX_BATCH", "3")
    settings = ServeSettings()
    assert settings.model_path == tmp_path / "m.ubj"
    assert settings.resolved_card_path == tmp_path / "m.json"
    assert (settings.git_sha, settings.max_body_bytes) == ("feedbeef", 100000)
    assert settings.max_batch == 3
    monkeypatch.setenv("BIKECAST_MAX_BATCH", "0")
    with pytest.raises(ValueError, match="max_batch"):
        ServeSettings()


def test_the_batch_limit_is_an_environment_setting_not_read_from_params_yaml(monkeypatch, tmp_path):
    """The service reads no params.yaml, even one in its working directory; the default is
    the pipeline's serve.max_batch default (one number, in bikecast.config)."""
    monkeypatch.delenv("BIKECAST_MAX_BATCH", raising=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert ServeSettings().max_batch == ServeParams().max_batch == params["serve"]["max_batch"]
    params["serve"]["max_batch"] = 7
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BIKECAST_PARAMS_PATH", str(tmp_path / "params.yaml"))  # older images
    spec = create_app(ServeSettings()).openapi()
    records = spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]
    assert records["maxItems"] == ServeParams().max_batch
    monkeypatch.setenv("BIKECAST_MAX_BATCH", "7")
    spec = create_app(ServeSettings()).openapi()
    assert spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == 7


def test_unknown_settings_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_bach"):
        ServeSettings(max_bach=3)


# --- serving does not pull in the pipeline ----------------------------------------------

PIPELINE_ONLY = ("dvc", "dvclive", "evidently", "pandera", "sklearn", "matplotlib")
NOT_IN_THE_IMAGE = ("pandas", "xgboost", "scipy", "onnxmltools", "onnx", "pyarrow")
_SERVE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    BLOCK = {block!r}
    attempts = []

    class Block(importlib.abc.MetaPathFinder):
        # As in the image, where these are not installed: record who asked, then refuse.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in BLOCK:
                return None
            frame = sys._getframe(1)
            while frame and frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            attempts.append([name, frame.f_code.co_filename if frame else "?"])
            raise ImportError(f"{{name}} is not installed in the serving image")

    sys.meta_path.insert(0, Block())
    from fastapi.testclient import TestClient
    from bikecast.serve import ServeSettings, create_app

    settings = ServeSettings(model_path={model!r})
    with TestClient(create_app(settings)) as client:
        ok = client.post("/predict", json={{"records": [{record!r}]}}).status_code
        ready = client.get("/ready").status_code
    print(json.dumps({{"predict": ok, "ready": ready, "attempts": attempts}}))
    """
)


def test_serving_needs_and_imports_no_pipeline_library(tiny_model):
    """Serve the ONNX export, as the image does, with every library the image lacks made
    unimportable: the pipeline's, XGBoost and scipy, and pandas."""
    block = {*PIPELINE_ONLY, *NOT_IN_THE_IMAGE}
    model = str(tiny_model.with_suffix(".onnx"))
    script = _SERVE_SCRIPT.format(block=block, model=model, record=RECORD)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["predict"], result["ready"]) == (200, 200)
    # nothing in bikecast, FastAPI, ONNX Runtime or their dependencies asks for one of them
    assert result["attempts"] == []


def test_loading_the_model_builds_what_the_first_request_would(tiny_model, tmp_path):
    """A forecast at load (state.warm_up): the DC calendar's DST table and the holidays are
    cached before /ready says yes, so the first request does not pay for them."""
    code = textwrap.dedent(
        f"""
        from bikecast.ml import calendar, features
        from bikecast.serve import ServeSettings
        from bikecast.serve.state import load_served_model
        assert calendar._transitions.cache_info().currsize == 0
        settings = ServeSettings(model_path={str(tiny_model.with_suffix(".onnx"))!r})
        served = load_served_model(settings)
        assert served.ready, served.error
        cached = calendar._transitions, features._holiday_days
        print(*(f.cache_info().currsize for f in cached))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1"]
