"""How much does a fair champion/challenger comparison cost over scoring two models?

Times, on a repository with a reproduced working tree and a base revision whose model is
in the DVC cache (warm):
  baseline  one fresh Python process that loads both model files (the base one straight
            from the DVC cache) and scores both on the test window: the least any
            comparison can cost (interpreter, imports, features, two predictions);
  compare   `bikecast compare --base REV` (temporary worktree, DVC checkout, the base's
            own code in a subprocess, baselines, outputs);
  report    `bikecast report --base REV` (reuses compare.json: params diff, two PNGs).
Each is run --repeat times after one warm-up; the medians and (compare + report) / baseline
are printed and saved to bench/out/bench_compare.json.

Usage:
  uv run python bench/bench_compare.py --repo /path/to/repo --base main [--repeat 3]
Without --repo a repository is built in a temp dir (two `dvc repro` runs, a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"

BASELINE = r"""
import sys, json, yaml, subprocess
import numpy as np, pandas as pd, xgboost as xgb
from bikecast.ml.features import build_features
from bikecast.ml.metrics import regression_metrics
repo, base = sys.argv[1], sys.argv[2]
lock = yaml.safe_load(subprocess.run(["git", "show", f"{base}:dvc.lock"], cwd=repo,
                      capture_output=True, text=True, check=True).stdout)
md5 = next(o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])
           if o["path"] == "models/model.ubj")
test = pd.read_parquet(f"{repo}/data/split/test.parquet")
interim = pd.read_parquet(f"{repo}/data/interim/hourly.parquet")
inputs = test[["timestamp"]].merge(interim, on="timestamp")
features = build_features(inputs)
for path in (f"{repo}/.dvc/cache/files/md5/{md5[:2]}/{md5[2:]}", f"{repo}/models/model.ubj"):
    booster = xgb.Booster(); booster.load_model(path)
    cols = booster.feature_names
    pred = np.clip(np.expm1(booster.inplace_predict(features[cols].to_numpy("float32"))), 0, None)
    print(json.dumps(regression_metrics(test["rentals"], pred)))
"""


def sh(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run in `cwd` with that repository's own code (PYTHONPATH=<repo>/src)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(cwd / "src")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode not in (0, 3):  # 3 = compare's "fail" verdict
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    sh(cmd, cwd)
    return time.perf_counter() - start


def build_repo(dest: Path) -> tuple[Path, str]:
    """Two real commits: as_of a week earlier (base), then the default as_of."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import copy_repo

    repo = copy_repo(dest)
    params = repo / "params.yaml"
    text = params.read_text()
    week_earlier = text.replace("2011-12-31T23:00:00-05:00", "2011-12-24T23:00:00-05:00")
    assert week_earlier != text, "params.yaml: ingest.as_of is not the default any more"
    params.write_text(week_earlier)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    sh(["dvc", "repro", "-q"], repo)
    sh([*git, "add", "-A"], repo)
    sh([*git, "commit", "-qm", "base"], repo)
    params.write_text(text)
    sh(["dvc", "repro", "-q"], repo)
    sh([*git, "add", "-A"], repo)
    sh([*git, "commit", "-qm", "challenger"], repo)
    return repo, "HEAD~1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, help="reproduced repository (default: build one)")
    parser.add_argument("--base", default="main", help="base revision (default: main)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scratch = None
    if args.repo is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-compare-"))
        repo, base = build_repo(scratch / "repo")
    else:
        repo, base = args.repo.resolve(), args.base
    out_md = Path(tempfile.mkdtemp(prefix="bench-report-")) / "pr_report.md"
    commands = {
        "baseline": [sys.executable, "-c", BASELINE, str(repo), base],
        "compare": ["bikecast", "compare", "--base", base],
        "report": ["bikecast", "report", "--base", base, "--out", str(out_md)],
    }
    try:
        for cmd in commands.values():  # warm-up: DVC cache, page cache, matplotlib font cache
            sh(cmd, repo)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, repo))
        median = {name: statistics.median(values) for name, values in times.items()}
        ratio = (median["compare"] + median["report"]) / median["baseline"]
        result = {
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "seconds": {k: [round(v, 2) for v in vs] for k, vs in times.items()},
            "median_s": {k: round(v, 2) for k, v in median.items()},
            "ratio_compare_plus_report_to_baseline": round(ratio, 2),
            "compare_only_ratio": round(median["compare"] / median["baseline"], 2),
        }
        print(json.dumps(result, indent=2))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "bench_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(out_md.parent, ignore_errors=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
