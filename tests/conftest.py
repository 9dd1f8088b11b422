"""Shared fixtures. The expensive one, `pipeline_repo`, runs the real `dvc repro` once per
test session in a temporary copy of this repository; integration tests share it read-only
(copy it with `clone_pipeline_repo` before changing anything)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "data" / "seed" / "bikeshare_dc_2011.csv.gz"
BIN = Path(sys.executable).parent  # the venv's bin: bikecast and dvc live here
# What a fresh clone of the repository contains that the pipeline needs.
REPO_FILES = ("pyproject.toml", "params.yaml", "dvc.yaml", "dvc.lock", ".dvcignore", ".gitignore")
REPO_DIRS = ("src", "data/seed", ".dvc")
# One XGBoost thread per process (training.threads(); the model is the same to the byte):
# the suite runs two workers on 2 cores, and two 2-thread fits side by side take 3-50x
# longer than alone, two 1-thread ones 1.3x (bench/bench_contention.py). Set before any
# import of xgboost, and inherited by every `dvc repro` and `bikecast` a test starts.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Every API a test starts (in process or as `bikecast serve`) logs its forecasts here, not
# into the checkout; a test that reads the log sets its own BIKECAST_PREDICTION_LOG.
os.environ.setdefault(
    "BIKECAST_PREDICTION_LOG", tempfile.mkdtemp(prefix="bikecast-test-predictions-")
)


def run(cmd: list[str], cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with the venv first on PATH; show its output when it fails."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.update(kwargs.pop("env", {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def copy_repo(dest: Path) -> Path:
    """A git repository holding what a clean clone of bikecast holds (no outputs, no cache)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for name in REPO_DIRS:
        shutil.copytree(
            ROOT / name,
            dest / name,
            ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache", "config.local"),
        )
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest)
    return dest


def set_params(repo: Path, values: dict[str, str]) -> None:
    """Set `key: value` lines of the repo's params.yaml (each key must occur exactly once),
    keeping their indentation and comments elsewhere."""
    path = repo / "params.yaml"
    text = path.read_text()
    for key, value in values.items():
        lines = [line for line in text.splitlines() if line.strip().startswith(f"{key}:")]
        assert len(lines) == 1, f"{key}: {lines}"
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        text = text.replace(lines[0], f"{indent}{key}: {value}")
    path.write_text(text)


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> Path:
    """A temp copy of the repo after a real `dvc repro` on the seed. Treat as read-only."""
    repo = copy_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    run(["dvc", "repro", "--force"], repo)
    return repo


@pytest.fixture
def clone_pipeline_repo(pipeline_repo, tmp_path) -> Path:
    """A private copy of `pipeline_repo` (outputs and DVC cache included) to change freely."""
    dest = tmp_path / "repo"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


def make_canonical(hours: int = 72, start: str = "2011-06-01T04:00Z", seed: int = 0):
    """Synthetic canonical rows (typed) with a daily rhythm, for unit tests."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    hour = stamps.tz_convert("America/New_York").hour.to_numpy()
    casual = rng.poisson(5 + 20 * np.exp(-((hour - 15) ** 2) / 18))
    registered = rng.poisson(10 + 150 * np.exp(-((hour - 8) ** 2) / 4))
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "rentals": casual + registered,
            "casual": casual,
            "registered": registered,
            "temp_c": np.round(20 + 5 * np.sin(hour / 24 * 2 * np.pi), 2),
            "feels_like_c": np.round(21 + 5 * np.sin(hour / 24 * 2 * np.pi), 2),
            "humidity_pct": np.round(rng.uniform(30, 90, hours), 1),
            "wind_kmh": np.round(rng.uniform(0, 30, hours), 2),
            "weather": rng.choice(["clear", "mist", "light_precip"], hours),
        }
    )


def as_text(frame):
    """The canonical frame as its CSV text values (what read_canonical returns)."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.astype(str).astype("string")


@pytest.fixture
def canonical():
    return make_canonical()


def image_sources(html: str) -> list[str]:
    """The `src` of every <img> in an HTML page, in order (for rendered PR reports)."""
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.sources: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.sources.append(dict(attrs)["src"])

    parser = Images()
    parser.feed(html)
    parser.close()
    return parser.sources
