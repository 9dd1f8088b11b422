"""What one row is: the city's rentals in an hour, or one station's. Chosen once (params.yaml
`grain`, a frame's columns, a model card) and then asked, instead of comparing strings.

A `str` enum, so params.yaml, model cards and metrics keep the plain words "city" and
"station" and older code that compares strings still reads them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class Grain(StrEnum):
    CITY = "city"
    STATION = "station"

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Grain:
        """The grain of a table of rows: station rows carry a `station_id` column."""
        return cls.STATION if "station_id" in frame.columns else cls.CITY

    @property
    def is_station(self) -> bool:
        return self is Grain.STATION

    @property
    def by(self) -> tuple[str, ...]:
        """Keys besides the hour: each station has its own series (and baselines)."""
        return ("station_id",) if self.is_station else ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns that identify one row."""
        return ("timestamp", *self.by)
