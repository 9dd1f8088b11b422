"""Pipeline speed: cold `dvc repro` (every stage its own process, as DVC runs it) with the
venv's bytecode vs without it, vs the same stage functions in one process; no-op `dvc repro`
vs `dvc status`; features + train scaling up to 1M rows.

Without bytecode means what a venv installed without it costs where Python cannot write it
(PYTHONDONTWRITEBYTECODE=1, as on these machines): every import compiles its modules again.
The bench points PYTHONPYCACHEPREFIX at an empty directory for that.

    uv run python bench/bench_pipeline.py            # all three, ~3-4 min on 2 cores
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
STAGES = ("ingest", "validate", "features", "split", "train", "evaluate", "drift")


def sh(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def fresh_repo() -> Path:
    from tests.conftest import copy_repo

    return copy_repo(Path(tempfile.mkdtemp(prefix="bench-pipeline-")) / "repo")


def no_bytecode() -> dict:
    """Imports that find no bytecode and write none: every module is compiled again."""
    return {"PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="no-pyc-"),
            "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip


def cold_repro(rounds: int = 2) -> dict:
    """Cold `dvc repro` of every stage in a fresh repo, with the venv's bytecode and without,
    side by side (the order flips every round); then each stage as its own process, and the
    same stage functions in one process."""
    runs: dict[str, list[float]] = {"bytecode": [], "no_bytecode": []}
    for i in range(rounds):
        for kind in ("bytecode", "no_bytecode")[:: 1 if i % 2 == 0 else -1]:
            repo = fresh_repo()
            env = no_bytecode() if kind == "no_bytecode" else {}
            runs[kind].append(round(sh(["dvc", "repro"], repo, env), 2))
    per_stage = {stage: round(sh(["bikecast", stage], repo), 2) for stage in STAGES}
    code = (
        "from bikecast.config import load_params\n"
        f"from bikecast.stages import {', '.join(STAGES)}\n"
        "p = load_params()\n" + "".join(f"{stage}.run(p)\n" for stage in STAGES)
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True)
    in_process = time.perf_counter() - start  # includes one interpreter start and imports
    repro = statistics.median(runs["bytecode"])
    return {
        "dvc_repro_s": runs,
        "ratio_no_bytecode_to_bytecode": round(statistics.median(runs["no_bytecode"]) / repro, 2),
        "stage_process_s": per_stage,
        "stage_processes_total_s": round(sum(per_stage.values()), 2),
        "in_process_total_s": round(in_process, 2),
        "ratio_dvc_repro_to_in_process": round(repro / in_process, 2),
        "repo": str(repo),
    }


def noop(repo: Path, repeats: int = 7) -> dict:
    """`dvc status` and a `dvc repro` with nothing to do, alternated."""
    status, repro = [], []
    for _ in range(repeats):
        status.append(sh(["dvc", "status"], repo))
        repro.append(sh(["dvc", "repro"], repo))
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
