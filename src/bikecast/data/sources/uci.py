"""Convert the UCI Bike Sharing hourly data (as shipped in ISLP's Bikeshare.csv).

Used once, by scripts/make_seed.py, to build the committed seed; never at run time.
Conversions follow the UCI readme (Fanaee-T & Gama 2013): the weather columns were divided
by their maxima (and shifted), so temp*47-8 = °C, atemp*66-16 = °C, hum*100 = %,
windspeed*67 = km/h.
"""

from __future__ import annotations

import pandas as pd

from bikecast.data.schema import COLUMNS, TIMEZONE

WEATHERSIT = {
    "clear": "clear",
    "cloudy/misty": "mist",
    "light rain/snow": "light_precip",
    "heavy rain/snow": "heavy_precip",
}


def local_hours_to_utc(local: pd.Series) -> pd.Series:
    """Washington DC wall-clock hours → UTC.

    The spring-forward hour (02:00 on the second Sunday of March) does not exist and is
    rejected. The fall-back hour (01:00 on the first Sunday of November) happens twice but
    the source has one row for it: it is placed at its first occurrence (EDT), so the
    second 01:00 (EST) is a gap.
    """
    return local.dt.tz_localize(TIMEZONE, ambiguous=True, nonexistent="raise").dt.tz_convert("UTC")


def convert_islp_bikeshare(source: pd.DataFrame, year: int = 2011) -> pd.DataFrame:
    """ISLP Bikeshare.csv rows (day of year, hr, normalised weather) → canonical rows."""
    unknown = sorted(set(source["weathersit"]) - set(WEATHERSIT))
    if unknown:
        raise ValueError(f"unknown weathersit labels {unknown}")
    local = (
        pd.Timestamp(year=year, month=1, day=1)
        + pd.to_timedelta(source["day"] - 1, unit="D")
        + pd.to_timedelta(source["hr"], unit="h")
    )
    out = pd.DataFrame(
        {
            "timestamp": local_hours_to_utc(local),
            "rentals": source["bikers"].astype("int64"),
            "casual": source["casual"].astype("int64"),
            "registered": source["registered"].astype("int64"),
            "temp_c": (source["temp"] * 47 - 8).round(2),
            "feels_like_c": (source["atemp"] * 66 - 16).round(2),
            "humidity_pct": (source["hum"] * 100).round(1),
            "wind_kmh": (source["windspeed"] * 67).round(2),
            "weather": source["weathersit"].map(WEATHERSIT),
        }
    )
    return out[list(COLUMNS)].sort_values("timestamp", ignore_index=True)


def to_csv_text(frame: pd.DataFrame) -> str:
    """Canonical CSV text: ISO-8601 UTC timestamps with a Z suffix."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False, lineterminator="\n")
