"""validate: raw hours → data/interim/ (valid rows), data/quarantine/ (rejected, with reasons)."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.data.validation import Validated, check_thresholds, validate_frame

log = logging.getLogger(__name__)


def run(params: Params) -> Validated:
    result = validate_frame(pd.read_parquet(paths.RAW), params.grain)
    check_thresholds(result, params.validate_params, str(paths.RAW))
    io.write_csv(result.quarantine, paths.QUARANTINE)
    io.write_json(result.report, paths.VALIDATE_METRICS)
    io.write_parquet(result.valid, paths.INTERIM)
    log.info(
        "validate: %d valid, %d quarantined, %d hours missing",
        result.report["valid_rows"],
        result.report["quarantined_rows"],
        result.report["missing_hours"],
    )
    return result
