"""The year-over-year level on a growing city: with it and without it, side by side.

The seed is one year, so inside it the level is 0 (no year earlier) and changes nothing.
What it is for, a city whose demand grows 50-70% a year, is made from the seed by
`bikecast.data.synthetic.grown_city`: a second year = the first 52 weeks later, every count
drawn as Poisson(count x 1.65). On that two-year city, in one run:
  split     fitted through 2012-06-29 (the pipeline's two fits, `pipeline_fit`), scored on
            the whole of July-December 2012: one long horizon, as the issue measured it;
  backtest  `run_backtest` over 26 weekly origins 2012-06-29 .. 2012-12-28 (the loop).
each with level.method year_over_year and none (params.yaml otherwise), plus the wall time.

    uv run python bench/bench_level.py        # ~1.5 min on 2 cores

Needs data/interim/hourly.parquet (`dvc repro validate`). Prints a table and writes
bench/out/level.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from bikecast.config import LevelParams, load_params
from bikecast.data.synthetic import grown_city
from bikecast.ml.backtest import pipeline_fit, run_backtest
from bikecast.ml.features import feature_columns
from bikecast.ml.level import level_for
from bikecast.ml.metrics import regression_metrics
from bikecast.ml.model import predict
from bikecast.stages.features import feature_table

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CUTOFF = pd.Timestamp("2012-06-29T04:00Z")  # 2012-06-29 00:00 in Washington
END = pd.Timestamp("2012-12-28T05:00Z")


def main() -> None:
    base = load_params(ROOT / "params.yaml")
    city = grown_city(pd.read_parquet(ROOT / "data/interim/hourly.parquet"))
    results = {}
    for method in ("year_over_year", "none"):
        params = base.model_copy(update={"level": LevelParams(method=method)})
        began = time.perf_counter()
        known = city[city["timestamp"] <= CUTOFF]
        booster = pipeline_fit(
            feature_table(known, level=level_for(known, params)), params, feature_columns()
        ).booster
        future = city[(city["timestamp"] > CUTOFF) & (city["timestamp"] <= END)]
        split = regression_metrics(
            future["rentals"], predict(booster, future, level=level_for(known, params))
        )
        split["bias_share_of_mean"] = split["bias"] / float(future["rentals"].mean())
        table = feature_table(city, level=level_for(city, params))
        replay = run_backtest(table, params, CUTOFF, END).result
        results[method] = {
            "split": {k: round(v, 4) for k, v in split.items()},
            "backtest": {
                "overall": replay["overall"],
                "bias_share_of_mean": replay["bias_share_of_mean"],
                "skill": replay["skill"],
                "origins": replay["span"]["origins"],
                "origins_skill_below_0.35": sum(
                    1
                    for s in replay["steps"]
                    if 1 - s["served"]["rmsle"] / s["hour_workingday_mean"]["rmsle"] < 0.35
                ),
            },
            "seconds": round(time.perf_counter() - began, 1),
        }
    print(f"{'':34}{'year_over_year':>16}{'none':>12}")
    rows = [
        ("split: RMSLE", lambda r: r["split"]["rmsle"]),
        ("split: bias share of mean", lambda r: r["split"]["bias_share_of_mean"]),
        ("backtest: served RMSLE", lambda r: r["backtest"]["overall"]["served"]["rmsle"]),
        ("backtest: never retrained RMSLE",
         lambda r: r["backtest"]["overall"]["never_retrained"]["rmsle"]),
        ("backtest: bias share of mean", lambda r: r["backtest"]["bias_share_of_mean"]),
        ("backtest: skill vs hour x wd mean",
         lambda r: r["backtest"]["skill"]["rmsle_served_vs_hour_workingday_mean"]),
        ("backtest: origins with skill < .35", lambda r: r["backtest"]["origins_skill_below_0.35"]),
        ("seconds (both parts)", lambda r: r["seconds"]),
    ]  # fmt: skip
    for label, get in rows:
        values = [get(results[m]) for m in ("year_over_year", "none")]
        print(f"{label:34}" + "".join(f"{v:>16.4f}" if i == 0 else f"{v:>12.4f}"
                                      for i, v in enumerate(values)))  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "level.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
