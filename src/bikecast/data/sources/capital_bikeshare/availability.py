"""`available_until`: how far both services reach now, which is what `bikecast advance` asks."""

from __future__ import annotations

import pandas as pd

from bikecast.config import IngestParams
from bikecast.data.sources import weather as wx
from bikecast.data.sources.capital_bikeshare.hours import first_hour, last_hour, month_of
from bikecast.data.sources.capital_bikeshare.services import LiveSource


def available_until(params: IngestParams, now: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The last hour both services can deliver, looking from the current as_of onward.

    Downloads (and caches) what is new, so the `dvc repro` that follows reads the cache.
    None when not even the month of the current as_of is published.
    """
    cfg = params.capital_bikeshare
    source = LiveSource(cfg) if now is None else LiveSource(cfg, now=now)
    start_month = pd.Period(cfg.start, freq="M")
    from_month = max(start_month, month_of(params.as_of_utc))
    limit = source.last_complete_hour
    if first_hour(from_month) > limit:
        return None
    months = source.published(from_month, month_of(limit))
    if not months:
        return None
    end = min(limit, last_hour(months[-1][0]))
    weather_end = wx.last_complete_hour(source.weather(first_hour(from_month), end))
    if weather_end is None:
        return None
    return min(end, weather_end)
