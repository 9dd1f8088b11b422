"""Station-grain training: one process (`train.fit`) vs a Dask LocalCluster (`train.fit_dask`).

    uv run python bench/bench_station_train.py --sizes 2e5 --rounds 5 \\
        --json bench/out/station_train_smoke.json                      # smoke, ~40 s
    uv run python bench/bench_station_train.py --sizes 1e6,5e6,2e7 --rounds 50 \\
        --bounded-limits 1GiB,768MiB --bounded-rounds 10        # the full bench, ~30 min
    uv run python bench/bench_station_train.py --sizes 2e7 --skip-main --bounded-limits 1GiB \\
        --bounded-workers 12 --partition-rows 500000   # bounded runs only, added to the JSON

Data (not timed): the seed city series dealt out to stations (`synthetic.stations_from_city`),
the station feature table, the last 7 days kept apart as a holdout and the rest written as a
parquet dataset of 1M-row row groups under bench/out/station_<N>/ (reused when present).

Each measurement runs in a fresh subprocess, so its peak memory is its own:
- local: `pd.read_parquet` + `fit` (probe with early stopping on the last valid_days, then
  refit on all rows: what `bikecast train` runs; n_estimators = early_stopping_rounds =
  --rounds, so the probe always runs all rounds). Peak = the process's peak RSS (VmHWM).
- dask: `compute.dask_client` LocalCluster (2 workers x 1 thread), `compute.read_parquet` +
  `fit_dask`, same TrainParams. Peak = each worker's VmHWM (asked through client.run)
  and the client's; the peak of the summed RSS of the process tree is sampled every 0.2 s.
Both models are scored (RMSLE) on the same holdout. --bounded-limits reruns Dask on the
largest size with per-worker memory limits below the size of the training data (a run
that fails, e.g. a worker killed over its limit, is reported with its error).

Prints a table and writes bench/out/station_train.json (or --json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SEED = ROOT / "data" / "seed" / "bikeshare_dc_2011.csv.gz"
HOLDOUT_DAYS = 7
ROW_GROUP = 1_000_000
FILE_ROWS = 4_000_000  # rows per parquet file of the dataset (4 row groups each)
MIB = 2**20


def columns() -> tuple[str, ...]:
    from bikecast.ml.features import feature_columns

    return feature_columns("station")


def train_params(rounds: int):
    """params.yaml's train section, with a fixed number of rounds (no early stop effect)."""
    from bikecast.config import TrainParams

    return TrainParams(
        n_estimators=rounds,
        early_stopping_rounds=rounds,
        max_depth=6,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        min_child_weight=10.0,
        reg_lambda=1.0,
        valid_days=14,
        seed=42,
    )


# --- data preparation (parent process, not timed) -------------------------------------------


def city_frame():
    from bikecast.data.schema import read_canonical
    from bikecast.data.validation import validate_frame

    return validate_frame(read_canonical(SEED)).valid


def rows_per_station(city) -> float:
    """Training rows per station (open hours before the holdout), from a 400-station draw."""
    import pandas as pd

    from bikecast.data.synthetic import stations_from_city

    frame = stations_from_city(city, 400, seed=0)
    cutoff = frame["timestamp"].max() - pd.Timedelta(days=HOLDOUT_DAYS)
    return float((frame["timestamp"] <= cutoff).sum()) / 400


