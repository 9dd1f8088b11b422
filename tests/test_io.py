import pytest

from bikecast import io


def test_failed_write_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "out" / "model.ubj"
    io.write_text("old", target)

    def crash(path):
        path.write_text("half of the new con")
        raise KeyboardInterrupt  # as if the run were killed mid-write

    with pytest.raises(KeyboardInterrupt):
        io.write_with(target, crash)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["model.ubj"]


def test_temp_file_keeps_the_suffix(tmp_path):
    seen = []
    io.write_with(tmp_path / "m.ubj", lambda p: (seen.append(p.suffix), p.write_text("x")))
    assert seen == [".ubj"]


def test_json_rejects_nan(tmp_path):
    with pytest.raises(ValueError):
        io.write_json({"x": float("nan")}, tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_outputs_are_readable_by_others(tmp_path):
    target = io.write_text("x", tmp_path / "m.json")
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_dask_dataset_replaces_a_file_or_a_directory_and_a_failure_keeps_the_old(tmp_path):
    import dask
    import dask.dataframe as dd
    import pandas as pd

    frame = pd.DataFrame({"a": range(10)})
    target = tmp_path / "features.parquet"
    frame.to_parquet(target)  # a local run left a file
    with dask.config.set(scheduler="synchronous"):
        io.write_parquet_dataset(dd.from_pandas(frame, npartitions=3), target)
        assert target.is_dir() and len(list(target.glob("*.parquet"))) == 3
        io.write_parquet_dataset(dd.from_pandas(frame * 2, npartitions=2), target)
        assert pd.read_parquet(target)["a"].tolist() == [2 * i for i in range(10)]

        def boom(part):
            raise RuntimeError("worker lost")

        broken = dd.from_pandas(frame, npartitions=2).map_partitions(boom, meta=frame)
        with pytest.raises(RuntimeError, match="worker lost"):
            io.write_parquet_dataset(broken, target)
    assert pd.read_parquet(target)["a"].tolist() == [2 * i for i in range(10)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.parquet"]  # no leftovers
    io.write_parquet(frame, target)  # back to a local run: a file again
    assert target.is_file()
