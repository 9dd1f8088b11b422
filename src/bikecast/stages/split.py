"""split: by time; the last `split.test_days` days up to `ingest.as_of` are the test window."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.schema import DataError

log = logging.getLogger(__name__)


def split_by_time(
    table: pd.DataFrame, as_of: pd.Timestamp, test_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows in (as_of - test_days, as_of] are test; everything earlier is train."""
    cutoff = as_of - pd.Timedelta(days=test_days)
    in_window = table["timestamp"] <= as_of
    train = table[in_window & (table["timestamp"] <= cutoff)].reset_index(drop=True)
    test = table[in_window & (table["timestamp"] > cutoff)].reset_index(drop=True)
    if test.empty:
        raise DataError(
            f"split: no rows in the test window ({cutoff.isoformat()}, {as_of.isoformat()}]; "
            "is ingest.as_of after the end of the data?"
        )
    if train.empty:
        raise DataError(
            f"split: no rows before {cutoff.isoformat()} to train on; lower split.test_days "
            f"({test_days}) or move ingest.as_of later"
        )
    return train, test


def run(params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.read_parquet(paths.FEATURES)
    train, test = split_by_time(table, params.ingest.as_of_utc, params.split.test_days)
    io.write_parquet(train, paths.TRAIN)
    io.write_parquet(test, paths.TEST)
    log.info("split: %d train rows, %d test rows", len(train), len(test))
    return train, test
