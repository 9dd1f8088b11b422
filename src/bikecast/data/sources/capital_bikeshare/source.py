"""The live source: Capital Bikeshare trip history + Open-Meteo weather → canonical hours.

Capital Bikeshare publishes one zip of trips per month, `{YYYYMM}-capitalbikeshare-tripdata.zip`,
a few days after the month ends; a month not published yet answers 404 and simply ends the
window. Trips are counted by their start hour, which the files give in Washington DC wall-clock
time; those hours are placed in UTC here, deliberately around daylight-saving changes (see
`local_counts_to_utc`). Every download is cached by month under `cache_dir`, so a re-run with
the same `ingest.as_of` reads the cache and downloads nothing.

At station grain (`fetch(..., grain="station")`) the same trips are counted per start station
and hour instead; see `fetch_stations` for the rules.
"""

from __future__ import annotations

import csv
import io as stdio
import logging
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bikecast import io
from bikecast.config import CapitalBikeshareParams, IngestParams
from bikecast.data.schema import COLUMNS, GRAINS, STATION_GRAIN_COLUMNS, TIMEZONE, DataError
from bikecast.data.sources import weather as wx
from bikecast.data.sources.http import Http

log = logging.getLogger(__name__)

ENV_TRIPS_URL = "BIKECAST_TRIPS_URL"
ENV_WEATHER_URL = "BIKECAST_WEATHER_URL"
HOUR = pd.Timedelta(hours=1)
MEMBER = {"member": "registered", "casual": "casual"}  # both layouts, compared lower-cased
MAX_BAD_ROW_FRACTION = 0.01  # unparseable start times / unknown member types tolerated
HOUR_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}$")


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[str, ...]
    start: str  # trip start, local DC wall-clock time
    member: str  # member | casual
    station: str  # start station id; empty for dockless e-bike trips (current layout)
    lat: str | None = None  # start coordinates; the legacy layout has none
    lng: str | None = None


LAYOUTS = (
    Layout(
        "current (2020-04 on)",
        (
            "ride_id",
            "rideable_type",
            "started_at",
            "ended_at",
            "start_station_name",
            "start_station_id",
            "end_station_name",
            "end_station_id",
            "start_lat",
            "start_lng",
            "end_lat",
            "end_lng",
            "member_casual",
        ),
        "started_at",
        "member_casual",
        "start_station_id",
        "start_lat",
        "start_lng",
    ),
    Layout(
        "legacy (to 2020-03)",
        (
            "Duration",
            "Start date",
            "End date",
            "Start station number",
            "Start station",
            "End station number",
            "End station",
            "Bike number",
            "Member type",
        ),
        "Start date",
        "Member type",
        "Start station number",
    ),
)


# --------------------------------------------------------------------------- months


def trips_file(month: pd.Period) -> str:
    return f"{month.strftime('%Y%m')}-capitalbikeshare-tripdata.zip"


def first_hour(month: pd.Period) -> pd.Timestamp:
    """The first UTC hour of a Washington DC calendar month (midnight is never ambiguous)."""
    return pd.Timestamp(month.start_time).tz_localize(TIMEZONE).tz_convert("UTC")


def last_hour(month: pd.Period) -> pd.Timestamp:
    return first_hour(month + 1) - HOUR


def month_of(ts: pd.Timestamp) -> pd.Period:
    """The Washington DC calendar month an instant falls in."""
    return ts.tz_convert(TIMEZONE).tz_localize(None).to_period("M")


# --------------------------------------------------------------------------- trips


def detect_layout(columns: list[str], where: str) -> Layout:
    """Which of the real layouts a header is; a clear error naming the file otherwise."""
    names = {c.strip() for c in columns}
    for layout in LAYOUTS:
        if names.issuperset(layout.columns):
            return layout
    expected = "; ".join(f"{lay.name}: {list(lay.columns)}" for lay in LAYOUTS)
    raise DataError(f"{where}: unknown trip layout, columns {list(columns)}; expected {expected}")


def _csv_members(zf: zipfile.ZipFile, where: str) -> list[str]:
    names = [
        n
        for n in zf.namelist()
        if n.lower().endswith(".csv")
        and not n.startswith("__MACOSX/")
        and not Path(n).name.startswith("._")
    ]
    if not names:
        raise DataError(f"{where}: zip holds no .csv file (members: {zf.namelist()[:5]})")
    return sorted(names)


def _header(zf: zipfile.ZipFile, name: str) -> list[str]:
    with zf.open(name) as raw, stdio.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def verify_trips_zip(path: Path, where: str) -> None:
    """A downloaded zip is whole (every CRC checks) and each CSV is in a known layout."""
    try:
        with zipfile.ZipFile(path) as zf:
            broken = zf.testzip()
            if broken is not None:
                raise DataError(f"{where}: member {broken} fails its CRC check (corrupt file)")
            for name in _csv_members(zf, where):
                detect_layout(_header(zf, name), f"{where} ({name})")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a valid zip file, truncated or corrupt ({exc})") from exc


