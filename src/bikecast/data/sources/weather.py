"""Hourly weather from the Open-Meteo archive API (ERA5 reanalysis; no key; CC BY 4.0).

The archive lags real time by a few days: its newest hours come back as nulls. Trailing
nulls therefore end the usable window; short interior gaps are interpolated; longer interior
gaps stay missing so that validate quarantines those hours with a reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bikecast.data.schema import DataError

# Open-Meteo variable -> canonical column
VARIABLES = {
    "temperature_2m": "temp_c",
    "apparent_temperature": "feels_like_c",
    "relative_humidity_2m": "humidity_pct",
    "wind_speed_10m": "wind_kmh",
    "weather_code": "weather_code",
}
UNITS = {
    "temperature_2m": "°C",
    "apparent_temperature": "°C",
    "relative_humidity_2m": "%",
    "wind_speed_10m": "km/h",
}
FLOAT_COLUMNS = ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")

# WMO 4677 present-weather codes as Open-Meteo reports them -> the four canonical categories.
WMO_WEATHER: dict[int, str] = {
    **dict.fromkeys((0, 1, 2), "clear"),  # clear sky, mainly clear, partly cloudy
    **dict.fromkeys((3, 45, 48), "mist"),  # overcast, fog, depositing rime fog
    **dict.fromkeys((51, 53, 55, 56, 57), "light_precip"),  # drizzle (incl. freezing)
    **dict.fromkeys((61, 63), "light_precip"),  # slight / moderate rain
    65: "heavy_precip",  # heavy rain
    **dict.fromkeys((66, 67), "heavy_precip"),  # freezing rain
    **dict.fromkeys((71, 73, 77), "light_precip"),  # slight / moderate snow, snow grains
    75: "heavy_precip",  # heavy snow
    **dict.fromkeys((80, 81), "light_precip"),  # slight / moderate rain showers
    82: "heavy_precip",  # violent rain showers
    85: "light_precip",  # slight snow showers
    86: "heavy_precip",  # heavy snow showers
    95: "light_precip",  # thunderstorm
    **dict.fromkeys((96, 99), "heavy_precip"),  # thunderstorm with hail
}


def request_params(latitude: float, longitude: float, start: str, end: str) -> dict[str, Any]:
    """Query string for the archive API: hourly variables in °C and km/h, times in GMT."""
    return {
        "latitude": latitude,
        "longitude": longitude,
        "start_date": start,
        "end_date": end,
        "hourly": ",".join(VARIABLES),
        "timezone": "GMT",
        "temperature_unit": "celsius",
        "wind_speed_unit": "kmh",
    }


def parse_archive(payload: Any, where: str) -> pd.DataFrame:
    """An archive response → one row per UTC hour (values may be NaN), checked for shape."""
    if not isinstance(payload, dict) or not isinstance(payload.get("hourly"), dict):
        raise DataError(f"{where}: response has no 'hourly' object")
    if payload.get("utc_offset_seconds", 0) != 0:
        raise DataError(f"{where}: times are not in GMT (utc_offset_seconds != 0)")
    hourly = payload["hourly"]
    units = payload.get("hourly_units") or {}
    missing = [name for name in ("time", *VARIABLES) if name not in hourly]
    if missing:
        raise DataError(f"{where}: hourly lacks {missing}")
    for name, unit in UNITS.items():
        if name in units and units[name] != unit:
            raise DataError(f"{where}: {name} is in {units[name]!r}, expected {unit!r}")
    times = hourly["time"]
    lengths = {name: len(hourly[name]) for name in VARIABLES}
    if any(n != len(times) for n in lengths.values()):
        raise DataError(f"{where}: hourly arrays differ in length: time {len(times)}, {lengths}")
    stamps = pd.to_datetime(
        pd.Series(times, dtype="string"), format="%Y-%m-%dT%H:%M", errors="coerce"
    )
    if stamps.isna().any():
        raise DataError(f"{where}: hourly.time holds values that are not YYYY-MM-DDTHH:MM")
    frame = pd.DataFrame({"timestamp": stamps.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")})
    for name, column in VARIABLES.items():
        frame[column] = pd.to_numeric(pd.Series(hourly[name], dtype="object"), errors="coerce")
    frame = frame.astype({c: "float64" for c in VARIABLES.values()})
    return frame.drop_duplicates("timestamp").sort_values("timestamp", ignore_index=True)


def weather_labels(codes: pd.Series, where: str) -> pd.Series:
    """WMO codes → clear | mist | light_precip | heavy_precip (missing stays missing)."""
    known = codes.isna() | codes.isin(list(WMO_WEATHER))
    if not known.all():
        bad = sorted({float(c) for c in codes[~known]})
        raise DataError(f"{where}: unknown WMO weather codes {bad}")
    return codes.map(WMO_WEATHER).astype(object)


def fill_short_gaps(frame: pd.DataFrame, max_hours: int) -> pd.DataFrame:
    """Interpolate interior gaps of at most `max_hours` (floats linear, codes carried).

    Expects one row per consecutive hour. Leading and trailing gaps are left alone: trailing
    ones are the archive's lag and end the window instead.
    """
    out = frame.copy()
    if max_hours == 0:
        return out
    for column in (*FLOAT_COLUMNS, "weather_code"):
        values = out[column]
        gap = values.isna()
        run_id = (~gap).cumsum()
        run_length = gap.groupby(run_id).transform("sum")
        interior = values.ffill().notna() & values.bfill().notna()
        fillable = gap & interior & (run_length <= max_hours)
        if not fillable.any():
            continue
        if column == "weather_code":
            filled = values.ffill()
        else:
            filled = values.interpolate(method="linear", limit_area="inside")
        out[column] = values.where(~fillable, filled)
    return out


def last_complete_hour(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The last hour with every variable present, or None when there is none."""
    complete = frame[list(VARIABLES.values())].notna().all(axis=1).to_numpy()
    if not complete.any():
        return None
    return frame["timestamp"].iloc[int(np.flatnonzero(complete)[-1])]
