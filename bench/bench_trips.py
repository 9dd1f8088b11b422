"""Aggregating one month of Capital Bikeshare trips into hours vs just reading the file.

Synthesizes a month of real-size trip data (~400k rows) in the current published layout,
zipped like the real `{YYYYMM}-capitalbikeshare-tripdata.zip`, then times in the same run:
  baseline: `pandas.read_csv(zip)` of the same file (every column, default options)
  ours:     `count_trips(zip)` + `local_counts_to_utc` (trips per UTC hour, DST handled)
Best of --repeat runs each. Target: ours <= 1.5 x baseline.

    uv run python bench/bench_trips.py [--rows 400000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from bikecast.data.sources.capital_bikeshare import count_trips, local_counts_to_utc

OUT = Path(__file__).resolve().parent / "out"


def synthesize(rows: int, path: Path, seed: int = 7) -> None:
    """One month (2024-03, crosses spring-forward) in the current layout, zipped."""
    rng = np.random.default_rng(seed)
    month_start = np.datetime64("2024-03-01T00:00:00")
    seconds = np.sort(rng.integers(0, 31 * 24 * 3600, rows))
    starts = month_start + seconds.astype("timedelta64[s]")
    ends = starts + rng.integers(120, 3600, rows).astype("timedelta64[s]")
    stations = rng.integers(31000, 32700, (rows, 2))
    electric = rng.random(rows) < 0.35
    frame = pd.DataFrame(
        {
            "ride_id": [f"{v:016X}" for v in rng.integers(0, 2**63, rows)],
            "rideable_type": np.where(electric, "electric_bike", "classic_bike"),
            "started_at": pd.Series(starts).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "ended_at": pd.Series(ends).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "start_station_name": [f"Station {s}" for s in stations[:, 0]],
            "start_station_id": stations[:, 0],
            "end_station_name": [f"Station {s}" for s in stations[:, 1]],
            "end_station_id": stations[:, 1],
            "start_lat": np.round(38.9 + rng.normal(0, 0.03, rows), 6),
            "start_lng": np.round(-77.03 + rng.normal(0, 0.03, rows), 6),
            "end_lat": np.round(38.9 + rng.normal(0, 0.03, rows), 6),
            "end_lng": np.round(-77.03 + rng.normal(0, 0.03, rows), 6),
            "member_casual": np.where(rng.random(rows) < 0.7, "member", "casual"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_text = frame.to_csv(index=False, quoting=2, lineterminator="\n")  # QUOTE_NONNUMERIC
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name.replace(".zip", ".csv"), csv_text)


def best_of(repeat: int, func) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    path = OUT / "202403-capitalbikeshare-tripdata.zip"
    synthesize(args.rows, path)
    size_mb = path.stat().st_size / 1e6

    t_read, table = best_of(args.repeat, lambda: pd.read_csv(path))
    t_ours, hourly = best_of(args.repeat, lambda: local_counts_to_utc(count_trips(path)))
    assert len(table) == args.rows
    assert int(hourly.to_numpy().sum()) == args.rows, "every trip must be counted once"

    ratio = t_ours / t_read
    print(f"file: {path.name}, {args.rows:,} trips, {size_mb:.1f} MB zipped, {len(hourly)} hours")
    print(f"pandas.read_csv (baseline): {t_read:.3f} s  {args.rows / t_read:,.0f} rows/s")
    print(f"count_trips -> UTC hours:   {t_ours:.3f} s  {args.rows / t_ours:,.0f} rows/s")
    print(f"ratio ours / read_csv:      {ratio:.2f} x  (target <= 1.5 x)")


if __name__ == "__main__":
    main()
