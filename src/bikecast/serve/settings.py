"""Serving settings, read from the environment (prefix BIKECAST_) or given by the CLI.

The service is configured by the environment alone: it reads no params.yaml (that file is
the pipeline's input, and the image carries none). BIKECAST_MAX_BATCH defaults to
`bikecast.config.ServeParams().max_batch`, the number params.yaml's `serve.max_batch`
holds (tests/test_config.py keeps the two equal); to change the limit of a running
service, set the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bikecast import paths
from bikecast.config import ServeParams


class ServeSettings(BaseSettings):
    """Where the model and its metadata live, and the limits the API enforces."""

    model_config = SettingsConfigDict(env_prefix="BIKECAST_", extra="forbid", frozen=True)

    model_path: Path = Field(
        paths.MODEL_ONNX,
        description="The model: its ONNX export (.onnx, ONNX Runtime) or XGBoost's .ubj file.",
    )
    card_path: Path | None = Field(
        None, description="Model card with the sha256; default: model_path with .json."
    )
    metrics_path: Path = Field(
        paths.EVALUATE_METRICS, description="metrics/evaluate.json of the served model."
    )
    max_batch: int = Field(
        ServeParams().max_batch, ge=1, description="Most records in one /predict."
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    git_sha: str = Field("unknown", description="Git commit the image was built from.")
    predict_threads: int = Field(
        1, ge=1, description="XGBoost threads per prediction; scale out with replicas."
    )
    require_model: bool = Field(
        False, description="Fail start-up on a missing/corrupt model instead of /ready=503."
    )
    prediction_log: str = Field(
        "predictions",
        description="Where every forecast is logged (bikecast.prediction_log): a directory, "
        "or s3://bucket/prefix (boto3's credentials, as DVC's remote); off: no log.",
    )
    prediction_log_batch: int = Field(
        5000, ge=1, description="Write a log file once this many forecasts are buffered."
    )
    prediction_log_interval_s: float = Field(
        30.0, gt=0, description="...or once this many seconds have passed since the last one."
    )
    prediction_log_buffer: int = Field(
        200_000,
        ge=1,
        description="Most forecasts held in memory (the destination down); the oldest go first.",
    )

    @property
    def logs_predictions(self) -> bool:
        return self.prediction_log.strip().lower() not in ("", "off", "none", "false")

    @property
    def resolved_card_path(self) -> Path:
        return self.card_path or self.model_path.with_suffix(".json")


def detect_git_sha(cwd: Path | None = None) -> str:
    """HEAD of the checkout being served from, or "unknown" (no git, e.g. in the image)."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"
