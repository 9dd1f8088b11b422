"""Every file the pipeline reads or writes, named once.

dvc.yaml declares the same paths as deps/outs; tests/stages/test_dvc_yaml.py checks the two
agree so they cannot drift apart.
"""

from pathlib import Path

RAW = Path("data/raw/hourly.parquet")
INTERIM = Path("data/interim/hourly.parquet")
QUARANTINE = Path("data/quarantine/rejected.csv")
FEATURES = Path("data/features/features.parquet")
STATIONS = Path("data/features/stations.json")  # station grain: ids, places, daily history
TRAIN = Path("data/split/train.parquet")
TEST = Path("data/split/test.parquet")
MODEL = Path("models/model.ubj")  # the served fit: every validated row up to as_of
MODEL_META = Path("models/model.json")
MODEL_ONNX = Path("models/model.onnx")  # the served fit as ONNX: what the API runs
EVAL_MODEL = Path("models/eval.ubj")  # the evaluation fit: the train split only
EVAL_META = Path("models/eval.json")
DVCLIVE_DIR = Path("dvclive")
VALIDATE_METRICS = Path("metrics/validate.json")
EVALUATE_METRICS = Path("metrics/evaluate.json")
PREDICTIONS_PLOT = Path("metrics/plots/predictions.csv")
RESIDUALS_PLOT = Path("metrics/plots/residuals_by_hour.csv")
DRIFT_REPORT = Path("reports/drift.html")
DRIFT_METRICS = Path("metrics/drift.json")
PARAMS = Path("params.yaml")
BACKTEST_METRICS = Path("metrics/backtest.json")  # `bikecast backtest`, not a DVC stage
BACKTEST_PLOT = Path("reports/backtest.png")
MONITOR_METRICS = Path("metrics/monitor.json")  # `bikecast monitor`: live traffic, not a stage
MONITOR_REPORT = Path("reports/monitor.md")
MONITOR_DRIFT_REPORT = Path("reports/monitor_drift.html")
