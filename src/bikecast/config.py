"""Typed view of params.yaml: the only place tunables live.

Every stage loads params through `load_params`, so a typo or an unknown key fails loudly
(`extra="forbid"`) instead of being silently ignored.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bikecast import paths
from bikecast.errors import BikecastError
from bikecast.grain import Grain

if TYPE_CHECKING:  # pandas is imported where it is used: serving imports this without it
    import pandas as pd


class ConfigError(BikecastError, ValueError):
    """params.yaml is missing, malformed or holds a value the pipeline cannot use."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_timestamp(value: object, what: str = "timestamp") -> pd.Timestamp:
    """Parse an ISO-8601 timestamp with an explicit offset into UTC."""
    import pandas as pd

    try:
        ts = pd.Timestamp(str(value))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} {value!r} is not an ISO-8601 timestamp") from exc
    if ts is pd.NaT:
        raise ValueError(f"{what} {value!r} is not an ISO-8601 timestamp")
    if ts.tzinfo is None:
        raise ValueError(
            f"{what} {value!r} has no UTC offset; write it like 2011-12-31T23:00:00-05:00 "
            "or 2012-01-01T04:00:00Z"
        )
    return ts.tz_convert("UTC")


class CapitalBikeshareParams(_Section):
    """The live source: trip-history zips + Open-Meteo archive weather (see sources/)."""

    # Base URL of the monthly {YYYYMM}-capitalbikeshare-tripdata.zip files
    # (env BIKECAST_TRIPS_URL overrides it, e.g. for a mirror or a test server).
    trips_url: str = "https://s3.amazonaws.com/capitalbikeshare-data"
    # Open-Meteo historical weather endpoint (env BIKECAST_WEATHER_URL overrides it).
    weather_url: str = "https://archive-api.open-meteo.com/v1/archive"
    cache_dir: str = ".cache/capital_bikeshare"
    start: str = "2024-01"  # first month of the window, YYYY-MM in Washington DC time
    latitude: float = Field(38.8951, ge=-90, le=90)
    longitude: float = Field(-77.0364, ge=-180, le=180)
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    backoff_s: float = Field(2.0, ge=0)
    max_weather_gap_hours: int = Field(3, ge=0)

    @field_validator("start")
    @classmethod
    def _start_is_month(cls, value: str) -> str:
        import pandas as pd

        try:
            month = pd.Period(value, freq="M")
        except ValueError as exc:
            raise ValueError(
                f"capital_bikeshare.start {value!r} is not a month like 2024-01"
            ) from exc
        if month < pd.Period("2018-01", freq="M"):
            raise ValueError(
                f"capital_bikeshare.start {value!r}: monthly trip files exist from 2018-01 on"
            )
        return value


class IngestParams(_Section):
    source: Literal["replay", "capital_bikeshare"] = "replay"
    path: str = "data/seed/bikeshare_dc_2011.csv.gz"
    as_of: str
    step: str = "7D"
    # replay's simulated clock (bikecast.gitops.advance): at the real time replay_started
    # its data time was replay_from; from then on it reveals the file at real speed.
    replay_started: str = "2026-11-30T06:00:00Z"
    replay_from: str = "2011-12-31T23:00:00-05:00"
    capital_bikeshare: CapitalBikeshareParams = Field(default_factory=CapitalBikeshareParams)

    @field_validator("as_of")
    @classmethod
    def _as_of_is_timestamp(cls, value: str) -> str:
        parse_timestamp(value, "ingest.as_of")
        return value

    @field_validator("replay_started", "replay_from")
    @classmethod
    def _clock_is_timestamp(cls, value: str) -> str:
        parse_timestamp(value)  # the error's location names the key
        return value

    @field_validator("step")
    @classmethod
    def _step_is_duration(cls, value: str) -> str:
        import pandas as pd

        try:
            delta = pd.Timedelta(value)
        except ValueError as exc:
            raise ValueError(f"ingest.step {value!r} is not a duration like 7D or 24h") from exc
        if delta < timedelta(hours=1):
            raise ValueError(f"ingest.step {value!r} must be at least one hour")
        return value

    @property
    def as_of_utc(self) -> pd.Timestamp:
        return parse_timestamp(self.as_of, "ingest.as_of")

    @property
    def replay_started_utc(self) -> pd.Timestamp:
        return parse_timestamp(self.replay_started, "ingest.replay_started")

    @property
    def replay_from_utc(self) -> pd.Timestamp:
        return parse_timestamp(self.replay_from, "ingest.replay_from")


class ValidateParams(_Section):
    max_bad_fraction: float = Field(0.01, ge=0, le=1)
    max_missing_fraction: float = Field(0.05, ge=0, le=1)


class SplitParams(_Section):
    test_days: int = Field(28, ge=1)


