"""The image built and run for real (scripts/container_check.py), where podman is installed.

`.ci/run` installs podman, runc and mmdebstrap (elsewhere: `apt-get install -y podman runc
mmdebstrap`); without them the test is skipped. It builds the real Dockerfile with the model
`dvc repro` trained in `pipeline_repo` and checks the image from outside.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    # the first run on a machine makes the Debian base (mmdebstrap, ~3.5 min) and installs
    # every dependency: the suite's 600 s per test is too short for a busy machine
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        not (shutil.which("podman") and shutil.which("runc")),
        reason="podman + runc not installed (apt-get install -y podman runc mmdebstrap)",
    ),
]


def test_the_image_builds_serves_the_pipelines_model_and_stops_cleanly(pipeline_repo, tmp_path):
    out = tmp_path / "container.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/container_check.py"),
         "--repo", str(pipeline_repo), "--out", str(out)],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "container check passed" in proc.stdout
    figures = json.loads(out.read_text())
    card = json.loads((pipeline_repo / "models/model.json").read_text())
    assert figures["model_version"] == card["version"]
    assert figures["bad_models_refused"] == ["missing", "corrupt"]
    assert figures["predict"]["served"] == figures["predict"]["onnx_in_process"]
    assert 0 < figures["added_bytes"] < figures["image_bytes"]
