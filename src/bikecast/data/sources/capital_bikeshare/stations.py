"""The station grid (zero-filled station-hours from each first trip) and station coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bikecast.data.schema import DataError


def station_hours(
    counts: list[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, where: str
) -> pd.DataFrame:
    """Every (UTC hour, station) from the station's first trip in [start, end] to `end`,
    sorted by (timestamp, station_id); no trips → 0. `hour` is the hour's position."""
    hours = pd.date_range(start, end, freq="h", tz="UTC").astype("datetime64[ns, UTC]")
    combined = pd.concat(counts).groupby(level=[0, 1]).sum()
    stamps = combined.index.get_level_values(0)
    combined = combined[(stamps >= start) & (stamps <= end)]
    if combined.empty:
        raise DataError(f"{where}: no trip with a start station between {start} and {end}")
    hour = hours.get_indexer(combined.index.get_level_values(0))
    stations, station = np.unique(
        combined.index.get_level_values(1).to_numpy(dtype=object), return_inverse=True
    )
    first = np.full(len(stations), len(hours))
    np.minimum.at(first, station, hour)
    active = np.arange(len(hours))[:, None] >= first[None, :]
    grid_hour, grid_station = np.nonzero(active)  # row-major: by hour, then station id
    width = len(stations)
    rows = np.searchsorted(grid_hour * width + grid_station, hour * width + station)
    frame = pd.DataFrame(
        {
            "timestamp": hours[grid_hour],
            "station_id": stations[grid_station],
            "hour": grid_hour,
        }
    )
    for column in ("casual", "registered"):
        values = np.zeros(len(frame), dtype="int64")
        values[rows] = combined[column].to_numpy()
        frame[column] = values
    frame["rentals"] = frame["casual"] + frame["registered"]
    return frame


def station_coordinates(coords: pd.DataFrame) -> pd.DataFrame:
    """Median latitude and longitude per station from counted distinct start coordinates."""
    medians = {
        axis: _weighted_median(coords[["station_id", axis, "n"]].dropna(), axis)
        for axis in ("latitude", "longitude")
    }
    frame = pd.DataFrame(medians, dtype="float64")
    frame.index.name = "station_id"
    return frame


def _weighted_median(values: pd.DataFrame, column: str) -> pd.Series:
    """Per station, the median of `column` repeated `n` times (even counts: mean of the two
    middle values, as numpy and pandas do)."""
    table = values.groupby(["station_id", column], sort=True)["n"].sum().reset_index()
    by_station = table.groupby("station_id", sort=False)["n"]
    upto = by_station.cumsum()
    total = by_station.transform("sum")
    before = upto - table["n"]
    middle = []
    for k in ((total - 1) // 2, total // 2):
        hit = (before <= k) & (k < upto)
        middle.append(table.loc[hit].set_index("station_id")[column])
    return ((middle[0] + middle[1]) / 2).astype("float64")
