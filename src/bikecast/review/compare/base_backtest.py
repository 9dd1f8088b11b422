"""The champion's recipe replayed: a program run under the BASE revision's code (like
base_scorer.py, it may import nothing of today's bikecast).

In its working directory it finds today's validated rows (data/interim/hourly.parquet) and
the base's params.yaml. It builds the base's features from those rows with the base's own
features stage, then runs the base's `bikecast.ml.backtest.run_backtest` over the span it is
given: what the base's recipe would have served on the same data.

Usage: python -c "$(cat base_backtest.py)" START END RESULT
RESULT gets {"module", "backtest"} or {"error"}; the exit status is 4 on error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

NO_BACKTEST = 4


def replay(start: str, end: str) -> dict[str, Any]:
    import pandas as pd

    import bikecast

    try:
        from bikecast.config import load_params
        from bikecast.ml.backtest import run_backtest
        from bikecast.stages import features
    except ImportError as exc:
        return {"error": f"its code has no backtest ({exc})"}
    try:
        params = load_params("params.yaml")
        if params.compute.engine != "local":  # one process, like today's side
            params = params.model_copy(
                update={"compute": params.compute.model_copy(update={"engine": "local"})}
            )
        features.run(params)
        table = pd.read_parquet("data/features/features.parquet")
        result = run_backtest(table, params, pd.Timestamp(start), pd.Timestamp(end)).result
    except Exception as exc:  # the base's own failure, reported in its words
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"module": bikecast.__file__, "backtest": result}


def main(argv: list[str]) -> int:
    start, end, result_path = argv
    result = replay(start, end)
    with open(result_path, "w") as fh:
        json.dump(result, fh)
    return NO_BACKTEST if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
