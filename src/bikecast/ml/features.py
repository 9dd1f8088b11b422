"""The one feature function, shared by training and serving (no train/serve skew).

Only what is known when the forecast is made goes in: the calendar of the hour being
forecast (in Washington DC local time) and the weather forecast for it. No lags of the
target, so a client can ask for any future hour with nothing but a timestamp and weather.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from bikecast.data.schema import WEATHER
from bikecast.grain import Grain
from bikecast.ml.calendar import NS_PER_DAY, NS_PER_HOUR, local_ns, utc_ns
from bikecast.ml.stations import CATEGORICAL, STATION_FEATURE_COLUMNS

if TYPE_CHECKING:  # pandas for the pipeline's frames; the API's numpy columns need none
    import pandas as pd

    from bikecast.ml.level import LevelTable
    from bikecast.ml.stations import StationTable

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
# In feature tables of a level model, beside its features (not a tree feature): the log
# growth its target is relative to (bikecast.ml.level).
LEVEL_COLUMN = "level"
INPUT_COLUMNS = ("timestamp", "temp_c", "feels_like_c", "humidity_pct", "wind_kmh", "weather")
# The raw inputs: a DataFrame (the pipeline), or columns of numpy arrays with `timestamp` as
# datetime64 in UTC (the API, which builds no DataFrame and imports no pandas).
Inputs = Mapping[str, Any]  # or a pandas DataFrame, which reads the same way


def feature_columns(grain: Grain | str = Grain.CITY) -> tuple[str, ...]:
    """The model's feature columns: the calendar and weather, plus station features."""
    return (
        (*FEATURE_COLUMNS, *STATION_FEATURE_COLUMNS) if Grain(grain).is_station else FEATURE_COLUMNS
    )


def feature_types(columns: tuple[str, ...]) -> list[str] | None:
    """XGBoost feature types ("c" = category); None keeps the city model exactly as before."""
    if not CATEGORICAL & set(columns):
        return None
    return ["c" if c in CATEGORICAL else "q" for c in columns]


