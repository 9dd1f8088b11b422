"""The model card: what a model is, what it was trained on and how. It crosses processes
(train → evaluate, drift, serve), images (baked beside the model) and revisions (`compare`
scores the cards of older commits), so it is one typed, versioned contract, read and
written only here.

Schema versions: 0 = cards written before the card had a version (they may lack `grain`,
`compute_engine` and `stations`); 1 = before the level (no `level`); 2 = this one.
`ModelCard.parse` upgrades old cards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bikecast.errors import BikecastError
from bikecast.grain import Grain

if TYPE_CHECKING:
    from bikecast.ml.level import LevelTable
    from bikecast.ml.stations import StationTable

SCHEMA_VERSION = 2


class ModelError(BikecastError, RuntimeError):
    """The model file or its card is missing, corrupt or does not match."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataWindow(_Strict):
    """The data the model saw: the pipeline's window and the rows it was fitted on."""

    source: str
    as_of: str  # ingest.as_of, as written in params.yaml
    train_start: str  # first and last fitted hour, UTC ISO-8601
    train_end: str
    train_rows: int


class Evaluation(_Strict):
    """On a served card: the evaluation fit of the same recipe (train split only), whose
    scores on the unseen test window are the metrics, the gate and the PR report."""

    version: str
    train_start: str
    train_end: str
    train_rows: int


class ModelCard(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    version: str  # the first 12 hex digits of sha256: what /model and image tags show
    sha256: str  # of the model file: a swapped or corrupt file is caught before it predicts
    format: Literal["xgboost-ubj"] = "xgboost-ubj"
    # served fits: the sha256 of the same trees as ONNX (models/model.onnx), which the API
    # runs with ONNX Runtime (bikecast.ml.runtime)
    onnx_sha256: str | None = None
    xgboost_version: str
    # the trees learn log1p(rentals), less the level (the log growth) where `level` is set
    target: Literal["log1p(rentals)", "log1p(rentals) - level"] = "log1p(rentals)"
    grain: Grain = Grain.CITY
    compute_engine: Literal["local", "dask"] = "local"
    feature_columns: tuple[str, ...]
    rounds: int
    # evaluation: fitted on the train split (scored on the test window; what compare ranks).
    # served: the same recipe and rounds refitted on every validated row up to as_of (what
    # the API serves). Cards before the split were evaluation fits, served as they were.
    fit: Literal["evaluation", "served"] = "evaluation"
    evaluation: Evaluation | None = None  # served cards: the evaluation fit they stand on
    params: dict[str, Any]  # train.* at training time (the keys of that revision's params)
    data_window: DataWindow
    # station grain: the station table's last days (StationTable.to_dict), so serving and
    # compare rebuild the station features of hours after the data end
    stations: dict[str, Any] | None = None
    # city grain with level.method year_over_year: the level table's last days
    # (LevelTable.to_dict), so serving and compare rebuild the level of every hour
    level: dict[str, Any] | None = None
    # served fits: [min, max] of each weather input over the rows it was fitted on; the API
    # counts inputs outside them in /metrics (bikecast_inputs_out_of_range_total)
    input_ranges: dict[str, tuple[float, float]] | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str | Path = "model card") -> ModelCard:
        """A card of any known schema version (older revisions wrote version 0)."""
        if not isinstance(raw, dict):
            raise ModelError(f"{where}: a model card is a JSON object, not {type(raw).__name__}")
        found = raw.get("schema_version", 0)
        if found not in range(SCHEMA_VERSION + 1):
            raise ModelError(
                f"{where}: model card schema_version {found!r} is newer than this code "
                f"(knows 0..{SCHEMA_VERSION}); upgrade bikecast to read it"
            )
        data = {**raw, "schema_version": SCHEMA_VERSION}
        if found == 0 and data.get("stations") is None:
            data.pop("stations", None)
        try:
            return cls.model_validate_json(json.dumps(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'card'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ModelError(f"{where}: not a valid model card ({problems})") from None

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"{path}: model card not found (run `dvc repro train`)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: model card is not valid JSON ({exc})") from None
        return cls.parse(raw, path)

    @property
    def station_table(self) -> StationTable | None:
        """The station table a station-grain model carries; None for a city model."""
        if not self.grain.is_station:
            return None
        from bikecast.ml.stations import StationTable

        try:
            return StationTable.from_dict(self.stations or {})
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(
                f"model {self.version}: station-grain card without a usable station table "
                f"({type(exc).__name__}: {exc})"
            ) from None

    @property
    def level_table(self) -> LevelTable | None:
        """The level table of a level model; None for a model without one."""
        if self.level is None:
            if self.target != "log1p(rentals)":
                raise ModelError(f"model {self.version}: its target needs a level table")
            return None
        from bikecast.ml.level import LevelTable

        try:
            return LevelTable.from_dict(self.level)
        except ValueError as exc:
            raise ModelError(f"model {self.version}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The card as written to models/model.json (JSON types, no empty station table)."""
        return self.model_dump(mode="json", exclude_none=True)