def count_trips(path: Path, where: str | None = None) -> pd.DataFrame:
    """Trips per local start hour: a naive DC wall-clock hourly index, casual + registered.

    Only the two needed columns are read; the start time is grouped on its 'YYYY-MM-DD HH'
    prefix and only the few hundred distinct hours are parsed, which keeps this close to
    the cost of reading the CSV at all (see bench/bench_trips.py).
    """
    where = where or str(path)
    parts = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in _csv_members(zf, where):
                member_where = f"{where} ({name})"
                layout = detect_layout(_header(zf, name), member_where)
                with zf.open(name) as fh:
                    table = pd.read_csv(
                        fh,
                        usecols=[layout.start, layout.member],
                        dtype=str,
                        encoding="utf-8-sig",
                        skipinitialspace=True,
                    )
                parts.append(_count_table(table, layout, member_where))
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a valid zip file, truncated or corrupt ({exc})") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{where}: cannot parse the trips CSV ({exc})") from exc
    counts = pd.concat(parts).groupby(level=0).sum()
    return counts.sort_index()


@dataclass(frozen=True)
class StationTrips:
    """One trip file at station grain, before its hours are placed in UTC."""

    counts: pd.DataFrame  # casual, registered by (naive local hour, station_id)
    coords: pd.DataFrame  # station_id, latitude, longitude, n: distinct start coordinates
    unplaced: int  # trips in the window without a start station (dropped)


def count_station_trips(
    path: Path, window: tuple[pd.Timestamp, pd.Timestamp], where: str | None = None
) -> StationTrips:
    """Trips per (naive local start hour, start station), as `count_trips` counts them.

    `window` is the first and last naive local hour of the window: the start coordinates and
    the station-less trips are taken from it only (counts are cut to it in UTC later).
    """
    where = where or str(path)
    counts, coords, unplaced = [], [], 0
    try:
        with zipfile.ZipFile(path) as zf:
            for name in _csv_members(zf, where):
                member_where = f"{where} ({name})"
                layout = detect_layout(_header(zf, name), member_where)
                position = [layout.lat, layout.lng] if layout.lat and layout.lng else []
                table = _read_station_trips(zf, name, layout, position, member_where)
                station = table[layout.station].str.strip()
                has_station = station.notna() & (station != "")
                table = table.assign(**{layout.station: station})
                unplaced += int(_in_window(table.loc[~has_station, layout.start], window).sum())
                table = table[has_station]
                counts.append(_count_table(table, layout, member_where, layout.station))
                if position:
                    coords.append(_coordinate_counts(table, layout, window))
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a valid zip file, truncated or corrupt ({exc})") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{where}: cannot parse the trips CSV ({exc})") from exc
    no_coords = pd.DataFrame(
        {
            "station_id": pd.Series(dtype=object),
            "latitude": pd.Series(dtype="float64"),
            "longitude": pd.Series(dtype="float64"),
            "n": pd.Series(dtype="int64"),
        }
    )
    return StationTrips(
        counts=pd.concat(counts).groupby(level=[0, 1]).sum().sort_index(),
        coords=pd.concat([no_coords, *coords], ignore_index=True),
        unplaced=unplaced,
    )


def _read_station_trips(
    zf: zipfile.ZipFile, name: str, layout: Layout, position: list[str], where: str
) -> pd.DataFrame:
    """The columns station grain needs; coordinates as floats (parsed in C when clean)."""
    usecols = [layout.start, layout.member, layout.station, *position]
    text = dict.fromkeys([layout.start, layout.member, layout.station], str)
    try:
        with zf.open(name) as fh:
            return pd.read_csv(
                fh,
                usecols=usecols,
                dtype={**text, **dict.fromkeys(position, "float64")},
                encoding="utf-8-sig",
                skipinitialspace=True,
            )
    except ValueError as exc:  # a coordinate that is not a number
        if not position or isinstance(exc, (UnicodeDecodeError, pd.errors.ParserError)):
            raise
    with zf.open(name) as fh:
        table = pd.read_csv(
            fh, usecols=usecols, dtype=str, encoding="utf-8-sig", skipinitialspace=True
        )
    bad = pd.Series(False, index=table.index)
    examples: list[str] = []
    for column in position:
        numbers = pd.to_numeric(table[column], errors="coerce")
        wrong = numbers.isna() & table[column].notna()
        examples += table.loc[wrong, column].head(3).tolist()
        bad |= wrong
        table[column] = numbers
    message = (
        f"{where}: {int(bad.sum())} of {len(table)} trips have a {' or '.join(position)} that "
        f"is not a number (examples: {examples[:3]})"
    )
    if bad.sum() > MAX_BAD_ROW_FRACTION * len(table):
        raise DataError(message)
    log.warning("%s; their coordinates are ignored", message)
    return table


