"""How long the drift stage takes on the seed's default window, and where the time goes.

Needs a repository where `dvc repro` has run (data/split/*, models/*), e.g. a temp copy:
    uv run python bench/bench_drift.py --repo /tmp/drift_repo/repo [--repeat 3]
Measures, in the same run: the `bikecast evaluate` stage (the baseline), the `bikecast drift`
stage (both as the CLI processes dvc runs), `import evidently` in a fresh interpreter, and
the drift compute after the import (prepare + Evidently scores + HTML + writes). Work happens
in a scratch copy of the inputs, so the repository's outputs are not touched. Results go to
bench/out/bench_drift.json.
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

INPUTS = (
    "params.yaml",
    "data/split/train.parquet",
    "data/split/test.parquet",
    "data/features/features.parquet",
    "models/model.ubj",
    "models/model.json",
)
BIN = Path(sys.executable).parent


def scratch_copy(repo: Path, dest: Path) -> Path:
    for name in INPUTS:
        if not (repo / name).exists():
            sys.exit(f"{repo / name} is missing: run `uv run dvc repro` in {repo} first")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest / name)
    return dest


def wall(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import evidently; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def compute_phases(work: Path) -> dict[str, float]:
    """The stage's work after Evidently is imported, phase by phase (in this process)."""
    import pandas as pd

    from bikecast import io
    from bikecast.config import load_params
    from bikecast.ml.drift import prepare, summarise
    from bikecast.ml.drift_report import banner_html, evidently_scores, with_banner
    from bikecast.ml.model import load_model, predict_features

    cwd = os.getcwd()
    os.chdir(work)
    try:
        t0 = time.perf_counter()
        params = load_params("params.yaml").drift
        train = pd.read_parquet("data/split/train.parquet")
        test = pd.read_parquet("data/split/test.parquet")
        booster, _ = load_model("models/model.ubj", "models/model.json")
        prepared = prepare(train, test, params, lambda f: predict_features(booster, f))
        t1 = time.perf_counter()
        scores, snapshot = evidently_scores(prepared)
        t2 = time.perf_counter()
        summary = summarise(prepared, scores, params)
        page = with_banner(snapshot.get_html_str(as_iframe=False), banner_html(summary, []))
        t3 = time.perf_counter()
        io.write_text(page, "reports/drift.html")
        io.write_json(summary, "metrics/drift.json")
        t4 = time.perf_counter()
    finally:
        os.chdir(cwd)
    return {
        "read_predict_prepare_s": t1 - t0,
        "evidently_run_s": t2 - t1,
        "summary_html_s": t3 - t2,
        "write_s": t4 - t3,
        "compute_total_s": t4 - t0,
        "html_bytes": len(page.encode()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="bench_drift_") as tmp:
        work = scratch_copy(repo, Path(tmp))
        runs: dict[str, list[float]] = {
            "evaluate_stage_s": [], "drift_stage_s": [], "import_evidently_s": []
        }  # fmt: skip
        for _ in range(args.repeat):
            runs["evaluate_stage_s"].append(wall(["bikecast", "evaluate"], work))
            runs["drift_stage_s"].append(wall(["bikecast", "drift"], work))
            runs["import_evidently_s"].append(import_time())
        import evidently  # noqa: F401  (the in-process compute below is timed after this)

        phases = [compute_phases(work) for _ in range(args.repeat)]
        summary = json.loads((work / "metrics" / "drift.json").read_text())

    result = {name: round(statistics.median(values), 2) for name, values in runs.items()}
    for key in phases[0]:
        result[key] = round(statistics.median(p[key] for p in phases), 3)
    result["drift_vs_evaluate"] = round(result["drift_stage_s"] / result["evaluate_stage_s"], 2)
    result["import_share_of_drift"] = round(
        result["import_evidently_s"] / result["drift_stage_s"], 2
    )
    result["repeat"] = args.repeat
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["drift_json"] = {
        "retrain_recommended": summary["retrain_recommended"],
        "reason": summary["reason"],
    }
    out = Path(__file__).parent / "out" / "bench_drift.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:24s} {value}")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
