"""One-record cost of the serving path, piece by piece: features, level, model call, total.

Issue 16: "the shared feature function ... its cost for one row must be micro-seconds".
Times, in this process, one record (and a 10,000-record batch for the per-row rate) through
`build_features`, `model_features` (with the served card's level table), XGBoost's
`inplace_predict` on the ready matrix (nthread 1, as the API sets it) and `predict` (the
API's call), each as the median of --repeat blocks of --calls calls.

    uv run python bench/bench_features.py                    # ~20 s
    uv run python bench/bench_features.py --src /tmp/old/src # another revision's code

Needs models/model.{ubj,json} (`dvc repro`). Prints a table; writes bench/out/features.json.
With --src the package is imported from that directory (e.g. `git archive HEAD~1 src | tar
-x -C /tmp/old`), so two revisions are compared back to back on the same machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_call(fn, calls: int, repeat: int) -> float:
    fn()
    blocks = []
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        blocks.append((time.perf_counter() - began) / calls)
    return statistics.median(blocks) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, help="import bikecast from this src/ directory")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, str(args.src.resolve()))
    import pandas as pd

    import bikecast
    from bikecast.ml.features import build_features, model_features
    from bikecast.ml.model import load_model, predict

    booster, card = load_model(ROOT / "models/model.ubj")
    booster.set_param({"nthread": 1})
    level = getattr(card, "level_table", None)
    tables = {"level": level} if level is not None else {}
    one = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2012-01-05T13:00:00Z"], utc=True),
            "temp_c": [5.0], "feels_like_c": [3.0], "humidity_pct": [60.0],
            "wind_kmh": [10.0], "weather": ["clear"],
        }
    )  # fmt: skip
    batch = pd.concat([one] * 10_000, ignore_index=True)
    batch["timestamp"] = pd.date_range("2012-01-01", periods=10_000, freq="h", tz="UTC")
    matrix = model_features(one, None, **tables)[booster.feature_names].to_numpy("float32")
    c, r = args.calls, args.repeat
    result = {
        "code": str(Path(bikecast.__file__).parent),
        "build_features_1_us": per_call(lambda: build_features(one), c, r),
        "model_features_1_us": per_call(lambda: model_features(one, None, **tables), c, r),
        "inplace_predict_1_us": per_call(lambda: booster.inplace_predict(matrix), c, r),
        "predict_1_us": per_call(lambda: predict(booster, one, None, **tables), c, r),
        "predict_10k_us_per_row": per_call(lambda: predict(booster, batch, None, **tables), 3, r)
        / 10_000,
    }
    for key, value in result.items():
        print(f"{key:28} {value if isinstance(value, str) else round(value, 2)}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "features.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
