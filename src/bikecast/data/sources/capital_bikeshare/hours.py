"""DC months, and trip hours placed in UTC: the files stamp local wall-clock time, DST and all."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bikecast.data.schema import TIMEZONE

HOUR = pd.Timedelta(hours=1)


def first_hour(month: pd.Period) -> pd.Timestamp:
    """The first UTC hour of a Washington DC calendar month (midnight is never ambiguous)."""
    return pd.Timestamp(month.start_time).tz_localize(TIMEZONE).tz_convert("UTC")


def last_hour(month: pd.Period) -> pd.Timestamp:
    return first_hour(month + 1) - HOUR


def month_of(ts: pd.Timestamp) -> pd.Period:
    """The Washington DC calendar month an instant falls in."""
    return ts.tz_convert(TIMEZONE).tz_localize(None).to_period("M")


def local_counts_to_utc(counts: pd.DataFrame) -> pd.DataFrame:
    """Naive DC wall-clock hours → UTC hours, on purpose around daylight-saving changes.

    - Spring forward: 02:00-02:59 does not exist; trips stamped then (clock skew) count in
      03:00 local, the hour the wall clock jumped to.
    - Fall back: 01:00-01:59 happens twice and wall-clock stamps cannot tell which; the
      count is split between the two UTC hours (the first gets the odd trip), so neither
      real hour shows as an artificial zero and the total is kept.

    `counts` is indexed by the naive local hour, or by (hour, station_id) at station grain.
    There the split runs over the hour's trips in station order, alternating between the two
    UTC hours, so the stations of each UTC hour sum to exactly the city-grain count.
    """
    multi = isinstance(counts.index, pd.MultiIndex)
    if multi:
        counts = counts.sort_index()
    index = pd.DatetimeIndex(counts.index.get_level_values(0) if multi else counts.index)

    def placed(frame: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
        """`frame` (a subset of `counts`) with its local hours replaced by `hours` in UTC."""
        utc = hours.tz_convert("UTC")
        if not multi:
            return frame.set_axis(utc)
        return frame.set_axis(pd.MultiIndex.from_arrays([utc, frame.index.get_level_values(1)]))

    utc = index.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    plain = ~utc.isna()
    parts = [placed(counts[plain], utc[plain])]
    odd = counts[~plain]
    if len(odd):
        odd_index = index[~plain]
        as_dst = odd_index.tz_localize(
            TIMEZONE, ambiguous=np.ones(len(odd), dtype=bool), nonexistent="NaT"
        )
        repeated = ~as_dst.isna()
        if repeated.any():
            rep = odd[repeated]
            # trips of the hour before these rows (other stations first): 0 at city grain
            before = rep.groupby(level=0).cumsum() - rep if multi else 0
            first = (before + rep + 1) // 2 - (before + 1) // 2
            second = rep - first
            parts.append(placed(first, as_dst[repeated]))
            std = odd_index[repeated].tz_localize(
                TIMEZONE, ambiguous=np.zeros(int(repeated.sum()), dtype=bool)
            )
            parts.append(placed(second, std))
        if (~repeated).any():
            skipped = (odd_index[~repeated] + HOUR).tz_localize(TIMEZONE)
            parts.append(placed(odd[~repeated], skipped))
    levels = [0, 1] if multi else 0
    out = pd.concat(parts).groupby(level=levels).sum().astype("int64")
    if multi:
        out.index = out.index.set_levels(
            pd.DatetimeIndex(out.index.levels[0]).astype("datetime64[ns, UTC]"), level=0
        )
    else:
        out.index = pd.DatetimeIndex(out.index).astype("datetime64[ns, UTC]")
    return out.sort_index()


def hourly_counts(
    counts: list[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every UTC hour in [start, end] with casual/registered/rentals; no trips → 0."""
    hours = pd.date_range(start, end, freq="h", tz="UTC").astype("datetime64[ns, UTC]")
    combined = pd.concat(counts).groupby(level=0).sum() if counts else pd.DataFrame()
    combined = combined.reindex(index=hours, columns=["casual", "registered"], fill_value=0)
    frame = combined.astype("int64").rename_axis("timestamp").reset_index()
    frame["rentals"] = frame["casual"] + frame["registered"]
    return frame
