"""The canonical hourly schema every source produces and every stage consumes."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from bikecast.errors import BikecastError
from bikecast.grain import Grain

if TYPE_CHECKING:  # imported where used: the API imports this module's names without pandas
    import pandas as pd

WEATHER = ("clear", "mist", "light_precip", "heavy_precip")
COUNT_COLUMNS = ("rentals", "casual", "registered")
WEATHER_COLUMNS = ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh", "weather")
COLUMNS = ("timestamp", *COUNT_COLUMNS, *WEATHER_COLUMNS)
# Station grain: one row per station and hour. Coordinates may be empty (the 2018-2020 trip
# layout has none); the model treats them as missing.
STATION_COLUMNS = ("station_id", "latitude", "longitude")
STATION_GRAIN_COLUMNS = ("timestamp", *STATION_COLUMNS, *COUNT_COLUMNS, *WEATHER_COLUMNS)
TIMEZONE = "America/New_York"  # calendar features use Washington DC local time
OFFSET_PATTERN = r"(?:Z|[+-]\d{2}:?\d{2})$"


class DataError(BikecastError, ValueError):
    """Input data cannot be used; the message names the file and what is wrong."""


def columns(grain: Grain | str = Grain.CITY) -> tuple[str, ...]:
    """The canonical columns of a grain, in file order."""
    return STATION_GRAIN_COLUMNS if Grain(grain).is_station else COLUMNS


def canonical_schema(grain: Grain | str = Grain.CITY):
    """The pandera schema of a typed canonical frame (row-level checks, collected lazily)."""
    import pandera.pandas as pa

    count = {"dtype": "int64", "checks": pa.Check.ge(0), "nullable": False}
    station = {
        "station_id": pa.Column(str, pa.Check.str_length(1, 64), nullable=False),
        "latitude": pa.Column(float, pa.Check.in_range(-90, 90), nullable=True),
        "longitude": pa.Column(float, pa.Check.in_range(-180, 180), nullable=True),
    }
    return pa.DataFrameSchema(
        {
            "timestamp": pa.Column("datetime64[ns, UTC]", nullable=False),
            **(station if Grain(grain).is_station else {}),
            "rentals": pa.Column(**count),
            "casual": pa.Column(**count),
            "registered": pa.Column(**count),
            "temp_c": pa.Column(float, pa.Check.in_range(-40, 50), nullable=False),
            "feels_like_c": pa.Column(float, pa.Check.in_range(-60, 65), nullable=False),
            "humidity_pct": pa.Column(float, pa.Check.in_range(0, 100), nullable=False),
            "wind_kmh": pa.Column(float, pa.Check.in_range(0, 250), nullable=False),
            "weather": pa.Column(str, pa.Check.isin(WEATHER), nullable=False),
        },
        checks=[
            pa.Check(
                lambda df: df["rentals"] == df["casual"] + df["registered"],
                name="rentals_is_casual_plus_registered",
                error="rentals must equal casual + registered",
            ),
            pa.Check(
                lambda df: df["timestamp"] == df["timestamp"].dt.floor("h"),
                name="timestamp_on_the_hour",
                error="timestamp must be on the hour",
            ),
        ],
        strict=True,
        ordered=False,
    )


def read_canonical(path: str | Path, grain: Grain | str = Grain.CITY) -> pd.DataFrame:
    """Read a canonical file (.csv, .csv.gz or .parquet) as strings, columns checked.

    Values stay untyped here so that validate can quarantine each bad value with a reason
    instead of the whole read failing on the first one.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path).astype("string")
        else:
            frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: compressed file is truncated or corrupt ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file has no header and no rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be parsed as {path.suffix or 'csv'} ({exc})") from exc
    check_columns(frame, str(path), grain)
    if frame.empty:
        raise DataError(f"{path}: file has a header but no rows")
    return frame[list(columns(grain))]


def check_columns(frame: pd.DataFrame, where: str, grain: Grain | str = Grain.CITY) -> None:
    """Fail with the exact missing and unexpected column names."""
    grain = Grain(grain)
    expected = columns(grain)
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        hint = ""
        if not grain.is_station and "station_id" in extra:
            hint = " (a station-grain file: set `grain: station` in params.yaml)"
        elif grain.is_station and missing == list(STATION_COLUMNS):
            hint = " (a city-grain file: set `grain: city` in params.yaml)"
        raise DataError(f"{where}: {' and '.join(parts)}; expected exactly {list(expected)}{hint}")


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO-8601 strings with an offset → UTC timestamps; anything else → NaT."""
    import pandas as pd

    text = values.astype("string").str.strip()
    has_offset = text.str.contains(OFFSET_PATTERN, regex=True, na=False)
    parsed = pd.to_datetime(text.where(has_offset), utc=True, errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[ns, UTC]")
