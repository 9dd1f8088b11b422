"""The live source: Capital Bikeshare trip history + Open-Meteo weather → canonical hours.

Capital Bikeshare publishes one zip of trips per month, `{YYYYMM}-capitalbikeshare-tripdata.zip`,
a few days after the month ends; a month not published yet answers 404 and simply ends the
window. Trips are counted by their start hour, which the files give in Washington DC wall-clock
time; those hours are placed in UTC here, deliberately around daylight-saving changes (see
`local_counts_to_utc`). Every download is cached by month under `cache_dir`, so a re-run with
the same `ingest.as_of` reads the cache and downloads nothing.
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
from bikecast.schema import COLUMNS, TIMEZONE, DataError
from bikecast.sources import weather as wx
from bikecast.sources.http import Http

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


def _count_table(table: pd.DataFrame, layout: Layout, where: str) -> pd.DataFrame:
    start = table[layout.start]
    keys = start.str.slice(0, 13)
    grouped = table.groupby([keys, table[layout.member]], dropna=False, sort=False).size()
    groups = grouped.rename("n").reset_index()
    groups.columns = ["key", "member", "n"]
    unique_keys = pd.Series(groups["key"].dropna().unique(), dtype=object)
    if unique_keys.str.match(HOUR_KEY).all():
        parsed = pd.to_datetime(
            unique_keys.str.replace("T", " "), format="%Y-%m-%d %H", errors="coerce"
        )
        hours = groups["key"].map(dict(zip(unique_keys, parsed, strict=True)))
    else:  # an unusual timestamp format: parse every row, then group again
        stamps = pd.to_datetime(start, errors="coerce", format="mixed").dt.floor("h")
        grouped = table.groupby([stamps, table[layout.member]], dropna=False, sort=False).size()
        groups = grouped.rename("n").reset_index()
        groups.columns = ["hour", "member", "n"]
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
    """
    index = pd.DatetimeIndex(counts.index)
    utc = index.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    plain = ~utc.isna()
    parts = [counts[plain].set_axis(utc[plain].tz_convert("UTC"))]
    odd = counts[~plain]
    if len(odd):
        odd_index = index[~plain]
        as_dst = odd_index.tz_localize(
            TIMEZONE, ambiguous=np.ones(len(odd), dtype=bool), nonexistent="NaT"
        )
        repeated = ~as_dst.isna()
        if repeated.any():
            rep = odd[repeated]
            first = (rep + 1) // 2
            second = rep // 2
            parts.append(first.set_axis(as_dst[repeated].tz_convert("UTC")))
            std = odd_index[repeated].tz_localize(
                TIMEZONE, ambiguous=np.zeros(int(repeated.sum()), dtype=bool)
            )
            parts.append(second.set_axis(std.tz_convert("UTC")))
        if (~repeated).any():
            skipped = (odd_index[~repeated] + HOUR).tz_localize(TIMEZONE).tz_convert("UTC")
            parts.append(odd[~repeated].set_axis(skipped))
    out = pd.concat(parts).groupby(level=0).sum().astype("int64")
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


def fetch(params: IngestParams, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Canonical hourly rows from `capital_bikeshare.start` up to `ingest.as_of` or the last
    complete hour the two services can deliver, whichever is earlier."""
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
    counts = [local_counts_to_utc(count_trips(path)) for _, path in months]
    frame = hourly_counts(counts, start, end)
    weather = source.weather(start, end)
    weather_end = wx.last_complete_hour(weather)
    if weather_end is None:
        raise DataError(f"{source.weather_url}: no weather between {start} and {end}")
    if weather_end < end:
        log.info("weather archive ends at %s; the window ends there", weather_end.isoformat())
        end = weather_end
    frame = frame.merge(weather, on="timestamp", how="left")
    frame = frame[frame["timestamp"] <= end].reset_index(drop=True)
    frame["weather"] = wx.weather_labels(frame["weather_code"], source.weather_url)
    gaps = int(frame[list(wx.FLOAT_COLUMNS)].isna().any(axis=1).sum())
    if gaps:
        log.warning(
            "%d hours lack weather (gaps > %d h); validate will quarantine them",
            gaps,
            cfg.max_weather_gap_hours,
        )
    log.info(
        "capital_bikeshare: %d hours %s .. %s, %d trips",
        len(frame),
        start.isoformat(),
        end.isoformat(),
        int(frame["rentals"].sum()),
    )
    return frame[list(COLUMNS)]


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
