"""Where the heavy stages run: in this process (`compute.engine: local`) or on Dask.

With `dask`, `compute.scheduler` (or env BIKECAST_DASK_SCHEDULER) names a running cluster:
any Dask scheduler address, e.g. one started by dask-kubernetes. Without one, a LocalCluster
of `compute.n_workers` processes starts on this machine for the stage and stops after it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bikecast.config import ComputeParams
from bikecast.errors import BikecastError

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

log = logging.getLogger(__name__)
ENV_SCHEDULER = "BIKECAST_DASK_SCHEDULER"


class ComputeError(BikecastError, RuntimeError):
    """The Dask cluster cannot be reached or started."""


def scheduler_address(params: ComputeParams) -> str | None:
    return os.environ.get(ENV_SCHEDULER) or params.scheduler


@contextmanager
def dask_client(params: ComputeParams) -> Iterator[Client]:
    """A Dask client for one stage: connected to `scheduler`, else to a LocalCluster.

    A worker that runs out of memory ends the stage with a ComputeError saying how to size
    the workers, instead of Dask's traceback.
    """
    try:
        with _client(params) as client:
            yield client
    except _out_of_memory_errors() as exc:
        raise ComputeError(
            f"a Dask worker ran out of memory ({type(exc).__name__}: {exc}). Training holds each "
            "worker's rows in memory (it does not spill): give the workers more "
            "(compute.memory_limit) or add workers; each needs ~0.4 GiB + ~265 bytes per row "
            'it holds (README "Running on Dask"). The previous outputs are kept.'
        ) from exc


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    from distributed import KilledWorker

    return (KilledWorker, MemoryError)


@contextmanager
def _client(params: ComputeParams) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    # the stage's own log says what matters; Dask's per-connection INFO lines drown it
    dask.config.set({"logging.distributed": "warning"})
    logging.getLogger("distributed").setLevel(logging.WARNING)

    address = scheduler_address(params)
    if address:
        try:
            client = Client(address, timeout=params.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ComputeError(
                f"compute.scheduler {address}: cannot connect to a Dask scheduler there "
                f"within {params.connect_timeout_s:g} s ({exc}); start one (`dask scheduler`) "
                "or set compute.scheduler: null for a LocalCluster on this machine"
            ) from exc
        with client:
            log.info("dask: %s, %d workers", address, len(client.scheduler_info()["workers"]))
            yield client
        return
    with (
        tempfile.TemporaryDirectory(prefix="bikecast-dask-") as scratch,
        LocalCluster(
            n_workers=params.n_workers,
            threads_per_worker=params.threads_per_worker,
            memory_limit=params.memory_limit,
            processes=True,
            dashboard_address=None,
            local_directory=scratch,
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info(
            "dask: LocalCluster of %d workers x %d threads, %s each",
            params.n_workers,
            params.threads_per_worker,
            params.memory_limit,
        )
        yield client


def _read_piece(piece: tuple[str, int, int, int], columns: list[str] | None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path, group, start, stop = piece
    table = pq.ParquetFile(path).read_row_group(group, columns=columns)
    return table.slice(start, stop - start).to_pandas()


def read_parquet(
    path: Path, params: ComputeParams, columns: list[str] | None = None
) -> dd.DataFrame:
    """A parquet file or dataset as a Dask frame: one independent read task per slice of at
    most `partition_rows` rows (and at least one per worker), so the rows are spread over the
    workers from the start and no task ever holds more than one row group.

    (Smaller slices do not spread the rows more evenly: the scheduler hands the next read to
    whichever worker is free, and measured at 5M rows on 2 workers, four slices per worker left
    1.26M and 3.78M rows where one slice per row group left 3.0M and 2.0M.)

    (`dd.read_parquet` would fuse the partitions of a column subset into fewer, larger ones,
    which can leave a small dataset on a single worker.)
    """
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    groups = [
        (str(file), g, meta.row_group(g).num_rows)
        for file in files
        for meta in [pq.ParquetFile(file).metadata]
        for g in range(meta.num_row_groups)
    ]
    total = sum(rows for *_, rows in groups)
    size = max(1, min(params.partition_rows, -(-total // params.n_workers)))
    pieces = [
        (file, g, start, min(start + size, rows))
        for file, g, rows in groups
        for start in range(0, rows, size)
    ]
    meta = _read_piece((str(files[0]), 0, 0, 0), columns)
    return dd.from_map(
        partial(_read_piece, columns=columns), pieces, meta=meta, enforce_metadata=False
    )
