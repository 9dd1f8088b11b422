import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bikecast.compute import ENV_SCHEDULER, read_parquet, scheduler_address
from bikecast.config import ComputeParams


def write_dataset(directory, files: int, rows: int, row_group: int) -> pd.DataFrame:
    directory.mkdir()
    parts = []
    for i in range(files):
        part = pd.DataFrame({"i": np.arange(i * rows, (i + 1) * rows), "x": np.float32(i)})
        pq.write_table(pa.Table.from_pandas(part), directory / f"part.{i}.parquet", row_group)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_read_parquet_spreads_a_dataset_in_slices_of_one_row_group(tmp_path):
    whole = write_dataset(tmp_path / "train", files=2, rows=5_000, row_group=2_000)
    params = ComputeParams(engine="dask", n_workers=2, partition_rows=1_000)
    frame = read_parquet(tmp_path / "train", params, columns=["i"])
    with dask.config.set(scheduler="synchronous"):
        parts = [part.compute() for part in frame.to_delayed()]
    assert all(0 < len(part) <= 1_000 for part in parts)
    # slices never cross a row group: each covers one run of 2,000 (or the last 1,000) rows
    assert all(part["i"].iloc[0] // 2_000 == part["i"].iloc[-1] // 2_000 for part in parts)
    got = pd.concat(parts, ignore_index=True)
    assert list(got.columns) == ["i"]
    pd.testing.assert_series_equal(got["i"], whole["i"])

    # one row group smaller than partition_rows: still cut into a slice for each worker
    one = write_dataset(tmp_path / "one", files=1, rows=9_000, row_group=9_000)
    small = read_parquet(tmp_path / "one", ComputeParams(n_workers=3, partition_rows=10_000))
    assert small.npartitions == 3
    with dask.config.set(scheduler="synchronous"):
        pd.testing.assert_frame_equal(small.compute().reset_index(drop=True), one)


def test_the_scheduler_address_comes_from_the_environment_first(monkeypatch):
    params = ComputeParams(engine="dask", scheduler="tcp://params:8786")
    monkeypatch.delenv(ENV_SCHEDULER, raising=False)
    assert scheduler_address(params) == "tcp://params:8786"
    monkeypatch.setenv(ENV_SCHEDULER, "tcp://env:8786")
    assert scheduler_address(params) == "tcp://env:8786"
    assert scheduler_address(ComputeParams()) == "tcp://env:8786"


def fill_memory(size: int) -> int:
    return len(b"\x01" * size)  # written, so it counts in the worker's RSS


def test_a_worker_killed_over_its_memory_limit_is_a_compute_error_with_sizing_advice():
    """A real LocalCluster worker limited to 512 MiB asked to hold 1.5 GB: its nanny kills it."""
    from bikecast.compute import ComputeError, dask_client

    params = ComputeParams(engine="dask", n_workers=1, memory_limit="512MiB")
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        pytest.raises(ComputeError, match=r"ran out of memory.*compute\.memory_limit") as err,
        dask_client(params) as client,
    ):
        assert client.submit(fill_memory, 10).result() == 10
        client.submit(fill_memory, 1_500_000_000).result()
    assert "KilledWorker" in str(err.value)


def test_a_task_too_big_for_a_worker_is_a_compute_error():
    from bikecast.compute import ComputeError, dask_client

    with (
        pytest.raises(ComputeError, match=r"MemoryError: Task 'fn-1' has 839\.34 MiB"),
        dask_client(ComputeParams(engine="dask", n_workers=1)),
    ):
        raise MemoryError("Task 'fn-1' has 839.34 MiB worth of input dependencies")
