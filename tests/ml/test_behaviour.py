"""Behavioural tests of the model (Made-With-ML's directional tests): on a small model fitted
on the real seed, changing one input moves demand the way a person would expect. Predictions
go through `bikecast.ml.model.predict`, the function serving calls, from raw inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SEED
from tests.ml.test_training import small_params

from bikecast.data.schema import TIMEZONE, read_canonical
from bikecast.data.validation import validate_frame
from bikecast.ml.features import INPUT_COLUMNS, build_features
from bikecast.ml.model import predict
from bikecast.ml.training import fit
from bikecast.stages.features import feature_table

MILD = {"temp_c": 22.0, "feels_like_c": 22.0, "humidity_pct": 55.0, "wind_kmh": 10.0}


@pytest.fixture(scope="module")
def booster():
    """60 trees on all of 2011 (~1 s): small, but the daily and weather effects are there."""
    return fit(feature_table(validate_frame(read_canonical(SEED)).valid), small_params()).booster


def hours(local: list[str], weather: str = "clear", **values: float) -> pd.DataFrame:
    """Raw API inputs for Washington DC local times, every hour with the same weather."""
    stamps = pd.DatetimeIndex(local).tz_localize(TIMEZONE).tz_convert("UTC")
    frame = pd.DataFrame({"timestamp": stamps, "weather": weather, **(MILD | values)})
    return frame[list(INPUT_COLUMNS)]


def rentals(booster, local: list[str], **inputs) -> np.ndarray:
    return predict(booster, hours(local, **inputs))


# the working days of a week in spring, summer and autumn 2011 (Mon-Fri, no holidays)
WORKING_DAYS = [
    str(day.date())
    for start in ("2011-05-02", "2011-06-13", "2011-10-17")
    for day in pd.date_range(start, periods=5, freq="D")
]


def test_the_morning_commute_beats_the_small_hours(booster):
    assert build_features(hours(WORKING_DAYS))["working_day"].all()  # the premise
    morning = rentals(booster, [f"{day} 08:00" for day in WORKING_DAYS])
    night = rentals(booster, [f"{day} 03:00" for day in WORKING_DAYS])
    assert (morning > 2 * night).all(), (morning, night)


@pytest.mark.parametrize("hour", ["08:00", "12:00", "17:00", "22:00"])
def test_heavy_rain_does_not_raise_demand(booster, hour):
    stamps = [f"{day} {hour}" for day in WORKING_DAYS]
    clear = rentals(booster, stamps, weather="clear")
    rain = rentals(booster, stamps, weather="heavy_precip")
    assert (rain <= clear).all(), (rain, clear)


def test_warm_dry_summer_hours_beat_freezing_ones(booster):
    stamps = [f"2011-06-{day} 17:00" for day in range(13, 18)]  # a working week in June
    warm = rentals(booster, stamps, temp_c=25.0, feels_like_c=25.0)
    freezing = rentals(booster, stamps, temp_c=-5.0, feels_like_c=-9.0)
    assert (warm > freezing).all(), (warm, freezing)
