"""The champion's scorer: a program run under the BASE revision's code, not a module of this one.

`champion.BaseScorer` runs this file's text with PYTHONPATH=<worktree>/src, so `bikecast`
below is the base revision's package. It may therefore import nothing of today's bikecast
and must work with every layout the package has had:

- bikecast.ml.model.load_model/predict returning a typed card (`ModelCard`, with
  `station_table`, `to_dict()` and, since the level, `level_table`): this layout, tried first;
- bikecast.ml.model with a dict card and `stations_of(card)` (the first package layout);
- bikecast.model with a dict card and `stations_of(card)` (the flat layout before it).

A station model is scored with the station history in its own card, a level model with the
level table in its own card (what each would serve).
The card goes back as a plain dict, for the current code to parse with `ModelCard.parse`
(which upgrades the older schema).

Usage: python -c "$(cat base_scorer.py)" INPUTS MODEL CARD PREDICTIONS RESULT
RESULT gets {"module", "layout", "card", "gain"} or {"error"}; the exit status is 4 on error.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

LAYOUTS = ("bikecast.ml.model", "bikecast.model")  # newest first
NO_SCORER = 4


def find_model_module() -> tuple[str, Any]:
    """The first layout the base's package has; its own import errors are not swallowed."""
    missing = []
    for name in LAYOUTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(f"{exc.name}."):
                raise  # the layout is there but something it imports is not
            missing.append(f"{name} ({exc})")
            continue
        if hasattr(module, "load_model") and hasattr(module, "predict"):
            return name, module
        missing.append(f"{name} has no load_model/predict")
    raise LookupError("its code has no model module to score with: " + "; ".join(missing))


def card_and_tables(module: Any, card: Any) -> tuple[dict[str, Any], Any, Any]:
    """The card as a JSON-ready dict, and the station and level tables to predict with
    (None where the model has none)."""
    if hasattr(card, "to_dict"):  # a typed ModelCard
        return card.to_dict(), card.station_table, getattr(card, "level_table", None)
    if card.get("grain", "city") == "station":  # a dict card: the grain was a plain word
        return card, module.stations_of(card), None
    return card, None, None


def score(inputs: str, model_path: str, card_path: str, out: str) -> dict[str, Any]:
    import pandas as pd

    import bikecast

    try:
        layout, module = find_model_module()
    except LookupError as exc:
        return {"error": str(exc)}
    except ImportError as exc:
        return {"error": f"its model module cannot be imported ({type(exc).__name__}: {exc})"}
    try:
        booster, card = module.load_model(model_path, card_path)
        card_dict, stations, level = card_and_tables(module, card)
        frame = pd.read_parquet(inputs)
        if level is not None:
            predicted = module.predict(booster, frame, stations, level=level)
        elif stations is not None:
            predicted = module.predict(booster, frame, stations)
        else:
            predicted = module.predict(booster, frame)
    except Exception as exc:  # the base's own failure, reported in its words
        return {"error": f"{type(exc).__name__}: {exc}"}
    pd.DataFrame({"predicted": [float(v) for v in predicted]}).to_parquet(out, index=False)
    return {
        "module": bikecast.__file__,
        "layout": layout,
        "card": card_dict,
        "gain": {k: float(v) for k, v in booster.get_score(importance_type="gain").items()},
    }


def main(argv: list[str]) -> int:
    inputs, model_path, card_path, out, result_path = argv
    result = score(inputs, model_path, card_path, out)
    with open(result_path, "w") as fh:
        json.dump(result, fh)
    return NO_SCORER if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
