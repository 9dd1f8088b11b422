"""Request and response bodies of the API: strict, so a client mistake is a 422 naming the field.

The value ranges are those of the canonical schema (bikecast.data.schema.canonical_schema): the
model never saw anything outside them, so the API refuses them rather than extrapolating.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
)

from bikecast.data.schema import OFFSET_PATTERN

Weather = Literal["clear", "mist", "light_precip", "heavy_precip"]  # == data.schema.WEATHER
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_ISO_WITH_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?" + OFFSET_PATTERN
)


def _iso_string_with_offset(value: Any) -> Any:
    """Only ISO-8601 text with an explicit offset: no Unix numbers, no naive local times."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string such as 2011-12-04T08:00:00-05:00")
    if not _ISO_WITH_OFFSET.match(value.strip()):
        raise ValueError(
            f"{value[:40]!r} is not ISO-8601 with a UTC offset; "
            "write it like 2011-12-04T08:00:00-05:00 or 2011-12-04T13:00:00Z"
        )
    return value.strip()


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string_with_offset)]
StationId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _measure(low: float | None, high: float | None, unit: str, example: float) -> Any:
    """A finite number within the canonical schema's range (ints are accepted, bools not)."""
    return Field(
        ge=low,
        le=high,
        allow_inf_nan=False,
        strict=True,
        description=f"{unit}; {'>= ' + str(low) if high is None else f'{low} to {high}'}",
        examples=[example],
    )


class Record(BaseModel):
    """One hour to forecast: when it starts, the weather forecast for it and, for a
    station-grain model, which station."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: Timestamp = Field(
        description="Start of the hour, ISO-8601 with a UTC offset (Z or ±HH:MM), "
        "between 2000 and 2099.",
        examples=["2011-12-05T08:00:00-05:00"],
    )
    temp_c: float = _measure(-40, 50, "air temperature, °C", 6.5)
    feels_like_c: float = _measure(-60, 65, "apparent temperature, °C", 4.0)
    humidity_pct: float = _measure(0, 100, "relative humidity, %", 70.0)
    wind_kmh: float = _measure(0, 250, "wind speed, km/h", 11.0)
    weather: Weather = Field(
        description="Weather category, mildest to most severe.", examples=["mist"]
    )
    station_id: StationId | None = Field(
        None,
        description='Station to forecast (1 to 64 characters, a string such as "31000"). '
        'Required by a station-grain model (GET /model: grain "station"), one of the '
        "stations it was trained on; refused by a city-grain model, which forecasts the "
        "whole city. Omit it for a city model.",
        examples=["31000"],
    )

    @field_validator("timestamp")
    @classmethod
    def _in_supported_years(cls, value: datetime) -> datetime:
        if not EARLIEST <= value < LATEST:
            raise ValueError(
                f"must be in {EARLIEST.year}-{LATEST.year - 1} (the calendar the model knows)"
            )
        return value


EXAMPLE_RECORDS = [
    {
        "timestamp": "2011-12-05T08:00:00-05:00",
        "temp_c": 6.5,
        "feels_like_c": 4.0,
        "humidity_pct": 70.0,
        "wind_kmh": 11.0,
        "weather": "mist",
    },
    {
        "timestamp": "2011-12-05T13:00:00Z",
        "temp_c": 6.5,
        "feels_like_c": 4.0,
        "humidity_pct": 70.0,
        "wind_kmh": 11.0,
        "weather": "mist",
    },
]


class PredictRequestBase(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"records": EXAMPLE_RECORDS}]},
    )


def predict_request_model(max_batch: int) -> type[PredictRequestBase]:
    """The /predict body with the batch limit of this server in its schema (maxItems)."""
    records = Annotated[
        list[Record],
        Field(
            min_length=1,
            max_length=max_batch,
            description=f"1 to {max_batch} hours; predictions come back in the same order.",
        ),
    ]
    return create_model("PredictRequest", __base__=PredictRequestBase, records=(records, ...))


class PredictResponse(BaseModel):
    model_version: str = Field(description="Version (content hash) of the model that answered.")
    predictions: list[Annotated[float, Field(ge=0)]] = Field(
        description="Forecast rentals per hour, one per record, in the request's order."
    )
    station_ids: list[str] | None = Field(
        None,
        description="Station-grain models only (absent for a city model): the station of "
        "each prediction, in the same order.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"model_version": "ddc117aa0132", "predictions": [331.7, 118.2]}]
        }
    )


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Path of the offending field in the request.")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx/503 body: one readable line, and the field errors when there are some."""

    detail: str = Field(examples=["records[0].humidity_pct: Input should be <= 100"])
    errors: list[FieldError] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    reason: str | None = Field(None, description="Why the model is not ready, when it is not.")


class LevelInfo(BaseModel):
    """A level model's growth: demand now against the same weeks a year earlier."""

    method: Literal["year_over_year"]
    days: int = Field(description="Local days averaged in each year's window.")
    lag_days: int = Field(description="The window ends this many days before the hour.")
    known_through: str = Field(
        description="The last local day whose rentals the model knows. Hours more than "
        "lag_days after it use the latest known level (latest_growth)."
    )
    latest_growth: float = Field(
        description="Rentals per hour of the latest window / the same window 52 weeks earlier "
        "(1.0: no growth known, e.g. less than a year of data)."
    )


class ModelInfo(BaseModel):
    """What is being served and where it came from, all read from the pipeline's files."""

    model_version: str = Field(description="Short content hash of the model file.")
    sha256: str
    git_sha: str = Field(description="Git commit the service was built from.")
    xgboost_version: str | None = None
    feature_columns: list[str]
    grain: Literal["city", "station"] = Field(
        description="city: forecasts of the whole city; station: per station, so every "
        "/predict record needs a station_id."
    )
    station_count: int | None = Field(
        description="How many stations a station-grain model knows; null for a city model."
    )
    level: LevelInfo | None = Field(
        None, description="A city model's year-over-year level; null when it has none."
    )
    data_window: dict[str, Any] = Field(description="Source, as_of and the training rows.")
    params: dict[str, Any] = Field(description="Training parameters (params.yaml train).")
    metrics: dict[str, Any] | None = Field(
        description="metrics/evaluate.json of this model on its test window; null if absent."
    )