class TrainParams(_Section):
    n_estimators: int = Field(1000, ge=1)
    max_depth: int = Field(6, ge=1, le=16)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(10.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(20, ge=1)
    valid_days: int = Field(14, ge=1)
    seed: int = 42


class GateParams(_Section):
    tolerance: float = Field(0.02, ge=0)


class ServeParams(_Section):
    max_batch: int = Field(10_000, ge=1)


# Evidently 0.7 drift methods by column kind (names as Evidently registers them).
NumDriftMethod = Literal[
    "wasserstein", "psi", "jensenshannon", "hellinger", "kl_div", "ed",
    "ks", "anderson", "cramer_von_mises", "mannw", "t_test", "es", "empirical_mmd",
]  # fmt: skip
CatDriftMethod = Literal[
    "jensenshannon", "psi", "hellinger", "kl_div", "chisquare", "z", "g_test", "fisher_exact", "TVD"
]


class DriftParams(_Section):
    """Drift check (stage `drift`); see README section "Drift" for why these defaults."""

    reference: Literal["auto", "year_ago", "recent", "train"] = "auto"
    reference_days: int = Field(28, ge=1)
    min_coverage: float = Field(0.9, gt=0, le=1)
    exclude: tuple[str, ...] = ("month", "day_of_year", "days_to_holiday")
    num_method: NumDriftMethod = "wasserstein"
    num_threshold: float = Field(1.0, ge=0)
    cat_method: CatDriftMethod = "jensenshannon"
    cat_threshold: float = Field(0.3, ge=0)
    target_method: NumDriftMethod = "wasserstein"
    target_threshold: float = Field(0.5, ge=0)
    drift_share: float = Field(0.5, gt=0, le=1)


class MonitorParams(_Section):
    """`bikecast monitor`: the live log scored against the rentals that came true."""

    window_days: int = Field(7, ge=1, le=92)  # request days read from the log
    min_scored: int = Field(48, ge=1)  # fewer scored forecasts: no verdict on the error
    max_rmsle_ratio: float = Field(1.5, gt=0)  # live RMSLE over this × the test RMSLE
    max_out_of_range_share: float = Field(0.05, ge=0, le=1)
    min_drift_hours: int = Field(72, ge=1)  # distinct scored hours for the drift check


class StationParams(_Section):
    """Station grain only: the recent-level feature (README "Station grain")."""

    # mean rentals per hour of the station over this many local days ...
    history_days: int = Field(28, ge=1, le=365)
    # ... ending this many days before the forecast hour: the forecast horizon. At least
    # split.test_days, so no test hour is described by rentals of the test window.
    history_lag_days: int = Field(28, ge=1, le=365)


class LevelParams(_Section):
    """City grain: the year-over-year level (README "Following demand"; ml/level.py)."""

    # year_over_year: the model learns demand relative to the city's growth over a year;
    # none: calendar and weather only (the model before the level existed).
    method: Literal["year_over_year", "none"] = "year_over_year"
    # mean rentals per hour over this many local days, against the same days 52 weeks earlier
    days: int = Field(28, ge=1, le=182)
    # ... ending this many days before the forecast hour: at least split.test_days, so no
    # test hour is described by rentals of the test window.
    lag_days: int = Field(28, ge=1, le=182)


class ComputeParams(_Section):
    """Where features and training run (README "Running on Dask")."""

    engine: Literal["local", "dask"] = "local"
    # Address of a running Dask scheduler (tcp://host:8786); env BIKECAST_DASK_SCHEDULER
    # overrides it. None: a LocalCluster on this machine with the settings below.
    scheduler: str | None = None
    connect_timeout_s: float = Field(20.0, gt=0)
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    memory_limit: str = "4GiB"  # per LocalCluster worker; training does not spill (README)
    partition_rows: int = Field(1_000_000, ge=1_000)  # rows per Dask partition

    @field_validator("memory_limit")
    @classmethod
    def _memory_is_size(cls, value: str) -> str:
        try:
            from dask.utils import parse_bytes
        except ImportError:  # the serving image has no Dask and never starts a cluster
            return value
        try:
            parse_bytes(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"compute.memory_limit {value!r} is not a size like 4GiB") from exc
        return value


class Params(_Section):
    # city: the city's rentals per hour. station: one row per station and hour, one global
    # model with station features.
    grain: Grain = Grain.CITY
    ingest: IngestParams
    validate_: ValidateParams = Field(default_factory=ValidateParams, alias="validate")
    split: SplitParams = Field(default_factory=SplitParams)
    train: TrainParams = Field(default_factory=TrainParams)
    gate: GateParams = Field(default_factory=GateParams)
    serve: ServeParams = Field(default_factory=ServeParams)
    drift: DriftParams = Field(default_factory=DriftParams)
    monitor: MonitorParams = Field(default_factory=MonitorParams)
    station: StationParams = Field(default_factory=StationParams)
    level: LevelParams = Field(default_factory=LevelParams)
    compute: ComputeParams = Field(default_factory=ComputeParams)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def validate_params(self) -> ValidateParams:
        return self.validate_

    @model_validator(mode="after")
    def _history_before_test_window(self) -> Params:
        if self.grain.is_station and self.station.history_lag_days < self.split.test_days:
            raise ValueError(
                f"station.history_lag_days ({self.station.history_lag_days}) is shorter than "
                f"split.test_days ({self.split.test_days}): test hours would be described by "
                "rentals from the test window itself; raise it to at least test_days"
            )
        if self.uses_level and self.level.lag_days < self.split.test_days:
            raise ValueError(
                f"level.lag_days ({self.level.lag_days}) is shorter than split.test_days "
                f"({self.split.test_days}): test hours would be described by rentals from the "
                "test window itself; raise it to at least test_days"
            )
        return self

    @property
    def uses_level(self) -> bool:
        """The year-over-year level is a city-grain feature (stations have their own)."""
        return self.level.method != "none" and not self.grain.is_station


def load_params(path: str | Path = paths.PARAMS) -> Params:
    """Read and validate params.yaml; raise ConfigError with every problem listed."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} not found: run bikecast from the repository root") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
