"""Station features, shared by training and serving like `build_features`.

Which station (its id, as a category), where it is, and how busy it has been lately. "Lately"
is only what is known when the forecast is made: the station's mean rentals per hour over
`history_days` whole local days before the day `history_lag_days` ahead of the hour being
forecast (the forecast horizon), so no hour is described by its own or later rentals.

The features stage builds one `StationTable` from all the data; the last days of it travel in
the model card, so the API computes exactly the same features for hours after the data end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from bikecast.ml.calendar import local_day

if TYPE_CHECKING:  # the pipeline's tables; serving (numpy columns) needs no pandas
    import pandas as pd

STATION_FEATURE_COLUMNS = ("station_code", "latitude", "longitude", "station_recent_mean")
CATEGORICAL = frozenset({"station_code"})  # XGBoost splits it as a category, not a number


class UnknownStationError(ValueError):
    """A station the model has never seen: it has no code, place or history to use."""


def daily_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Per station and local day: rentals and the number of observed station-hours.

    Partial tables of any row-wise partition add up (Dask sums them per key).
    """
    import pandas as pd

    keyed = pd.DataFrame(
        {
            "station_id": frame["station_id"].astype(str).to_numpy(),
            "day": local_day(frame["timestamp"]),
            "rentals": frame["rentals"].to_numpy(dtype="int64"),
            "hours": 1,
        }
    )
    return keyed.groupby(["station_id", "day"], sort=False, as_index=False)[
        ["rentals", "hours"]
    ].sum()


def station_places(frame: pd.DataFrame) -> pd.DataFrame:
    """Latest known coordinates per station (index station_id; NaN where the source has none)."""
    places = frame[["station_id", "latitude", "longitude"]].astype({"station_id": str})
    return places.groupby("station_id", sort=False)[["latitude", "longitude"]].last()