def prepare(target: int, city, per_station: float) -> dict:
    """Write bench/out/station_<target>/{train.parquet/, holdout.parquet}; reuse if present."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bikecast.data.synthetic import stations_from_city
    from bikecast.ml.stations import StationTable, daily_history, station_places
    from bikecast.stages.features import feature_table

    folder = OUT / f"station_{target}"
    info_path = folder / "data.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    start = time.perf_counter()
    n_stations = max(1, round(target / per_station))
    valid = stations_from_city(city, n_stations, seed=0)
    stations = StationTable.build(daily_history(valid), station_places(valid), 28, 28)
    cutoff = valid["timestamp"].max() - pd.Timedelta(days=HOLDOUT_DAYS)
    n_train = int((valid["timestamp"] <= cutoff).sum())  # rows are in time order
    keep = ["timestamp", "rentals", *columns()]
    train_dir = folder / "train.parquet"
    train_dir.mkdir(parents=True, exist_ok=True)
    for old in train_dir.glob("*.parquet"):
        old.unlink()
    for part, lo in enumerate(range(0, n_train, FILE_ROWS)):
        hi = min(lo + FILE_ROWS, n_train)
        table = feature_table(valid.iloc[lo:hi].reset_index(drop=True), stations)[keep]
        pq.write_table(
            pa.Table.from_pandas(table, preserve_index=False),
            train_dir / f"part-{part:03d}.parquet",
            row_group_size=ROW_GROUP,
        )
        del table
    holdout = feature_table(valid.iloc[n_train:].reset_index(drop=True), stations)[keep]
    holdout.to_parquet(folder / "holdout.parquet", index=False)
    n_features = len(columns())
    info = {
        "target_rows": target,
        "n_stations": n_stations,
        "train_rows": n_train,
        "holdout_rows": len(holdout),
        "train_start": str(valid["timestamp"].iloc[0]),
        "train_end": str(valid["timestamp"].iloc[n_train - 1]),
        "holdout_end": str(valid["timestamp"].iloc[-1]),
        "parquet_files": len(list(train_dir.glob("*.parquet"))),
        "parquet_mib": round(sum(f.stat().st_size for f in train_dir.glob("*")) / MIB, 1),
        # what a dense float32 matrix of the features + a float64 label takes in memory
        "matrix_mib": round(n_train * (4 * n_features + 8) / MIB, 1),
        "prep_s": round(time.perf_counter() - start, 1),
    }
    info_path.write_text(json.dumps(info, indent=2))
    return info


# --- measurements (child processes) ----------------------------------------------------------


def holdout_rmsle(booster, folder: Path) -> float:
    import numpy as np
    import pandas as pd

    from bikecast.ml.training import matrix

    holdout = pd.read_parquet(folder / "holdout.parquet")
    predicted = np.clip(booster.predict(matrix(holdout, columns())), 0, None)
    return float(np.sqrt(np.mean((predicted - np.log1p(holdout["rentals"])) ** 2)))


def maxrss_mib() -> float:
    """Peak RSS of this process (VmHWM). Not ru_maxrss: on Linux that keeps the peak of the
    parent at fork across exec, so a child of a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_local(folder: Path, rounds: int) -> dict:
    import pandas as pd

    from bikecast.ml.training import fit

    start = time.perf_counter()
    train = pd.read_parquet(folder / "train.parquet", columns=["timestamp", "rentals", *columns()])
    read_s = time.perf_counter() - start
    rss_read = maxrss_mib()
    start = time.perf_counter()
    fitted = fit(train, train_params(rounds), columns())
    train_s = time.perf_counter() - start
    peak = maxrss_mib()
    return {
        "rows": len(train),
        "read_s": read_s,
        "train_s": train_s,
        "total_s": read_s + train_s,
        "rounds": fitted.rounds,
        "peak_mib_after_read": rss_read,
        "peak_mib": peak,
        "rmsle": holdout_rmsle(fitted.booster, folder),
    }