def _local_hours(start: pd.Series) -> pd.Series:
    """Each trip's naive local start hour (NaT when unreadable), parsing distinct hours only."""
    keys = start.str.slice(0, 13)
    codes, unique_keys = pd.factorize(keys)
    unique_keys = pd.Series(unique_keys, dtype=object)
    if unique_keys.str.match(HOUR_KEY).all():
        parsed = pd.to_datetime(
            unique_keys.str.replace("T", " "), format="%Y-%m-%d %H", errors="coerce"
        )
        values = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
        return pd.Series(values[codes], index=start.index)  # code -1 (missing) → NaT
    return pd.to_datetime(start, errors="coerce", format="mixed").dt.floor("h")


def _in_window(start: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    hours = _local_hours(start)
    return (hours >= window[0]) & (hours <= window[1])


def _coordinate_counts(
    table: pd.DataFrame, layout: Layout, window: tuple[pd.Timestamp, pd.Timestamp]
) -> pd.DataFrame:
    """How often each start coordinate occurs per station in the window (exact medians later,
    without keeping every trip of every month)."""
    table = table[_in_window(table[layout.start], window)]
    columns = {layout.station: "station_id", layout.lat: "latitude", layout.lng: "longitude"}
    position = table[list(columns)].rename(columns=columns)
    grouped = position.groupby(list(columns.values()), dropna=False, sort=False).size()
    return grouped.rename("n").reset_index()


def _count_table(
    table: pd.DataFrame, layout: Layout, where: str, station: str | None = None
) -> pd.DataFrame:
    """Trips per naive local hour (and per `station` column when given), casual + registered.

    Groups on the 'YYYY-MM-DD HH' prefix first and parses only the distinct hours.
    """
    start = table[layout.start]
    keys = start.str.slice(0, 13)
    by = [] if station is None else [table[station]]
    names = [] if station is None else ["station_id"]
    grouped = table.groupby([keys, *by, table[layout.member]], dropna=False, sort=False).size()
    groups = grouped.rename("n").reset_index()
    groups.columns = ["key", *names, "member", "n"]
    unique_keys = pd.Series(groups["key"].dropna().unique(), dtype=object)
    if unique_keys.str.match(HOUR_KEY).all():
        parsed = pd.to_datetime(
            unique_keys.str.replace("T", " "), format="%Y-%m-%d %H", errors="coerce"
        )
        hours = groups["key"].map(dict(zip(unique_keys, parsed, strict=True)))
    else:  # an unusual timestamp format: parse every row, then group again
        stamps = pd.to_datetime(start, errors="coerce", format="mixed").dt.floor("h")
        grouped = table.groupby([stamps, *by, table[layout.member]], dropna=False, sort=False)
        groups = grouped.size().rename("n").reset_index()
        groups.columns = ["hour", *names, "member", "n"]
        hours = groups["hour"]
        groups["key"] = hours.astype("string")
    kinds = groups["member"].astype("string").str.strip().str.lower().map(MEMBER)
    bad = hours.isna() | kinds.isna()
    total = int(groups["n"].sum())
    n_bad = int(groups.loc[bad, "n"].sum())
    if n_bad:
        examples = sorted({f"{k!r}/{m!r}" for k, m in groups.loc[bad, ["key", "member"]].values})
        message = (
            f"{where}: {n_bad} of {total} trips have an unreadable {layout.start!r} or an "
            f"unknown {layout.member!r} (examples: {examples[:5]})"
        )
        if n_bad > MAX_BAD_ROW_FRACTION * total:
            raise DataError(message)
        log.warning("%s; skipped", message)
    good = pd.DataFrame({"hour": hours[~bad], "kind": kinds[~bad], "n": groups.loc[~bad, "n"]})
    if station is not None:
        good["station_id"] = groups.loc[~bad, "station_id"]
        counts = good.groupby(["hour", "station_id", "kind"])["n"].sum().unstack("kind")
        counts = counts.reindex(columns=["casual", "registered"]).fillna(0).astype("int64")
        counts.index = counts.index.set_levels(
            pd.DatetimeIndex(counts.index.levels[0]), level="hour"
        )
        counts.columns.name = None
        return counts
    counts = good.pivot_table(index="hour", columns="kind", values="n", aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=["casual", "registered"], fill_value=0).astype("int64")
    counts.index = pd.DatetimeIndex(counts.index, name="hour")
    counts.columns.name = None
    return counts


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


# --------------------------------------------------------------------------- downloads


@dataclass
class LiveSource:
    """Cached, retried access to the two services for one configuration."""

    cfg: CapitalBikeshareParams
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    http: Http | None = None

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = Http(self.cfg.timeout_s, self.cfg.retries, self.cfg.backoff_s)
        self.trips_url = os.environ.get(ENV_TRIPS_URL) or self.cfg.trips_url
        self.weather_url = os.environ.get(ENV_WEATHER_URL) or self.cfg.weather_url
        self.cache = Path(self.cfg.cache_dir)

    @property
    def last_complete_hour(self) -> pd.Timestamp:
        """The hour before the current one: the newest that can be over."""
        return self.now.tz_convert("UTC").floor("h") - HOUR

    def trips_zip(self, month: pd.Period) -> Path | None:
        """The month's zip from the cache, else downloaded into it; None when not published."""
        name = trips_file(month)
        target = self.cache / "trips" / name
        if target.exists():
            log.debug("cache hit: %s", target)
            return target
        url = f"{self.trips_url.rstrip('/')}/{name}"
        log.info("fetching %s", url)
        if not self.http.download(url, target, lambda tmp: verify_trips_zip(tmp, url)):
            log.info("%s: not published yet (HTTP 404); the window ends before %s", url, month)
            return None
        return target

    def published(self, first: pd.Period, last: pd.Period) -> list[tuple[pd.Period, Path]]:
        """Trip zips for months first..last, stopping at the first one not published."""
        found = []
        month = first
        while month <= last:
            path = self.trips_zip(month)
            if path is None:
                break
            found.append((month, path))
            month += 1
        return found

    def weather(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Hourly weather for [start, end] (UTC), short gaps filled; may end early."""
        frames = []
        for month in pd.period_range(month_of(start), month_of(end), freq="M"):
            frames.append(self._weather_month(month, min(end, last_hour(month))))
        hours = pd.date_range(start, end, freq="h", tz="UTC").astype("datetime64[ns, UTC]")
        frame = (
            pd.concat(frames)
            .drop_duplicates("timestamp", keep="last")
            .set_index("timestamp")
            .reindex(hours)
            .rename_axis("timestamp")
            .reset_index()
        )
        return wx.fill_short_gaps(frame, self.cfg.max_weather_gap_hours)

    def _weather_month(self, month: pd.Period, needed: pd.Timestamp) -> pd.DataFrame:
        key = f"{self.cfg.latitude:.4f}_{self.cfg.longitude:.4f}"
        target = self.cache / "weather" / key / f"{month.strftime('%Y%m')}.json"
        if target.exists():
            import json

            try:
                frame = wx.parse_archive(json.loads(target.read_text()), str(target))
            except (ValueError, DataError) as exc:
                raise DataError(f"{target}: unreadable cached weather ({exc}); delete it") from exc
            done = wx.last_complete_hour(frame)
            if done is not None and done >= needed:
                log.debug("cache hit: %s", target)
                return frame
        today = self.now.tz_convert("UTC").normalize()
        first_day = first_hour(month).normalize()
        last_day = min(last_hour(month).normalize(), today)
        query = wx.request_params(
            self.cfg.latitude,
            self.cfg.longitude,
            first_day.strftime("%Y-%m-%d"),
            last_day.strftime("%Y-%m-%d"),
        )
        log.info("downloading weather for %s from %s", month, self.weather_url)
        payload, url = self.http.get_json(self.weather_url, query)
        frame = wx.parse_archive(payload, url)
        io.write_json(payload, target)
        return frame


# --------------------------------------------------------------------------- the source


def fetch(
    params: IngestParams, now: pd.Timestamp | None = None, grain: str = "city"
) -> pd.DataFrame:
    """Canonical hourly rows from `capital_bikeshare.start` up to `ingest.as_of` or the last
    complete hour the two services can deliver, whichever is earlier.

    grain "city": one row per hour. grain "station": one row per start station and hour
    (see `fetch_stations`).
    """
    if grain not in GRAINS:
        raise ValueError(f"grain {grain!r}: expected one of {list(GRAINS)}")
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
    if grain == "station":
        return fetch_stations(source, [path for _, path in months], start, end)
    counts = [local_counts_to_utc(count_trips(path)) for _, path in months]
    frame = hourly_counts(counts, start, end)
    weather, end = _window_weather(source, start, end)
    frame = frame.merge(weather, on="timestamp", how="left")
    frame = frame[frame["timestamp"] <= end].reset_index(drop=True)
    frame["weather"] = wx.weather_labels(frame["weather_code"], source.weather_url)
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
    hourly["weather"] = wx.weather_labels(hourly["weather_code"], source.weather_url)
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


def _window_weather(
    source: LiveSource, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Hourly weather for the window, and the window's end moved to where weather ends."""
    weather = source.weather(start, end)
    weather_end = wx.last_complete_hour(weather)
    if weather_end is None:
        raise DataError(f"{source.weather_url}: no weather between {start} and {end}")
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