def model_matrix(
    frame: Inputs, stations: StationTable | None = None, level: LevelTable | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """What a model predicts from, in numpy: its tree features as one float32 block (city
    features, then station features for a station-grain model, whose rows also carry
    `station_id`), and the level of each row (the log growth the target is relative to;
    bikecast.ml.level) for a model with one, else None."""
    matrix = feature_matrix(frame)
    if stations is not None:
        matrix = np.column_stack([matrix, stations.matrix(frame)])
    return matrix, None if level is None else level.of(frame["timestamp"])


def model_features(
    frame: Inputs, stations: StationTable | None = None, level: LevelTable | None = None
) -> pd.DataFrame:
    """model_matrix as one frame, same index: the features, then the `level` column when the
    model has one (the feature tables the pipeline writes and scores)."""
    import pandas as pd

    matrix, levels = model_matrix(frame, stations, level)
    if levels is not None:
        matrix = np.column_stack([matrix, levels])
    columns = _frame_columns(stations is not None, levels is not None)
    return pd.DataFrame(matrix, columns=columns, index=_index(frame), copy=False)


def _index(frame: Inputs) -> pd.Index | None:
    return getattr(frame, "index", None)  # a DataFrame's; numpy columns have none (0..n-1)


@lru_cache(maxsize=4)
def _frame_columns(stations: bool = False, level: bool = False) -> pd.Index:
    """The column labels of model_features' frame, built once."""
    import pandas as pd

    labels = [*FEATURE_COLUMNS, *(STATION_FEATURE_COLUMNS if stations else ())]
    return pd.Index([*labels, *([LEVEL_COLUMN] if level else [])])


@lru_cache(maxsize=1)
def _weather_index() -> pd.Index:
    import pandas as pd

    return pd.Index(WEATHER)  # label → code, for the pipeline's many rows


_WEATHER_CODE = {label: code for code, label in enumerate(WEATHER)}
HOLIDAY_HORIZON_DAYS = 7  # bridge days and holiday weeks; further away is "no holiday"


@lru_cache(maxsize=64)
def _holiday_days(years: tuple[int, ...]) -> np.ndarray:
    """US-DC public holidays of these years, as sorted day numbers since 1970-01-01."""
    import holidays

    calendar = holidays.country_holidays("US", subdiv="DC", years=list(years))
    return np.array(sorted(calendar), dtype="datetime64[D]").astype("int64")


def _days_to_nearest(days: np.ndarray, holidays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each day is a public holiday, and the days to the nearest one, capped: demand
    dips around holidays (Thanksgiving weekend, Christmas week), not only on them."""
    after = np.searchsorted(holidays, days)
    next_gap = holidays[np.clip(after, 0, len(holidays) - 1)] - days
    prev_gap = days - holidays[np.clip(after - 1, 0, len(holidays) - 1)]
    nearest = np.minimum(np.abs(next_gap), np.abs(prev_gap))
    return nearest == 0, np.minimum(nearest, HOLIDAY_HORIZON_DAYS)


def _weather_codes(labels: Any) -> np.ndarray:
    """Weather label → its position in WEATHER (-1: unknown). A dict for the API's few
    records; pandas' hash table for the pipeline's many."""
    if len(labels) <= 64:
        return np.array([_WEATHER_CODE.get(w, -1) for w in labels], dtype="int64")
    return _weather_index().get_indexer(np.asarray(labels, dtype=object))


def build_features(frame: Inputs) -> pd.DataFrame:
    """Raw inputs (UTC timestamp + weather) → the city features as a frame, same index."""
    import pandas as pd

    matrix = feature_matrix(frame)
    return pd.DataFrame(matrix, columns=_frame_columns(), index=_index(frame), copy=False)


def feature_matrix(frame: Inputs) -> np.ndarray:
    """Raw inputs (UTC timestamp + weather) → the city features, FEATURE_COLUMNS in order.

    Written for one-row calls as much as for millions (the API calls it per request): the
    calendar in numpy (no pandas datetime objects), one float32 block.
    """
    missing = [c for c in INPUT_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"feature inputs are missing columns {missing}")
    local = local_ns(utc_ns(frame["timestamp"]))  # DC wall clock, numpy (ml/calendar.py)
    day = local // NS_PER_DAY  # local calendar day number
    dates = day.astype("datetime64[D]")
    year_start = dates.astype("datetime64[Y]")
    years = year_start.astype("int64") + 1970
    # the neighbouring years too, so the days around New Year see both sides
    holiday_days = _holiday_days(tuple(range(int(years.min()) - 1, int(years.max()) + 2)))
    is_holiday, days_to_holiday = _days_to_nearest(day, holiday_days)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weather_code = _weather_codes(frame["weather"])
    if (weather_code < 0).any():
        unknown = sorted(set(frame["weather"][weather_code < 0].astype(str)))
        raise ValueError(f"unknown weather labels {unknown}; expected one of {list(WEATHER)}")
    columns = {
        "hour": (local % NS_PER_DAY) // NS_PER_HOUR,
        "weekday": weekday,
        "month": dates.astype("datetime64[M]").astype("int64") % 12 + 1,
        "day_of_year": (dates - year_start).astype("int64") + 1,
        "is_holiday": is_holiday,
        "days_to_holiday": days_to_holiday,
        "working_day": (weekday < 5) & ~is_holiday,
        "temp_c": np.asarray(frame["temp_c"]),
        "feels_like_c": np.asarray(frame["feels_like_c"]),
        "humidity_pct": np.asarray(frame["humidity_pct"]),
        "wind_kmh": np.asarray(frame["wind_kmh"]),
        "weather_code": weather_code,
    }
    matrix = np.empty((len(local), len(FEATURE_COLUMNS)), dtype="float32")
    for i, name in enumerate(FEATURE_COLUMNS):
        matrix[:, i] = columns[name]
    return matrix


def city_totals(table: pd.DataFrame, predicted: np.ndarray | None = None) -> pd.DataFrame:
    """Station rows of a feature table → the city's rows: counts (and predictions) summed per
    hour; calendar and weather are the same for every station of an hour."""
    import pandas as pd

    from bikecast.data.schema import COUNT_COLUMNS

    table = table.assign(predicted=predicted) if predicted is not None else table
    sums = [*COUNT_COLUMNS, *(["predicted"] if predicted is not None else [])]
    grouped = table.groupby("timestamp", sort=True)
    city = pd.concat([grouped[sums].sum(), grouped[list(FEATURE_COLUMNS)].first()], axis=1)
    return city.reset_index()
