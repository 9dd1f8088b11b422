"""The monthly trip files: their names, the two real CSV layouts, and whether a zip is whole."""

from __future__ import annotations

import csv
import io as stdio
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bikecast.data.schema import DataError
from bikecast.data.sources.http import one_line

MEMBER = {"member": "registered", "casual": "casual"}  # both layouts, compared lower-cased
SHOWN_COLUMNS = 3  # columns named in an unknown-layout error; the rest are counted


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


def trips_file(month: pd.Period) -> str:
    return f"{month.strftime('%Y%m')}-capitalbikeshare-tripdata.zip"


def detect_layout(columns: list[str], where: str) -> Layout:
    """Which of the real layouts a header is; one line naming the file and the closest miss."""
    names = [c.strip() for c in columns]
    for layout in LAYOUTS:
        if set(names).issuperset(layout.columns):
            return layout
    closest = max(LAYOUTS, key=lambda lay: len(set(names) & set(lay.columns)))
    read = [c for c in (closest.start, closest.member, closest.station) if c not in names]
    missing = read + [c for c in closest.columns if c not in names and c not in read]
    unexpected = [c for c in names if c not in closest.columns]
    parts = [f"lacks {_first(missing)}"]
    if unexpected:
        parts.append(f"has unexpected {_first(unexpected)}")
    raise DataError(
        f"{where}: unknown trip layout; against the {closest.name} layout it {' and '.join(parts)}"
    )


def _first(names: list[str]) -> str:
    """The first few column names, quoted, and how many more there are."""
    shown = ", ".join(repr(n) for n in names[:SHOWN_COLUMNS])
    rest = len(names) - SHOWN_COLUMNS
    return f"{shown} (+{rest} more)" if rest > 0 else shown


def csv_members(zf: zipfile.ZipFile, where: str) -> list[str]:
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


def header(zf: zipfile.ZipFile, name: str) -> list[str]:
    with zf.open(name) as raw, stdio.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def not_a_zip(where: str, exc: Exception) -> DataError:
    return DataError(f"{where}: not a valid zip file, truncated or corrupt ({one_line(exc)})")


def verify_trips_zip(path: Path, where: str) -> None:
    """A downloaded zip is whole (every CRC checks) and each CSV is in a known layout."""
    try:
        with zipfile.ZipFile(path) as zf:
            broken = zf.testzip()
            if broken is not None:
                raise DataError(f"{where}: member {broken} fails its CRC check (corrupt file)")
            for name in csv_members(zf, where):
                detect_layout(header(zf, name), f"{where} ({name})")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError) as exc:
        raise not_a_zip(where, exc) from exc
