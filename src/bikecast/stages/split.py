"""split: by time; the last `split.test_days` days up to `ingest.as_of` are the test window."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.data.schema import DataError

log = logging.getLogger(__name__)


def split_by_time(
    table: pd.DataFrame, as_of: pd.Timestamp, test_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows in (as_of - test_days, as_of] are test; everything earlier is train."""
    cutoff = as_of - pd.Timedelta(days=test_days)
    in_window = table["timestamp"] <= as_of
    train = table[in_window & (table["timestamp"] <= cutoff)].reset_index(drop=True)
    test = table[in_window & (table["timestamp"] > cutoff)].reset_index(drop=True)
    check_sizes(len(train), len(test), as_of, test_days)
    return train, test


def check_sizes(train_rows: int, test_rows: int, as_of: pd.Timestamp, test_days: int) -> None:
    cutoff = as_of - pd.Timedelta(days=test_days)
    if not test_rows:
        raise DataError(
            f"split: no rows in the test window ({cutoff.isoformat()}, {as_of.isoformat()}]; "
            "is ingest.as_of after the end of the data?"
        )
    if not train_rows:
        raise DataError(
            f"split: no rows before {cutoff.isoformat()} to train on; lower split.test_days "
            f"({test_days}) or move ingest.as_of later"
        )


def run(params: Params) -> None:
    if params.compute.engine == "dask":
        return run_dask(params)
    table = pd.read_parquet(paths.FEATURES)
    train, test = split_by_time(table, params.ingest.as_of_utc, params.split.test_days)
    io.write_parquet(train, paths.TRAIN)
    io.write_parquet(test, paths.TEST)
    log.info("split: %d train rows, %d test rows", len(train), len(test))


def run_dask(params: Params) -> None:
    """The same rule on a Dask cluster; the train split stays a partitioned dataset, the test
    window (a few weeks) is small and written as one file for evaluation and serving checks."""
    from bikecast.compute import dask_client, read_parquet

    with dask_client(params.compute):
        table = read_parquet(paths.FEATURES, params.compute)
        as_of = params.ingest.as_of_utc
        cutoff = as_of - pd.Timedelta(days=params.split.test_days)
        train = table[table["timestamp"] <= cutoff]
        test = table[(table["timestamp"] > cutoff) & (table["timestamp"] <= as_of)].compute()
        train_rows = int(train.map_partitions(len).sum().compute())
        check_sizes(train_rows, len(test), as_of, params.split.test_days)
        io.write_parquet_dataset(train, paths.TRAIN)
        io.write_parquet(test.reset_index(drop=True), paths.TEST)
    log.info("split (dask): %d train rows, %d test rows", train_rows, len(test))
