"""Capital Bikeshare trips + Open-Meteo weather → canonical hours; the names callers import."""

from bikecast.data.schema import DataError
from bikecast.data.sources.capital_bikeshare.availability import available_until
from bikecast.data.sources.capital_bikeshare.counts import count_station_trips, count_trips
from bikecast.data.sources.capital_bikeshare.hours import first_hour, local_counts_to_utc
from bikecast.data.sources.capital_bikeshare.layouts import detect_layout, verify_trips_zip
from bikecast.data.sources.capital_bikeshare.services import ENV_TRIPS_URL, ENV_WEATHER_URL
from bikecast.data.sources.capital_bikeshare.source import fetch
from bikecast.data.sources.capital_bikeshare.stations import station_coordinates, station_hours

__all__ = [
    "ENV_TRIPS_URL",
    "ENV_WEATHER_URL",
    "DataError",
    "available_until",
    "count_station_trips",
    "count_trips",
    "detect_layout",
    "fetch",
    "first_hour",
    "local_counts_to_utc",
    "station_coordinates",
    "station_hours",
    "verify_trips_zip",
]
