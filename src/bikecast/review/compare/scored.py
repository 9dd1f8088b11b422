"""A model scored on the window: its predictions, its card and the code that scored it; the
current model scored here, and the check that the two models forecast the same series."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bikecast import paths
from bikecast.errors import CompareError
from bikecast.ml.card import ModelCard


@dataclass(frozen=True)
class Scored:
    predicted: np.ndarray
    card: ModelCard
    gain: dict[str, float]
    code: str  # the directory the `bikecast` package was imported from


def score_current(root: Path, inputs: pd.DataFrame) -> Scored:
    """The working tree's model, scored in this process by the current code."""
    import bikecast
    from bikecast.ml.model import load_model, predict

    # the evaluation fit: trained on the train split only, so the test window is unseen
    booster, card = load_model(root / paths.EVAL_MODEL, root / paths.EVAL_META)
    gain = {k: float(v) for k, v in booster.get_score(importance_type="gain").items()}
    predicted = predict(booster, inputs, card.station_table, card.level_table)
    return Scored(predicted, card, gain, str(Path(bikecast.__file__).parent))


def check_same_grain(challenger: Scored, champion: Scored, label: str) -> None:
    """A city model and a station model forecast different things: no gate can rank them."""
    base, current = champion.card.grain, challenger.card.grain
    if base != current:
        raise CompareError(
            f"{label} has a {base}-grain model and the working tree a {current}-grain "
            "one: they forecast different series, so the gate cannot compare them. Review the "
            "change by hand (at station grain, metrics/evaluate.json `aggregate` compares the "
            "summed station forecasts with a city model on the same hours)"
        )
