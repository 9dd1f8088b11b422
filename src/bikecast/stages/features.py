"""features: validated hours → data/features/features.parquet (targets + model features)."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.features import build_features
from bikecast.schema import COUNT_COLUMNS

log = logging.getLogger(__name__)


def feature_table(valid: pd.DataFrame) -> pd.DataFrame:
    """Timestamp, targets and features side by side, one row per hour."""
    return pd.concat([valid[["timestamp", *COUNT_COLUMNS]], build_features(valid)], axis=1)


def run() -> pd.DataFrame:
    table = feature_table(pd.read_parquet(paths.INTERIM))
    io.write_parquet(table, paths.FEATURES)
    log.info("features: %d rows x %d columns → %s", *table.shape, paths.FEATURES)
    return table
