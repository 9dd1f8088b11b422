"""split: by time; the last `split.test_days` days up to `ingest.as_of` are the test window
(the rule is bikecast.ml.split, which the backtest applies at every origin too)."""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.ml.split import check_sizes, last_train_hour, split_by_time

log = logging.getLogger(__name__)


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
        cutoff = last_train_hour(as_of, params.split.test_days)
        train = table[table["timestamp"] <= cutoff]
        test = table[(table["timestamp"] > cutoff) & (table["timestamp"] <= as_of)].compute()
        train_rows = int(train.map_partitions(len).sum().compute())
        check_sizes(train_rows, len(test), as_of, params.split.test_days)
        io.write_parquet_dataset(train, paths.TRAIN)
        io.write_parquet(test.reset_index(drop=True), paths.TEST)
    log.info("split (dask): %d train rows, %d test rows", train_rows, len(test))
