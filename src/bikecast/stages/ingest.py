"""ingest: the chosen source, revealed up to `ingest.as_of` → data/raw/hourly.parquet."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.data.sources import load_source

log = logging.getLogger(__name__)


def run(params: Params) -> pd.DataFrame:
    frame = load_source(params.ingest, params.grain)
    io.write_parquet(frame, paths.RAW)
    log.info("ingest: %d rows up to %s → %s", len(frame), params.ingest.as_of, paths.RAW)
    return frame
