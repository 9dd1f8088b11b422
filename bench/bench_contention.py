"""Two XGBoost fits at once on 2 cores: OpenMP's waiting policy, side by side in one run.

XGBoost runs every tree level as OpenMP parallel loops (2 threads: train.nthread). Between
loops libgomp's idle threads spin before they sleep; when another process's fit holds the
other core, the spinning steals the time the working thread needs. The test suite runs two
xdist workers, CI runners run jobs side by side: both hit this.

For each OMP_WAIT_POLICY (unset = libgomp's default spin, PASSIVE = sleep at once), this
times one `train` fit (`fit(train.parquet, params.train, feature_columns(grain))`, --fits
times in a fresh process) alone, then two such processes at once; rounds interleaved.
Then 1 against 2 threads alone (fresh processes) on the train split stacked 1, 2 and 8
times (each copy 52 weeks before the next, so the rows look like more years): what one
process gains from the second thread as the rows grow.

    uv run python bench/bench_contention.py            # ~2 min on 2 idle cores
    uv run python bench/bench_contention.py --rounds 3 --fits 3

Needs data/split/ (`dvc repro split`). Prints a table, writes bench/out/contention.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
# name: (environment, threads per fit)
POLICIES = {
    "default": ({}, 2),
    "PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "SPINCOUNT=10k": ({"GOMP_SPINCOUNT": "10000"}, 2),
    "1 thread": ({}, 1),
}

FIT = """
import sys, time
import pandas as pd
from bikecast.config import load_params
from bikecast.grain import Grain
from bikecast.ml.features import feature_columns
from bikecast.ml.training import fit
params = load_params("params.yaml")
base = pd.read_parquet("data/split/train.parquet")
train = pd.concat([base.assign(timestamp=base["timestamp"] - pd.Timedelta(weeks=52 * i))
                   for i in reversed(range(int(sys.argv[2])))], ignore_index=True)
columns = feature_columns(Grain(params.grain))
fit(train, params.train, columns)  # warm-up: OpenMP threads, caches
start = time.perf_counter()
for _ in range(int(sys.argv[1])):
    fit(train, params.train, columns)
print(time.perf_counter() - start)
"""


def run(policy: tuple[dict, int], fits: int, copies: int, stack: int = 1) -> float:
    """Wall time of the timed fits in `copies` processes started together (the slowest)."""
    extra, threads = policy
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env.update(extra, OMP_NUM_THREADS=str(threads))  # training.threads()
    command = [sys.executable, "-c", FIT, str(fits), str(stack)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(copies)
    ]
    times = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"fit failed under {policy}")
        times.append(float(out.strip().splitlines()[-1]))
    return max(times) / fits


def thread_scaling(fits: int, rounds: int) -> list[dict]:
    """1 against 2 threads alone, each in a fresh process, on stacked train splits."""
    import pyarrow.parquet as pq

    split_rows = pq.ParquetFile(ROOT / "data" / "split" / "train.parquet").metadata.num_rows
    print(f"\n{'rows':>8}{'1 thread s':>12}{'2 threads s':>13}{'gain':>7}")
    found = []
    for stack in (1, 2, 8):
        times = {1: [], 2: []}
        for _ in range(rounds):
            for count in times:
                times[count].append(run(({}, count), fits, 1, stack))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        rows = stack * split_rows
        print(f"{rows:>8}{one:>12.2f}{two:>13.2f}{one / two:>6.2f}x", flush=True)
        found.append({"rows": rows, "s_1_thread": one, "s_2_threads": two})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fits", type=int, default=3)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, policy in POLICIES.items():
            for copies in (1, 2):
                key = f"{name} x{copies}"
                samples.setdefault(key, []).append(run(policy, args.fits, copies))
                print(f"  {key}: {samples[key][-1]:.2f} s per fit", flush=True)
    median = {key: statistics.median(values) for key, values in samples.items()}
    alone = median["default x1"]
    print(f"\n{'policy x processes':<20}{'s per fit':>10}{'vs default alone':>18}")
    for key, value in median.items():
        print(f"{key:<20}{value:>10.2f}{value / alone:>17.2f}x")
    scaling = thread_scaling(args.fits, args.rounds)
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"rounds": args.rounds, "fits": args.fits, "median_s_per_fit": median,
              "samples": samples, "thread_scaling": scaling,
              "load_avg": os.getloadavg()}  # fmt: skip
    (OUT / "contention.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