class TreeSampler(threading.Thread):
    """Peak RSS per process and of the sum, over this process and all its children."""

    def __init__(self, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every_s, self.peaks, self.peak_sum = every_s, {}, 0
        self.names: dict[int, str] = {}
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.done.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    self.names.setdefault(proc.pid, " ".join(proc.cmdline()[-2:])[-60:])
                except psutil.Error:
                    continue
                total += rss
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            self.peak_sum = max(self.peak_sum, total)
            self.done.wait(self.every_s)


def _worker_maxrss() -> tuple[int, float]:
    return os.getpid(), maxrss_mib()


def run_dask(
    folder: Path, rounds: int, memory_limit: str, workers: int, partition_rows: int
) -> dict:
    import dask
    import distributed  # noqa: F401  (registers its config)

    from bikecast.compute import dask_client, read_parquet
    from bikecast.config import ComputeParams
    from bikecast.ml.training import fit_dask

    sampler = TreeSampler()
    sampler.start()
    compute = ComputeParams(
        engine="dask",
        n_workers=workers,
        threads_per_worker=1,
        memory_limit=memory_limit,
        partition_rows=partition_rows,
    )
    result: dict = {"memory_limit": memory_limit, "workers": workers}
    result["partition_rows"] = partition_rows
    result["dask_memory_config"] = dask.config.get("distributed.worker.memory")
    start = time.perf_counter()
    try:
        with dask_client(compute) as client:
            result["cluster_start_s"] = time.perf_counter() - start
            before = sorted(client.scheduler_info()["workers"])
            frame = read_parquet(
                folder / "train.parquet", compute, ["timestamp", "rentals", *columns()]
            )
            result["partitions"] = frame.npartitions
            start = time.perf_counter()
            result["rows"] = int(frame.map_partitions(len).sum().compute())
            result["read_pass_s"] = time.perf_counter() - start  # one full parquet read
            start = time.perf_counter()
            fitted = fit_dask(client, frame, train_params(rounds), columns(), nthread=1)
            result["train_s"] = time.perf_counter() - start
            result["worker_peak_mib"] = dict(sorted(client.run(_worker_maxrss).values()))
            result["workers_restarted"] = sorted(client.scheduler_info()["workers"]) != before
            result["rounds"] = fitted.rounds
            result["rmsle"] = holdout_rmsle(fitted.booster, folder)
    except Exception as exc:  # report the failure (e.g. a worker killed over its limit)
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        sampler.done.set()
        sampler.join()
    result["client_peak_mib"] = maxrss_mib()
    result["tree_peak_sum_mib"] = sampler.peak_sum / MIB
    result["tree_peaks_mib"] = {
        f"{pid} {sampler.names.get(pid, '')}": rss / MIB for pid, rss in sampler.peaks.items()
    }
    if "worker_peak_mib" in result:
        result["peak_mib"] = result["client_peak_mib"] + sum(result["worker_peak_mib"].values())
    return result


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    load = os.getloadavg()[0]
    if args.child == "local":
        result = run_local(folder, args.rounds)
    else:
        result = run_dask(folder, args.rounds, args.memory_limit, args.workers, args.partition_rows)
    result.update(mode=args.child, load_before=load, load_after=os.getloadavg()[0])
    print("RESULT " + json.dumps(result), flush=True)


# --- driver ----------------------------------------------------------------------------------


def measure(
    mode: str, folder: Path, rounds: int, limit: str, workers: int, args: argparse.Namespace
) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--folder", str(folder)]
    cmd += ["--rounds", str(rounds), "--memory-limit", limit, "--workers", str(workers)]
    cmd += ["--partition-rows", str(args.partition_rows)]
    timeout = args.timeout
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"mode": mode, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        tail = proc.stderr.strip().splitlines()[-15:]
        return {"mode": mode, "error": f"exit {proc.returncode}: " + "\n".join(tail)}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_wall_s"] = wall
    if result.get("error"):
        result["stderr_tail"] = proc.stderr.strip().splitlines()[-15:]
    return result


def row(label: str, r: dict) -> str:
    if r.get("error") and "train_s" not in r:
        return f"{label:<30} FAILED: {r['error'].splitlines()[-1][:90]}"
    total = r.get("total_s", r.get("train_s", 0.0))
    workers = r.get("worker_peak_mib", {})
    per_worker = "/".join(f"{v:,.0f}" for v in workers.values()) or "-"
    return (
        f"{label:<30} {r['rows']:>11,} {r['rounds']:>4} {total:>8.1f} "
        f"{r['rows'] / total:>10,.0f} {r['peak_mib']:>8,.0f} {per_worker:>13} "
        f"{r['rmsle']:>7.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1e6,5e6,2e7", help="target train rows, comma list")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--memory-limit", default="4GiB", help="per worker, main Dask runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bounded-limits", default="", help="e.g. 1GiB,768MiB (largest size)")
    parser.add_argument("--bounded-rounds", type=int, default=10)
    parser.add_argument("--bounded-workers", type=int, help="default: --workers")
    parser.add_argument("--partition-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--skip-main", action="store_true", help="bounded runs only, appended to the JSON"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="per measurement, s")
    parser.add_argument("--json", type=Path, default=OUT / "station_train.json", help="output")
    parser.add_argument("--child", choices=["local", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sizes = [int(float(s)) for s in args.sizes.split(",")]
    city = city_frame()
    per_station = rows_per_station(city)
    data = {}
    for size in sizes:
        data[size] = prepare(size, city, per_station)
        print(f"data {size:,}: {json.dumps(data[size])}", flush=True)
    del city

    json_path = args.json
    previous = json.loads(json_path.read_text()) if args.skip_main else {}
    runs: list[dict] = previous.get("runs", [])
    for size in [] if args.skip_main else sizes:
        folder = OUT / f"station_{size}"
        for mode in ("local", "dask"):
            r = measure(mode, folder, args.rounds, args.memory_limit, args.workers, args)
            r.update(size=size, kind="main")
            runs.append(r)
            print(f"{mode} {size:,}: {json.dumps(r)}", flush=True)
    for limit in filter(None, args.bounded_limits.split(",")):
        size = max(sizes)
        folder = OUT / f"station_{size}"
        workers = args.bounded_workers or args.workers
        r = measure("dask", folder, args.bounded_rounds, limit, workers, args)
        r.update(size=size, kind="bounded")
        runs.append(r)
        print(f"bounded dask {size:,} {limit}: {json.dumps(r)}", flush=True)

    print(
        f"\n{'run':<30} {'train rows':>11} {'rnds':>4} {'wall s':>8} {'rows/s':>10} "
        f"{'peak MiB':>8} {'worker MiB':>13} {'RMSLE':>7}"
    )
    for r in runs:
        label = f"{r['mode']} {r['size']:.0e}"
        if r["mode"] == "dask":
            label += f" {r.get('workers')}x{r.get('memory_limit', '')}"
        print(row(label, r))
    for size in sizes:
        pair = {r["mode"]: r for r in runs if r["size"] == size and r["kind"] == "main"}
        if all("train_s" in pair.get(m, {}) for m in ("local", "dask")):
            ratio = pair["dask"]["train_s"] / pair["local"]["total_s"]
            print(f"dask/local wall (read + train) at {size:,}: {ratio:.2f}")
    print("(local wall = parquet read + fit; dask wall = fit_dask incl. its parquet reads)")
    result = {
        "sizes": sizes,
        "rounds": args.rounds,
        "bounded_rounds": args.bounded_rounds,
        "train_params": train_params(args.rounds).model_dump(),
        "cpu_count": os.cpu_count(),
        **previous,
        "data": {**previous.get("data", {}), **{str(k): v for k, v in data.items()}},
        "runs": runs,
    }
    json_path.write_text(json.dumps(result, indent=2))
    print(f"→ {json_path}")


if __name__ == "__main__":
    main()
