"""Serving settings, read from the environment (prefix BIKECAST_) or given by the CLI.

The container has no params.yaml to edit, so every knob is an environment variable; the
batch limit still defaults to `serve.max_batch` from params.yaml when that file is present,
so the pipeline's parameter and the running service agree.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bikecast import paths


class ServeSettings(BaseSettings):
    """Where the model and its metadata live, and the limits the API enforces."""

    model_config = SettingsConfigDict(env_prefix="BIKECAST_", extra="forbid", frozen=True)

    model_path: Path = Field(paths.MODEL, description="XGBoost model file (.ubj).")
    card_path: Path | None = Field(
        None, description="Model card with the sha256; default: model_path with .json."
    )
    metrics_path: Path = Field(
        paths.EVALUATE_METRICS, description="metrics/evaluate.json of the served model."
    )
    params_path: Path = Field(
        paths.PARAMS, description="params.yaml; read for serve.max_batch when present."
    )
    max_batch: int | None = Field(
        None, ge=1, description="Most records in one /predict; default: serve.max_batch."
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

    @property
    def resolved_card_path(self) -> Path:
        return self.card_path or self.model_path.with_suffix(".json")

    def resolved_max_batch(self) -> int:
        """The explicit setting, else serve.max_batch from params.yaml, else its default."""
        from bikecast.config import ServeParams, load_params

        if self.max_batch is not None:
            return self.max_batch
        if self.params_path.exists():
            return load_params(self.params_path).serve.max_batch
        return ServeParams().max_batch


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
