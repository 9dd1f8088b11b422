"""The rows both models are scored on: the current test window, with its raw inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bikecast import paths
from bikecast.data.schema import WEATHER_COLUMNS, DataError
from bikecast.grain import Grain


@dataclass(frozen=True)
class Window:
    inputs: pd.DataFrame  # timestamp + weather: what a caller of the model provides
    test: pd.DataFrame  # the current test split (targets + current features)
    train: pd.DataFrame
    history: pd.DataFrame  # every observed hour, for the seasonal naive baseline

    @property
    def actual(self) -> np.ndarray:
        return self.test["rentals"].to_numpy(dtype="float64")

    @property
    def grain(self) -> Grain:
        return Grain.of_frame(self.test)

    @property
    def by(self) -> tuple[str, ...]:
        """Baseline keys besides the hour: each station has its own at station grain."""
        return self.grain.by

    def describe(self) -> dict[str, Any]:
        stamps = self.test["timestamp"]
        return {
            "start": stamps.min().isoformat(),
            "end": stamps.max().isoformat(),
            "rows": len(stamps),
        }


def load_window(root: Path) -> Window:
    """The current test hours (station-hours at station grain) with their raw inputs joined
    from data/interim/."""
    test = pd.read_parquet(root / paths.TEST)
    if test.empty:
        raise DataError(f"{paths.TEST}: the test window has no rows")
    keys = list(Grain.of_frame(test).keys)
    interim = pd.read_parquet(root / paths.INTERIM, columns=[*keys, *WEATHER_COLUMNS])
    inputs = test[keys].merge(interim, on=keys, how="left", validate="one_to_one")
    if inputs[list(WEATHER_COLUMNS)].isna().any().any():
        missing = inputs.loc[inputs[list(WEATHER_COLUMNS)].isna().any(axis=1), "timestamp"]
        raise DataError(
            f"{paths.INTERIM}: {len(missing)} test hours of {paths.TEST} have no weather "
            f"(first {missing.iloc[0].isoformat()}); run `dvc repro`"
        )
    return Window(
        inputs=inputs,
        test=test,
        train=pd.read_parquet(root / paths.TRAIN),
        history=pd.read_parquet(root / paths.FEATURES, columns=[*keys, "rentals"]),
    )
