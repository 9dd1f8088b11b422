"""Dask training at two revisions of the code, side by side on the same data in one run.

    uv run python bench/bench_dask_revisions.py --base ecff10a --size 5e6 --repeats 2

The base revision's `src/` is exported with `git archive` to bench/out/rev-<base>/ and put
first on PYTHONPATH of its measurements (the workers inherit it); the working copy's `src/` is
the other side. Each measurement is one `bench_station_train.py --child dask` run (a fresh
LocalCluster of 2 workers x 1 thread: `read_parquet` + `fit_dask`, peak RSS per worker), in
the order base, current, base, current, ... so that a change in machine load hits both.
Data: bench_station_train's prepared station dataset of that size (made when missing).
Prints a table and the current/base ratios; writes bench/out/dask_revisions.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_station_train as station  # noqa: E402


def export_src(rev: str) -> Path:
    """The revision's src/ under bench/out/rev-<sha>/ (the same files `git show` has)."""
    sha = subprocess.check_output(["git", "rev-parse", "--short", rev], cwd=ROOT, text=True)
    target = station.OUT / f"rev-{sha.strip()}"
    if not (target / "src").exists():
        archive = subprocess.check_output(["git", "archive", rev, "src"], cwd=ROOT)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def measure_dask(folder: Path, src: Path, rounds: int) -> dict:
    cmd = [sys.executable, station.__file__, "--child", "dask", "--folder", str(folder)]
    cmd += ["--rounds", str(rounds)]
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"measurement failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_wall_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--size", default="5e6", help="target train rows")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    size = int(float(args.size))
    city = station.city_frame()
    info = station.prepare(size, city, station.rows_per_station(city))
    del city
    folder = station.OUT / f"station_{size}"
    sides = {"base": export_src(args.base), "current": ROOT / "src"}
    runs = []
    for repeat in range(args.repeats):
        for side, src in sides.items():
            r = measure_dask(folder, src, args.rounds)
            r.update(side=side, repeat=repeat)
            runs.append(r)
            workers = "/".join(f"{v:,.0f}" for v in r["worker_peak_mib"].values())
            print(
                f"{side:<8} #{repeat}  fit_dask {r['train_s']:6.1f} s  workers {workers} MiB  "
                f"RMSLE {r['rmsle']:.4f}  load {r['load_before']:.1f}",
                flush=True,
            )

    def mean(side: str, key) -> float:
        return statistics.mean(key(r) for r in runs if r["side"] == side)

    def spread(r: dict) -> float:
        peaks = r["worker_peak_mib"].values()
        return max(peaks) - min(peaks)

    summary = {
        name: mean("current", key) / mean("base", key)
        for name, key in {
            "fit_dask_s": lambda r: r["train_s"],
            "largest_worker_peak_mib": lambda r: max(r["worker_peak_mib"].values()),
        }.items()
    }
    summary["worker_peak_spread_mib"] = {s: mean(s, spread) for s in sides}
    print(f"current/base at {info['train_rows']:,} rows: {json.dumps(summary)}")
    out = station.OUT / "dask_revisions.json"
    out.write_text(json.dumps({"base": args.base, "data": info, "summary": summary, "runs": runs}))
    print(f"→ {out}")


if __name__ == "__main__":
    main()
