"""UTC instants → Washington DC wall clock, in numpy: microseconds for one row.

The API builds features for every request, often of one record; pandas' `tz_convert` costs
hundreds of microseconds per call whatever the size. The zone's UTC offsets change only on
whole hours, so the offsets of every hour of the years asked for are looked up once (with
the standard library's zoneinfo, cached per span of years) and each instant then takes one
`searchsorted`. pandas is only needed to read pandas timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from bikecast.data.schema import TIMEZONE

if TYPE_CHECKING:
    import pandas as pd

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def utc_ns(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of timezone-aware timestamps, any resolution. A
    numpy datetime64 array has no zone and is read as UTC (the API builds those)."""
    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind == "M":
        return timestamps.astype("datetime64[ns]").astype("int64")
    import pandas as pd

    values = timestamps.array if isinstance(timestamps, pd.Series) else timestamps
    if getattr(values, "tz", None) is None:
        values = pd.DatetimeIndex(values)
        if values.tz is None:
            raise ValueError("timestamp must be timezone-aware (UTC)")
    return values.asi8 * _UNIT_NS[values.unit]


@lru_cache(maxsize=16)
def _transitions(first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """UTC instants where the zone's offset changes within the years, and the offset (ns)
    from each; the first entry covers everything before."""
    zone = ZoneInfo(TIMEZONE)
    first = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    last = int(datetime(last_year + 1, 1, 1, tzinfo=UTC).timestamp())
    seconds = np.arange(first, last + 1, 3600, dtype="int64")  # every UTC hour, both ends
    offsets = (
        np.array(
            [datetime.fromtimestamp(s, zone).utcoffset().total_seconds() for s in seconds.tolist()],
            dtype="int64",
        )
        * 1_000_000_000
    )
    hours = seconds * 1_000_000_000
    change = np.flatnonzero(np.diff(offsets)) + 1
    starts = np.concatenate([[np.iinfo("int64").min], hours[change]])
    return starts, np.concatenate([offsets[:1], offsets[change]])


def local_ns(utc: np.ndarray) -> np.ndarray:
    """DC wall-clock time of UTC nanoseconds, as nanoseconds of a naive clock."""
    if utc.size == 0:
        return utc.copy()
    years = utc.astype("datetime64[ns]").astype("datetime64[Y]").astype("int64") + 1970
    starts, offsets = _transitions(int(years.min()) - 1, int(years.max()) + 1)
    return utc + offsets[np.searchsorted(starts, utc, side="right") - 1]


def local_day(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Washington DC calendar day of each UTC timestamp, as days since 1970-01-01."""
    return local_ns(utc_ns(timestamps)) // NS_PER_DAY
