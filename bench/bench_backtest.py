"""Backtest speed: the weekly retrain loop replayed over 2011 as a ratio to one `train` fit.

Issue 15: "on the seed, a weekly backtest over 2011-03..2011-12 (~40 origins) in <= 2 minutes
on 2 cores". Side by side in one run (the machine is noisy), in this process:
  fit       one `train` fit as the train stage does it: `fit(train.parquet, params.train,
            feature_columns(grain))`, one warm-up (imports, XGBoost/OpenMP start) then
            --fits timed runs, median;
  backtest  `run_backtest(features.parquet, params, start, end)` --repeat times (the fit
            inside is timed through the `fitter` hook, which calls `pipeline_fit`, the
            default: evaluation fit for the rounds, then the served refit), with
            the number of origins, the mean per origin and backtest / one fit;
  cli       `uv run bikecast backtest --start ... --end ...` once in a subprocess, wall
            time including uv and the interpreter start (--out/--plot in a temp dir).

    uv run python bench/bench_backtest.py                 # ~2-4 min on 2 cores
    uv run python bench/bench_backtest.py --fits 5 --repeat 2 --skip-cli

Needs data/features/ and data/split/ in the working tree (`dvc repro split`). Prints a
table and writes bench/out/backtest.json. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
START = "2011-03-01T00:00:00-05:00"
END = "2011-12-31T23:00:00-05:00"


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip()


def one_fit(fits: int) -> dict:
    """The train stage's fit (local engine), warmed up once, then `fits` timed runs."""
    import pandas as pd

    from bikecast.config import load_params
    from bikecast.ml.features import feature_columns
    from bikecast.ml.training import fit

    params = load_params(ROOT / "params.yaml")
    columns = feature_columns(params.grain)
    train = pd.read_parquet(ROOT / "data" / "split" / "train.parquet")
    fitted = fit(train, params.train, columns)  # warm-up, not counted
    times = []
    for _ in range(fits):
        t = time.perf_counter()
        fitted = fit(train, params.train, columns)
        times.append(time.perf_counter() - t)
    return {
        "rows": len(train),
        "rounds": fitted.rounds,
        "seconds": [round(s, 3) for s in times],
        "median_s": round(statistics.median(times), 3),
    }


def backtest(repeat: int) -> dict:
    import pandas as pd

    from bikecast.config import load_params, parse_timestamp
    from bikecast.ml.backtest import pipeline_fit, run_backtest
    from bikecast.ml.features import feature_columns

    params = load_params(ROOT / "params.yaml")
    columns = feature_columns(params.grain)
    start, end = parse_timestamp(START, "start"), parse_timestamp(END, "end")
    runs = []
    for _ in range(repeat):
        fit_s, rounds = [], []

        def fitter(rows, fit_s=fit_s, rounds=rounds):
            t = time.perf_counter()
            fitted = pipeline_fit(rows, params, columns)  # what run_backtest does by default
            fit_s.append(time.perf_counter() - t)
            rounds.append(fitted.rounds)
            return fitted

        t = time.perf_counter()
        table = pd.read_parquet(ROOT / "data" / "features" / "features.parquet")
        result = run_backtest(table, params, start, end, fitter=fitter).result
        total = time.perf_counter() - t
        runs.append({"total_s": total, "fit_s": sum(fit_s), "rounds": rounds, "result": result})
    result = runs[-1]["result"]
    origins = result["span"]["origins"]
    total = statistics.median(r["total_s"] for r in runs)
    served = result["overall"]["served"]
    return {
        "start": START,
        "end": END,
        "origins": origins,
        "hours": result["span"]["hours"],
        "seconds": [round(r["total_s"], 2) for r in runs],
        "total_s": round(total, 2),
        "per_origin_s": round(total / origins, 3),
        "fit_share": round(statistics.median(r["fit_s"] / r["total_s"] for r in runs), 3),
        "rounds_min_median_max": [
            min(runs[-1]["rounds"]),
            int(statistics.median(runs[-1]["rounds"])),
            max(runs[-1]["rounds"]),
        ],
        "served_rmsle": served["rmsle"],
        "served_bias": served["bias"],
        "bias_share_of_mean": result["bias_share_of_mean"],
        "overall_rmsle": {m: v["rmsle"] for m, v in result["overall"].items()},
    }


def cli() -> dict:
    """`uv run bikecast backtest` end to end, outputs in a temp dir (not metrics/, reports/)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    outputs = ["--out", str(scratch / "backtest.json"), "--plot", str(scratch / "backtest.png")]
    uv = shutil.which("uv") or "uv"
    cmd = [uv, "run", "bikecast", "backtest", "--start", START, "--end", END, *outputs]
    try:
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
        origins = json.loads((scratch / "backtest.json").read_text())["span"]["origins"]
        return {"wall_s": round(wall, 2), "origins": origins, "stdout": proc.stdout.strip()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=5, help="timed train fits (median)")
    parser.add_argument("--repeat", type=int, default=2, help="timed backtests (median)")
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    for path in ("data/split/train.parquet", "data/features/features.parquet"):
        if not (ROOT / path).exists():
            raise SystemExit(f"{path} is missing: run `dvc repro split` first")
    results = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "head": git("rev-parse", "--short", "HEAD"),
        "src_uncommitted": git("status", "--short", "src").splitlines(),
        "nproc": os.cpu_count(),
        "load_avg_start": load_avg(),
    }
    results["fit"] = one_fit(args.fits)
    results["backtest"] = backtest(args.repeat)
    results["ratio_backtest_to_one_fit"] = round(
        results["backtest"]["total_s"] / results["fit"]["median_s"], 1
    )
    if not args.skip_cli:
        results["cli"] = cli()
    results["load_avg_end"] = load_avg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "backtest.json").write_text(json.dumps(results, indent=2) + "\n")

    fit, bt = results["fit"], results["backtest"]
    load = f"load {results['load_avg_start']} -> {results['load_avg_end']}"
    print(
        f"HEAD {results['head']}, {len(results['src_uncommitted'])} uncommitted src/ changes, "
        f"nproc {results['nproc']}, {load}"
    )
    print(f"{'measure':<34}{'value':>12}")
    rows = [
        (f"one train fit, median of {len(fit['seconds'])} s", f"{fit['median_s']:.2f}"),
        ("  train rows / rounds", f"{fit['rows']} / {fit['rounds']}"),
        (f"backtest total, median of {len(bt['seconds'])} s", f"{bt['total_s']:.2f}"),
        ("  origins", f"{bt['origins']}"),
        ("  per origin s", f"{bt['per_origin_s']:.3f}"),
        ("  share of time in fit", f"{bt['fit_share']:.1%}"),
        ("ratio backtest / one fit", f"{results['ratio_backtest_to_one_fit']:.1f}"),
        ("served RMSLE (all hours)", f"{bt['served_rmsle']:.4f}"),
        ("served bias rentals/h", f"{bt['served_bias']:.2f}"),
    ]
    if "cli" in results:
        rows.append(("CLI wall s (uv run, end to end)", f"{results['cli']['wall_s']:.2f}"))
    for name, value in rows:
        print(f"{name:<34}{value:>12}")
    print(f"→ {OUT / 'backtest.json'}")


if __name__ == "__main__":
    main()
