"""The one feature function, shared by training and serving (no train/serve skew).

Only what is known when the forecast is made goes in: the calendar of the hour being
forecast (in Washington DC local time) and the weather forecast for it. No lags of the
target, so a client can ask for any future hour with nothing but a timestamp and weather.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from bikecast.schema import TIMEZONE, WEATHER

FEATURE_COLUMNS = (
    "hour",
    "weekday",
    "month",
    "day_of_year",
    "is_holiday",
    "days_to_holiday",
    "working_day",
    "temp_c",
    "feels_like_c",
    "humidity_pct",
    "wind_kmh",
    "weather_code",
)
INPUT_COLUMNS = ("timestamp", "temp_c", "feels_like_c", "humidity_pct", "wind_kmh", "weather")
WEATHER_CODE = {name: code for code, name in enumerate(WEATHER)}  # ordered by severity


HOLIDAY_HORIZON_DAYS = 7  # bridge days and holiday weeks; further away is "no holiday"


@lru_cache(maxsize=64)
def _holiday_dates(years: tuple[int, ...]) -> np.ndarray:
    import holidays

    calendar = holidays.country_holidays("US", subdiv="DC", years=list(years))
    return np.array(sorted(calendar), dtype="datetime64[D]")


def _days_to_nearest(days: np.ndarray, holidays: np.ndarray) -> np.ndarray:
    """Days to the nearest public holiday, capped: demand dips around holidays
    (Thanksgiving weekend, Christmas week), not only on them."""
    after = np.searchsorted(holidays, days)
    next_gap = holidays[np.clip(after, 0, len(holidays) - 1)] - days
    prev_gap = days - holidays[np.clip(after - 1, 0, len(holidays) - 1)]
    nearest = np.minimum(np.abs(next_gap.astype(int)), np.abs(prev_gap.astype(int)))
    return np.minimum(nearest, HOLIDAY_HORIZON_DAYS)


def build_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw inputs (UTC timestamp + weather) → the model's feature matrix, same index."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"feature inputs are missing columns {missing}")
    timestamps = frame["timestamp"]
    if getattr(timestamps.dt, "tz", None) is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    local = timestamps.dt.tz_convert(TIMEZONE)
    local_day = local.dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
    # the neighbouring years too, so the days around New Year see both sides
    years = tuple(sorted({int(y) + d for y in local.dt.year.unique() for d in (-1, 0, 1)}))
    holiday_dates = _holiday_dates(years)
    is_holiday = np.isin(local_day, holiday_dates)
    weekday = local.dt.weekday.to_numpy()
    weather_code = frame["weather"].map(WEATHER_CODE)
    if weather_code.isna().any():
        unknown = sorted(set(frame.loc[weather_code.isna(), "weather"].astype(str)))
        raise ValueError(f"unknown weather labels {unknown}; expected one of {list(WEATHER)}")
    features = pd.DataFrame(
        {
            "hour": local.dt.hour.to_numpy(),
            "weekday": weekday,
            "month": local.dt.month.to_numpy(),
            "day_of_year": local.dt.dayofyear.to_numpy(),
            "is_holiday": is_holiday,
            "days_to_holiday": _days_to_nearest(local_day, holiday_dates),
            "working_day": (weekday < 5) & ~is_holiday,
            "temp_c": frame["temp_c"].to_numpy(),
            "feels_like_c": frame["feels_like_c"].to_numpy(),
            "humidity_pct": frame["humidity_pct"].to_numpy(),
            "wind_kmh": frame["wind_kmh"].to_numpy(),
            "weather_code": weather_code.to_numpy(),
        },
        index=frame.index,
    )
    return features.astype("float32")
