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
