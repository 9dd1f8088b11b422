"""Pipeline speed: cold `dvc repro` per stage vs the same stage functions in one process,
no-op `dvc repro` vs `dvc status`, and features + train scaling up to 1M rows.

    uv run python bench/bench_pipeline.py            # all three, ~3-5 min on 2 cores
    uv run python bench/bench_pipeline.py --skip-scaling

Prints a table and writes bench/out/pipeline.json. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
STAGES = ("ingest", "validate", "features", "split", "train", "evaluate")


def sh(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def fresh_repo() -> Path:
    from tests.conftest import copy_repo

    return copy_repo(Path(tempfile.mkdtemp(prefix="bench-pipeline-")) / "repo")


def cold_repro() -> dict:
    """Each stage as DVC runs it (a fresh `bikecast <stage>` process), then all in-process."""
    repo = fresh_repo()
    total = sh(["dvc", "repro", *STAGES], repo)  # the pipeline's own stages, cold
    per_stage = {}
    for stage in STAGES:
        per_stage[stage] = sh(["bikecast", stage], repo)
    code = (
        "import time, json\n"
        "from bikecast.config import load_params\n"
        "from bikecast.stages import ingest, validate, features, split, train, evaluate\n"
        "t = time.perf_counter(); p = load_params()\n"
        "ingest.run(p); validate.run(p); features.run(p); split.run(p); train.run(p)\n"
        "evaluate.run(p)\n"
        "print(json.dumps(time.perf_counter() - t))\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True)
    in_process = time.perf_counter() - start  # includes one interpreter start and imports
    return {
        "dvc_repro_total_s": round(total, 2),
        "stage_process_s": {k: round(v, 2) for k, v in per_stage.items()},
        "stage_processes_total_s": round(sum(per_stage.values()), 2),
        "in_process_total_s": round(in_process, 2),
        "ratio_dvc_repro_to_in_process": round(total / in_process, 2),
        "repo": str(repo),
    }


def noop(repo: Path, repeats: int = 5) -> dict:
    status = [sh(["dvc", "status"], repo) for _ in range(repeats)]
    repro = [sh(["dvc", "repro"], repo) for _ in range(repeats)]
    return {
        "dvc_status_median_s": round(statistics.median(status), 3),
        "noop_repro_median_s": round(statistics.median(repro), 3),
        "ratio_noop_repro_to_status": round(
            statistics.median(repro) / statistics.median(status), 2
        ),
    }


def scaling(sizes=(125_000, 250_000, 500_000, 1_000_000)) -> list[dict]:
    """Synthetic canonical hours (one row per hour, many years) → features + fixed-size fit."""
    from tests.conftest import make_canonical

    from bikecast.config import TrainParams
    from bikecast.ml.training import fit
    from bikecast.stages.features import feature_table

    params = TrainParams(n_estimators=100, early_stopping_rounds=1000, valid_days=30)
    rows = []
    for n in sizes:
        frame = make_canonical(hours=n, start="1950-01-01T00:00Z", seed=1)
        t0 = time.perf_counter()
        table = feature_table(frame)
        t1 = time.perf_counter()
        fit(table, params)
        t2 = time.perf_counter()
        rows.append({"rows": n, "features_s": round(t1 - t0, 2), "train_s": round(t2 - t1, 2)})
        del table, frame
    base = rows[0]
    for r in rows:
        scale = r["rows"] / base["rows"]
        r["features_growth_vs_rows"] = round(r["features_s"] / base["features_s"] / scale, 2)
        r["train_growth_vs_rows"] = round(r["train_s"] / base["train_s"] / scale, 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    results = {"cold": cold_repro()}
    results["noop"] = noop(Path(results["cold"]["repo"]))
    if not args.skip_scaling:
        results["scaling"] = scaling()
    out = ROOT / "bench" / "out" / "pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