@dataclass(frozen=True, eq=False)
class StationTable:
    ids: tuple[str, ...]  # sorted; the station's position is its station_code
    latitude: np.ndarray
    longitude: np.ndarray
    first_day: int  # local day number of column 0 of rentals/hours
    rentals: np.ndarray  # (stations, days) rentals per local day
    hours: np.ndarray  # (stations, days) observed station-hours per local day
    history_days: int
    lag_days: int

    def __post_init__(self) -> None:
        """A table that would fail (or mislead) every lookup is refused when it is made."""
        stations, days = len(self.ids), self.rentals.shape[-1] if self.rentals.ndim else 0
        problems = []
        if stations == 0 or days == 0:
            problems.append(f"{stations} stations x {days} days")
        if len(set(self.ids)) != stations:
            problems.append("duplicate station ids")
        if self.latitude.shape != (stations,) or self.longitude.shape != (stations,):
            problems.append(
                f"{self.latitude.size} latitudes and {self.longitude.size} longitudes "
                f"for {stations} stations"
            )
        if self.rentals.shape != (stations, days) or self.hours.shape != self.rentals.shape:
            problems.append(f"hours {self.hours.shape} and rentals {self.rentals.shape}")
        if self.history_days < 1 or self.lag_days < 0:
            problems.append(f"history_days {self.history_days}, lag_days {self.lag_days}")
        if not problems and not (np.isfinite(self.rentals).all() and np.isfinite(self.hours).all()):
            problems.append("rentals or hours are not finite numbers")
        if problems:
            raise ValueError(f"station table is malformed ({'; '.join(problems)})")

    @classmethod
    def build(
        cls, daily: pd.DataFrame, places: pd.DataFrame, history_days: int, lag_days: int
    ) -> StationTable:
        """From `daily_history` rows and `station_places` (both may come from Dask)."""
        import pandas as pd

        daily = daily.groupby(["station_id", "day"], as_index=False)[["rentals", "hours"]].sum()
        ids = tuple(sorted(daily["station_id"].astype(str).unique()))
        first, last = int(daily["day"].min()), int(daily["day"].max())
        rentals = np.zeros((len(ids), last - first + 1))
        hours = np.zeros_like(rentals)
        row = pd.Index(ids).get_indexer(daily["station_id"].astype(str))
        col = daily["day"].to_numpy(dtype="int64") - first
        rentals[row, col] = daily["rentals"].to_numpy()
        hours[row, col] = daily["hours"].to_numpy()
        places = places[~places.index.duplicated(keep="last")].reindex(list(ids))
        return cls(
            ids=ids,
            latitude=places["latitude"].to_numpy(dtype="float64"),
            longitude=places["longitude"].to_numpy(dtype="float64"),
            first_day=first,
            rentals=rentals,
            hours=hours,
            history_days=history_days,
            lag_days=lag_days,
        )

    @cached_property
    def _cumulative(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pad = np.zeros((len(self.ids), 1))
        return (
            np.hstack([pad, self.rentals.cumsum(axis=1)]),
            np.hstack([pad, self.hours.cumsum(axis=1)]),
            np.array(self.ids, dtype=str),  # sorted: a binary search finds each code
        )

    def codes(self, station_ids: Any) -> np.ndarray:
        """Each id's station_code (its position in the sorted ids); UnknownStationError names
        ids the table does not hold."""
        ids, wanted = self._cumulative[2], np.asarray(station_ids).astype(str)
        found = np.searchsorted(ids, wanted).clip(0, max(len(ids) - 1, 0))
        codes = np.where(ids[found] == wanted, found, -1) if len(ids) else np.full(len(wanted), -1)
        if (codes < 0).any():
            unknown = sorted(set(wanted[codes < 0].tolist()))
            raise UnknownStationError(
                f"unknown station_id {unknown[:5]}: the model knows {len(self.ids)} stations "
                f"(first ones {list(self.ids[:3])}); retrain with data that includes it"
            )
        return codes

    def features(self, frame: Any) -> pd.DataFrame:
        """`matrix` as a frame, same index (the pipeline's feature tables)."""
        import pandas as pd

        index = getattr(frame, "index", None)  # a DataFrame's; none for numpy columns
        return pd.DataFrame(self.matrix(frame), columns=list(STATION_FEATURE_COLUMNS), index=index)

    def matrix(self, frame: Any) -> np.ndarray:
        """Station features (STATION_FEATURE_COLUMNS, float32) of rows with `station_id` and
        `timestamp` (a DataFrame, or numpy columns).

        Hours further ahead than the lag (only the API asks for those) use the latest
        `history_days` the table holds.
        """
        codes = self.codes(frame["station_id"])
        cum_rentals, cum_hours, _ = self._cumulative
        days = self.rentals.shape[1]
        # the window is the local days [D - lag - history, D - lag), D the hour's own day
        end = np.clip(local_day(frame["timestamp"]) - self.lag_days - self.first_day, 0, days)
        start = np.clip(end - self.history_days, 0, days)
        rentals = cum_rentals[codes, end] - cum_rentals[codes, start]
        hours = cum_hours[codes, end] - cum_hours[codes, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            recent = np.where(hours > 0, rentals / hours, np.nan)
        matrix = np.column_stack([codes, self.latitude[codes], self.longitude[codes], recent])
        return matrix.astype("float32")

    def latest(self, extra_days: int = 0) -> StationTable:
        """Only the days still needed: the last lag + history days serve every hour after the
        data end; `extra_days` more also serve that many days before it (the test window, so
        that `compare` scores the model with exactly what it would have served)."""
        keep = min(self.lag_days + self.history_days + extra_days, self.rentals.shape[1])
        cut = self.rentals.shape[1] - keep
        return StationTable(
            self.ids,
            self.latitude,
            self.longitude,
            self.first_day + cut,
            self.rentals[:, cut:],
            self.hours[:, cut:],
            self.history_days,
            self.lag_days,
        )

    def to_dict(self) -> dict:
        def floats(values: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else round(float(v), 6) for v in values]

        return {
            "ids": list(self.ids),
            "latitude": floats(self.latitude),
            "longitude": floats(self.longitude),
            "first_day": str(np.datetime64(self.first_day, "D")),
            "history_days": self.history_days,
            "lag_days": self.lag_days,
            "rentals": self.rentals.astype("int64").tolist(),
            "hours": self.hours.astype("int64").tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> StationTable:
        """Raises ValueError("station table is malformed ...") for anything unusable."""
        try:
            n = len(data["ids"])
            fields = {
                "ids": tuple(str(i) for i in data["ids"]),
                "latitude": np.array(data["latitude"], dtype="float64"),
                "longitude": np.array(data["longitude"], dtype="float64"),
                "first_day": int(np.datetime64(data["first_day"], "D").astype("int64")),
                "rentals": np.array(data["rentals"], dtype="float64").reshape(n, -1),
                "hours": np.array(data["hours"], dtype="float64").reshape(n, -1),
                "history_days": int(data["history_days"]),
                "lag_days": int(data["lag_days"]),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"station table is malformed ({exc!r})") from exc
        return cls(**fields)
