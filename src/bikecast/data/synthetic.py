"""Synthetic datasets made from a real city series (tests, demos, benches).

`stations_from_city`: a station-grain dataset. The city's real rentals of each hour are
dealt out to stations, so the station rows add up exactly to the real city total and keep
its weather, seasons and holidays. Stations differ in size (log-normal popularity), in their
commuter/leisure mix (weekday peaks at 8:00 and 17:30 against a midday weekend hump) and
some open during the period: the structure a station model has to learn. Casual riders lean
to leisure stations, members to commuter stations.

`grown_city`: a second year of a growing city.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bikecast.data.schema import STATION_GRAIN_COLUMNS, WEATHER_COLUMNS
from bikecast.ml.features import build_features

CENTRE = (38.8951, -77.0364)  # central Washington DC
OPENING_SHARE = 0.1  # stations that open during the period


def _profiles(city: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Commuter and leisure demand shapes per hour of the city frame."""
    calendar = build_features(city)
    hour = calendar["hour"].to_numpy()
    working = calendar["working_day"].to_numpy() > 0
    commute = 0.1 + np.exp(-((hour - 8) ** 2) / 2) + 1.2 * np.exp(-((hour - 17.5) ** 2) / 3)
    commuter = np.where(working, commute, 0.15 + 0.2 * np.exp(-((hour - 13) ** 2) / 12))
    leisure = 0.05 + np.exp(-((hour - 14) ** 2) / 10) * np.where(working, 0.5, 1.5)
    return commuter, leisure


def stations_from_city(city: pd.DataFrame, n_stations: int, seed: int = 0) -> pd.DataFrame:
    """Typed canonical city rows → station-grain canonical rows, one per open station-hour."""
    if n_stations < 1:
        raise ValueError("n_stations must be at least 1")
    city = city.sort_values("timestamp", ignore_index=True)
    rng = np.random.default_rng(seed)
    popularity = rng.lognormal(0.0, 0.8, n_stations)
    commuter_mix = rng.beta(2.0, 2.0, n_stations)
    opening = np.zeros(n_stations, dtype="int64")  # index of the first open hour
    late = rng.random(n_stations) < OPENING_SHARE
    late[0] = False  # at least one station is open from the start
    opening[late] = rng.integers(len(city) // 4, 3 * len(city) // 4, late.sum())
    open_ = np.arange(len(city))[:, None] >= opening[None, :]  # (hours, stations)

    commuter, leisure = _profiles(city)
    members = popularity * (
        commuter_mix * commuter[:, None] + (1 - commuter_mix) * leisure[:, None]
    )
    casuals = popularity * ((1 - commuter_mix) * leisure[:, None] + 0.3 * commuter[:, None])
    counts = {}
    for column, weights in (("registered", members), ("casual", casuals)):
        weights = np.where(open_, weights, 0.0)
        pvals = weights / weights.sum(axis=1, keepdims=True)
        counts[column] = rng.multinomial(city[column].to_numpy(dtype="int64"), pvals)

    hour_index, station_index = np.nonzero(open_)
    frame = pd.DataFrame(
        {
            "timestamp": city["timestamp"].to_numpy()[hour_index],
            "station_id": np.array([str(31000 + i) for i in range(n_stations)])[station_index],
            "latitude": np.round(CENTRE[0] + rng.normal(0, 0.03, n_stations), 6)[station_index],
            "longitude": np.round(CENTRE[1] + rng.normal(0, 0.04, n_stations), 6)[station_index],
            "casual": counts["casual"][hour_index, station_index],
            "registered": counts["registered"][hour_index, station_index],
        }
    )
    frame["timestamp"] = frame["timestamp"].astype(city["timestamp"].dtype)
    frame["rentals"] = frame["casual"] + frame["registered"]
    for column in WEATHER_COLUMNS:
        frame[column] = city[column].to_numpy()[hour_index]
    return frame[list(STATION_GRAIN_COLUMNS)]


YEAR = pd.Timedelta(days=364)  # 52 weeks: every hour keeps its weekday


def grown_city(city: pd.DataFrame, growth: float = 1.65, seed: int = 0) -> pd.DataFrame:
    """One real year of city rows → two: the second is the first 52 weeks later with every
    rider count drawn as Poisson(count x growth). A city whose demand grows by `growth` a
    year and still swings by season and weather as the real one did: what a level-aware
    model must follow and a calendar-only one cannot (bikecast.ml.level)."""
    city = city.sort_values("timestamp", ignore_index=True)
    rng = np.random.default_rng(seed)
    later = city.assign(timestamp=city["timestamp"] + YEAR)
    for column in ("casual", "registered"):
        later[column] = rng.poisson(city[column].to_numpy(dtype="float64") * growth)
    later["rentals"] = later["casual"] + later["registered"]
    later = later[later["timestamp"] > city["timestamp"].max()]
    return pd.concat([city, later], ignore_index=True)
