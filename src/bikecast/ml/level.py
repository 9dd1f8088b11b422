"""How busy the city is now compared with a year ago: the level the calendar cannot know.

Calendar and weather describe a season, not a level: in a city whose demand grows 50-70% a
year, a model fitted on last year's July forecasts this July at last year's level. A trailing
mean of rentals would know the level but mixes it with the season (it lags every spring rise
and autumn fall), so it is compared with the same days one year (52 weeks, same weekdays)
earlier. The ratio of the two is the growth, free of the season:

    level(hour) = log( mean rentals/h over [D - lag - days, D - lag)
                     / mean rentals/h over the same days 364 days earlier )

with D the hour's local day. The model learns log1p(rentals) - level, and its forecast is
expm1(trees + level), so this July is last July's shape times this year's growth.

Only what is known when the forecast is made: `lag_days` is at least `split.test_days`, so no
test hour is described by rentals of the test window, and hours further ahead than the lag
(only the API and a long backtest ask for those) use the latest known level. Where either
window is less than 80% observed (the first year of data, outages) the last known level
stands; before any is known, 0 (no growth, the plain model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bikecast.ml.calendar import local_day

if TYPE_CHECKING:  # the pipeline's tables; serving (numpy columns) needs no pandas
    import pandas as pd

    from bikecast.config import Params

YEAR_DAYS = 364  # 52 weeks: the same weekdays a year earlier
MIN_COVERAGE = 0.8  # share of a window's hours that must be observed
# The growth is clipped: a level outside 1/3..3x a year earlier is an outage or a new
# system, not a trend a forecast should multiply by.
CLIP = float(np.log(3.0))


def daily_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Rentals and observed hours per local day (index: day number). Partial tables of any
    row-wise partition add up, so Dask sums them per day."""
    import pandas as pd

    keyed = pd.DataFrame(
        {
            "day": local_day(frame["timestamp"]),
            "rentals": frame["rentals"].to_numpy(dtype="float64"),
            "hours": frame["timestamp"].to_numpy(),
        }
    )
    return keyed.groupby("day").agg(rentals=("rentals", "sum"), hours=("hours", "nunique"))


def _window_means(cum_rentals: np.ndarray, cum_hours: np.ndarray, end: np.ndarray, days: int):
    """Mean rentals/h over the days [end - days, end) of cumulative daily sums; NaN where
    fewer than MIN_COVERAGE of the window's hours were observed."""
    size = len(cum_rentals) - 1
    stop = np.clip(end, 0, size)
    start = np.clip(stop - days, 0, size)
    hours = cum_hours[stop] - cum_hours[start]
    enough = (hours >= MIN_COVERAGE * 24 * days) & (stop - start == days)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(enough, (cum_rentals[stop] - cum_rentals[start]) / hours, np.nan)


@dataclass(frozen=True, eq=False)
class LevelTable:
    """The level of each local day's forecasts, by the day its window ends (day - lag)."""

    first_day: int  # local day number of values[0]
    values: np.ndarray  # log growth per window end day, first_day .. last known day + 1
    days: int
    lag_days: int

    def __post_init__(self) -> None:
        if self.values.ndim != 1 or self.values.size == 0 or not np.isfinite(self.values).all():
            raise ValueError(f"level table is malformed ({self.values.size} values, not finite)")
        if self.days < 1 or self.lag_days < 0:
            raise ValueError(f"level table is malformed (days {self.days}, lag {self.lag_days})")

    @classmethod
    def build(cls, daily: pd.DataFrame, days: int, lag_days: int) -> LevelTable:
        """From `daily_totals` rows (any number of partial tables concatenated)."""
        import pandas as pd

        daily = daily.groupby(level=0).sum()
        first, last = int(daily.index.min()), int(daily.index.max())
        rentals = np.zeros(last - first + 1)
        hours = np.zeros_like(rentals)
        rentals[daily.index.to_numpy() - first] = daily["rentals"].to_numpy()
        hours[daily.index.to_numpy() - first] = daily["hours"].to_numpy()
        cum_r = np.concatenate([[0.0], rentals.cumsum()])
        cum_h = np.concatenate([[0.0], hours.cumsum()])
        end = np.arange(len(rentals) + 1)  # window ends: first_day .. last + 1 (exclusive)
        now = _window_means(cum_r, cum_h, end, days)
        growth = np.log(now / _window_means(cum_r, cum_h, end - YEAR_DAYS, days))
        growth = pd.Series(np.clip(growth, -CLIP, CLIP)).ffill().fillna(0.0).to_numpy()
        return cls(first, growth, days, lag_days)

    def of(self, timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """The level of each UTC hour: its day's window end, clamped to the known days."""
        end = local_day(timestamps) - self.lag_days - self.first_day
        return self.values[np.clip(end, 0, self.values.size - 1)].astype("float32")

    @property
    def known_through(self) -> str:
        """The last local day whose rentals the table holds; later windows reuse its level."""
        return str(np.datetime64(self.first_day + self.values.size - 2, "D"))

    @property
    def latest(self) -> float:
        return float(self.values[-1])

    def tail(self, extra_days: int = 0) -> LevelTable:
        """Only the days still needed: the last value serves every hour more than `lag_days`
        after the data end; `extra_days` more also serve that many days before it (the test
        window, so that `compare` scores the model with exactly what it would have served)."""
        keep = min(self.lag_days + extra_days + 2, self.values.size)  # days D-lag, +1 past end
        cut = self.values.size - keep
        return LevelTable(self.first_day + cut, self.values[cut:], self.days, self.lag_days)

    def to_dict(self) -> dict:
        return {
            "method": "year_over_year",
            "first_day": str(np.datetime64(self.first_day, "D")),
            "days": self.days,
            "lag_days": self.lag_days,
            "values": [float(v) for v in self.values],  # exact: serving matches to the float
        }

    @classmethod
    def from_dict(cls, data: dict) -> LevelTable:
        """Raises ValueError("level table is malformed ...") for anything unusable."""
        try:
            if data["method"] != "year_over_year":
                raise ValueError(f"unknown method {data['method']!r}")
            return cls(
                first_day=int(np.datetime64(data["first_day"], "D").astype("int64")),
                values=np.array(data["values"], dtype="float64"),
                days=int(data["days"]),
                lag_days=int(data["lag_days"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if str(exc).startswith("level table is malformed"):
                raise
            raise ValueError(f"level table is malformed ({exc!r})") from exc


def level_for(rows: Any, params: Params) -> LevelTable | None:
    """The level table of these rows (pandas or Dask) under params; None when the model has
    no level (level.method none, or station grain)."""
    if not params.uses_level:
        return None
    if hasattr(rows, "map_partitions"):  # Dask: per-partition day totals, summed here
        daily = rows[["timestamp", "rentals"]].map_partitions(daily_totals).compute()
    else:
        daily = daily_totals(rows)
    return LevelTable.build(daily, params.level.days, params.level.lag_days)
