"""Trip files → trips per local start hour (and start station): the hot path over every trip."""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bikecast.data.schema import DataError
from bikecast.data.sources.capital_bikeshare.layouts import (
    MEMBER,
    Layout,
    csv_members,
    detect_layout,
    header,
    not_a_zip,
)
from bikecast.data.sources.http import one_line

log = logging.getLogger(__name__)

MAX_BAD_ROW_FRACTION = 0.01  # unparseable start times / unknown member types tolerated
HOUR_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}$")


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
            for name in csv_members(zf, where):
                member_where = f"{where} ({name})"
                layout = detect_layout(header(zf, name), member_where)
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
        raise not_a_zip(where, exc) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{where}: cannot parse the trips CSV ({one_line(exc)})") from exc
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
            for name in csv_members(zf, where):
                member_where = f"{where} ({name})"
                layout = detect_layout(header(zf, name), member_where)
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
        raise not_a_zip(where, exc) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{where}: cannot parse the trips CSV ({one_line(exc)})") from exc
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
