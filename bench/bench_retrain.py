"""The weekly retrain as the schedule runs it: `dvc repro` after ingest.as_of moves one step,
on one year of hours (the seed, ~8.6k rows) and on two (~17k: the seed's growing city,
bikecast.data.synthetic.grown_city), side by side in one run.

    uv run dvc repro                                  # the seed's interim data, once
    uv run python bench/bench_retrain.py              # ~4 min on 2 cores
    uv run python bench/bench_retrain.py --steps 1    # quicker

Each city gets a temp repo (a copy of this checkout's code and params), a cold `dvc repro`,
then `--steps` retrains: as_of + 7 days, `dvc repro`, timed (and which stages DVC ran).
Prints a table and writes bench/out/retrain.json. Run on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
OUT = ROOT / "bench/out"


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{tail}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def city_repo(name: str, frame: pd.DataFrame, as_of: str) -> Path:
    from tests.conftest import copy_repo, set_params
    from tests.conftest import run as git

    repo = copy_repo(Path(tempfile.mkdtemp(prefix=f"bench-retrain-{name}-")) / "repo")
    data = repo / "data/seed" / f"{name}.csv.gz"
    out = frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat()))
    out.to_csv(data, index=False)
    set_params(repo, {"path": f"data/seed/{name}.csv.gz", "as_of": f'"{as_of}"'})
    git(["git", "add", "-A"], repo)
    git(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name], repo)
    return repo


def retrains(repo: Path, as_of: str, steps: int) -> dict:
    from tests.conftest import set_params

    cold, _ = run(["dvc", "repro"], repo)
    rows = len(pd.read_parquet(repo / "data/interim/hourly.parquet"))
    weekly = []
    moment = pd.Timestamp(as_of)
    for _ in range(steps):
        moment += pd.Timedelta(days=7)
        set_params(repo, {"as_of": f'"{moment.isoformat()}"'})
        seconds, log = run(["dvc", "repro"], repo)
        weekly.append({"as_of": moment.isoformat(), "seconds": round(seconds, 1),
                       "rows": len(pd.read_parquet(repo / "data/interim/hourly.parquet")),
                       "stages_run": re.findall(r"Running stage '(\w+)'", log)})  # fmt: skip
    return {"rows_cold": rows, "cold_s": round(cold, 1), "weekly": weekly}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="weekly retrains per city")
    args = parser.parse_args()
    interim = ROOT / "data/interim/hourly.parquet"
    if not interim.exists():
        raise SystemExit(f"{interim} not found: run `uv run dvc repro` first")
    from bikecast.data.synthetic import grown_city

    seed = pd.read_parquet(interim)
    cities = {
        # as_of leaves room for the weekly steps inside each file
        "one_year": (seed, "2011-12-03T23:00:00-05:00"),
        "two_years": (grown_city(seed), "2012-12-01T23:00:00-05:00"),
    }
    results: dict = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    for name, (frame, as_of) in cities.items():
        repo = city_repo(name, frame, as_of)
        results[name] = retrains(repo, as_of, args.steps)
        print(name, json.dumps(results[name]))
    one, two = (mean_weekly(results[n]) for n in cities)
    rows = results["two_years"]["rows_cold"] / results["one_year"]["rows_cold"]
    results["two_years_vs_one"] = {"rows": round(rows, 2), "weekly_seconds": round(two / one, 2)}
    results["load_after"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "retrain.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"weekly retrain: one year {one:.1f} s, two years {two:.1f} s "
        f"({rows:.2f}x the rows, {two / one:.2f}x the seconds); saved {OUT / 'retrain.json'}"
    )


def mean_weekly(city: dict) -> float:
    return sum(w["seconds"] for w in city["weekly"]) / len(city["weekly"])


if __name__ == "__main__":
    main()
