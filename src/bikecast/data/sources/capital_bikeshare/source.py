"""`fetch`: capital_bikeshare.start .. ingest.as_of as canonical rows, at city or station grain."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from bikecast.config import IngestParams
from bikecast.data.schema import COLUMNS, STATION_GRAIN_COLUMNS, TIMEZONE, DataError
from bikecast.data.sources import weather as wx
from bikecast.data.sources.capital_bikeshare.counts import count_station_trips, count_trips
from bikecast.data.sources.capital_bikeshare.hours import (
    first_hour,
    hourly_counts,
    last_hour,
    local_counts_to_utc,
    month_of,
)
from bikecast.data.sources.capital_bikeshare.layouts import trips_file
from bikecast.data.sources.capital_bikeshare.services import ENV_TRIPS_URL, LiveSource
from bikecast.data.sources.capital_bikeshare.stations import station_coordinates, station_hours
from bikecast.data.sources.http import shown_url
from bikecast.grain import Grain

log = logging.getLogger(__name__)


def fetch(
    params: IngestParams, now: pd.Timestamp | None = None, grain: Grain | str = Grain.CITY
) -> pd.DataFrame:
    """Canonical hourly rows from `capital_bikeshare.start` up to `ingest.as_of` or the last
    complete hour the two services can deliver, whichever is earlier; the first month not
    published yet (HTTP 404) ends the window.

    grain "city": one row per hour. grain "station": one row per start station and hour
    (see `fetch_stations`).
    """
    grain = Grain(grain)
    cfg = params.capital_bikeshare
    source = LiveSource(cfg) if now is None else LiveSource(cfg, now=now)
    start_month = pd.Period(cfg.start, freq="M")
    start = first_hour(start_month)
    limit = min(params.as_of_utc.floor("h"), source.last_complete_hour)
    if limit < start:
        raise DataError(
            f"ingest.as_of {params.as_of} is before capital_bikeshare.start {cfg.start} "
            f"({start.isoformat()}): nothing to ingest"
        )
    months = source.published(start_month, month_of(limit))
    if not months:
        raise DataError(
            f"{source.trips_url.rstrip('/')}/{trips_file(start_month)}: not published (HTTP 404)"
            f"; no trip data from capital_bikeshare.start {cfg.start} on"
        )
    end = min(limit, last_hour(months[-1][0]))
    if grain.is_station:
        return fetch_stations(source, [path for _, path in months], start, end)
    counts = [local_counts_to_utc(count_trips(path)) for _, path in months]
    frame = hourly_counts(counts, start, end)
    weather, end = _window_weather(source, start, end)
    frame = frame.merge(weather, on="timestamp", how="left")
    frame = frame[frame["timestamp"] <= end].reset_index(drop=True)
    frame["weather"] = wx.weather_labels(frame["weather_code"], source.weather_where)
    _log_weather_gaps(frame, source.cfg.max_weather_gap_hours)
    log.info(
        "capital_bikeshare: %d hours %s .. %s, %d trips",
        len(frame),
        start.isoformat(),
        end.isoformat(),
        int(frame["rentals"].sum()),
    )
    return frame[list(COLUMNS)]


def fetch_stations(
    source: LiveSource, paths: list[Path], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Station-grain rows for the window [start, end] (UTC hours) from the month files.

    - One row per (start station, UTC hour), counted as at city grain (same DST placement,
      see `local_counts_to_utc`); station_id is the file's start station id.
    - A station is active from the UTC hour of its first trip in the window to the end of
      the window; active hours without trips are rows with zero rentals, hours before the
      first trip have no row (the station may not have existed yet). So one trip is enough
      for a station to get rows to the end of the window, also after it closed.
    - Trips without a start station (dockless e-bikes) cannot be placed: dropped and logged;
      at city grain they count.
    - latitude/longitude: the median start coordinates of the station's trips in the window
      (the station's surveyed point for docked bikes, GPS fixes for e-bikes); NaN when the
      layout has no coordinates (legacy, to 2020-03).
    - The city's weather of each hour, as at city grain, on every station of that hour.
    """
    weather, end = _window_weather(source, start, end)
    local = (
        start.tz_convert(TIMEZONE).tz_localize(None),
        end.tz_convert(TIMEZONE).tz_localize(None),
    )
    counts, coords, unplaced = [], [], 0
    for path in paths:
        trips = count_station_trips(path, local)
        counts.append(local_counts_to_utc(trips.counts))
        coords.append(trips.coords)
        unplaced += trips.unplaced
    if unplaced:
        log.info(
            "station grain: %d trips without a start station (dockless e-bikes) dropped; "
            "they count at city grain",
            unplaced,
        )
    frame = station_hours(counts, start, end, where=", ".join(str(p) for p in paths))
    position = station_coordinates(pd.concat(coords, ignore_index=True))
    position = position.reindex(frame["station_id"].unique())
    frame = frame.join(position, on="station_id")
    hourly = weather.set_index("timestamp").reindex(
        pd.date_range(start, end, freq="h", tz="UTC").astype("datetime64[ns, UTC]")
    )
    hourly["weather"] = wx.weather_labels(hourly["weather_code"], source.weather_where)
    hour = frame.pop("hour").to_numpy()
    for column in (*wx.FLOAT_COLUMNS, "weather"):
        frame[column] = hourly[column].to_numpy()[hour]
    _log_weather_gaps(hourly, source.cfg.max_weather_gap_hours)
    log.info(
        "capital_bikeshare: %d station-hours of %d stations %s .. %s, %d trips",
        len(frame),
        frame["station_id"].nunique(),
        start.isoformat(),
        end.isoformat(),
        int(frame["rentals"].sum()),
    )
    return frame[list(STATION_GRAIN_COLUMNS)]


def _window_weather(
    source: LiveSource, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Hourly weather for the window, and the window's end moved to where weather ends."""
    weather = source.weather(start, end)
    weather_end = wx.last_complete_hour(weather)
    if weather_end is None:
        raise DataError(f"{source.weather_where}: no weather between {start} and {end}")
    if weather_end < end:
        log.info("weather archive ends at %s; the window ends there", weather_end.isoformat())
        end = weather_end
    return weather, end


def _log_weather_gaps(hourly: pd.DataFrame, max_gap_hours: int) -> None:
    gaps = int(hourly[list(wx.FLOAT_COLUMNS)].isna().any(axis=1).sum())
    if gaps:
        log.warning(
            "%d hours lack weather (gaps > %d h); validate will quarantine them",
            gaps,
            max_gap_hours,
        )


def coverage_hint(end: pd.Timestamp, params: IngestParams) -> str:
    """What to check when the rows end well before `ingest.as_of`: the month file after
    `end` when the window stops at a month's end, else the clock or the weather archive."""
    as_of = params.as_of_utc
    month = month_of(end)
    if end == last_hour(month) and month + 1 <= month_of(as_of):
        trips_url = os.environ.get(ENV_TRIPS_URL) or params.capital_bikeshare.trips_url
        return (
            f"{trips_file(month + 1)} is not published at {shown_url(trips_url.rstrip('/'))} "
            "(HTTP 404), which ends the window: check that month's file"
        )
    if as_of > pd.Timestamp.now(tz="UTC"):
        return "ingest.as_of is in the future"
    return "the weather archive ends there (it lags real time by a few days): check its coverage"
