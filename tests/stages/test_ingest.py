import gzip
import logging

import pandas as pd
import pytest

from bikecast.config import IngestParams, Params
from bikecast.data.schema import DataError, read_canonical
from bikecast.data.sources import replay as source
from bikecast.data.sources.uci import to_csv_text
from bikecast.stages import ingest


def write_csv(tmp_path, frame, name="data.csv.gz"):
    path = tmp_path / name
    text = to_csv_text(frame).encode()
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    return path


def replay(path, as_of):
    return source.replay(IngestParams(path=str(path), as_of=as_of))


def test_replay_reveals_rows_up_to_as_of_inclusive(tmp_path, canonical):
    path = write_csv(tmp_path, canonical)
    as_of = canonical["timestamp"].iloc[23]
    rows = replay(path, as_of.isoformat())
    assert len(rows) == 24
    assert rows["timestamp"].iloc[-1] == as_of.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_as_of_with_local_offset_means_the_same_instant(tmp_path, canonical):
    path = write_csv(tmp_path, canonical)
    utc = canonical["timestamp"].iloc[10]
    local = utc.tz_convert("America/New_York").isoformat()
    assert len(replay(path, local)) == len(replay(path, utc.isoformat())) == 11


def test_replay_reads_plain_csv_and_parquet(tmp_path, canonical):
    plain = write_csv(tmp_path, canonical, "data.csv")
    pq = tmp_path / "data.parquet"
    canonical.to_parquet(pq)
    as_of = "2030-01-01T00:00Z"
    assert len(replay(plain, as_of)) == len(replay(pq, as_of)) == len(canonical)


def test_as_of_before_first_row(tmp_path, canonical):
    path = write_csv(tmp_path, canonical)
    with pytest.raises(DataError, match="before the first row"):
        replay(path, "2001-01-01T00:00Z")


def test_unparseable_timestamps_reach_validate(tmp_path, canonical):
    path = write_csv(tmp_path, canonical)
    text = path.read_bytes()
    frame = read_canonical(path)
    frame.loc[3, "timestamp"] = "garbage"
    rows = source.reveal(frame, pd.Timestamp("2030-01-01T00:00Z"), str(path))
    assert "garbage" in rows["timestamp"].tolist()
    assert path.read_bytes() == text


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["humidity_pct"]), r"missing columns \['humidity_pct'\]"),
        (lambda f: f.assign(station="A"), r"unexpected columns \['station'\]"),
        (lambda f: f.iloc[:0], "header but no rows"),
    ],
)
def test_bad_files_fail_with_the_file_named(tmp_path, canonical, mutate, message):
    path = write_csv(tmp_path, mutate(canonical))
    with pytest.raises(DataError, match=message) as err:
        replay(path, "2030-01-01T00:00Z")
    assert str(path) in str(err.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="file is empty"):
        replay(path, "2030-01-01T00:00Z")


def test_truncated_gzip(tmp_path, canonical):
    path = write_csv(tmp_path, canonical)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated or corrupt"):
        replay(path, "2030-01-01T00:00Z")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        replay(tmp_path / "nope.csv", "2030-01-01T00:00Z")


def test_unknown_source_is_a_config_error():
    with pytest.raises(Exception, match="replay"):
        Params.model_validate({"ingest": {"source": "kaggle", "as_of": "2011-12-31T23:00Z"}})


def test_stage_writes_raw_atomically(tmp_path, monkeypatch, canonical):
    from bikecast import paths

    src = write_csv(tmp_path, canonical)
    monkeypatch.chdir(tmp_path)
    params = Params.model_validate({"ingest": {"path": str(src), "as_of": "2030-01-01T00:00Z"}})
    ingest.run(params)
    before = paths.RAW.read_bytes()
    bad = Params.model_validate({"ingest": {"path": str(src), "as_of": "2001-01-01T00:00Z"}})
    with pytest.raises(DataError):
        ingest.run(bad)
    assert paths.RAW.read_bytes() == before
    assert list(paths.RAW.parent.iterdir()) == [paths.RAW]  # no temp files left behind


def test_stage_warns_when_the_rows_end_well_before_as_of(tmp_path, monkeypatch, canonical, caplog):
    src = write_csv(tmp_path, canonical)  # 72 hours to 2011-06-04T03:00Z
    monkeypatch.chdir(tmp_path)
    short = Params.model_validate({"ingest": {"path": str(src), "as_of": "2011-06-06T03:00Z"}})
    with caplog.at_level(logging.WARNING, logger="bikecast.data.sources"):
        ingest.run(short)
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == (
        "replay: the rows end at 2011-06-04T03:00Z, 48 h (2.0 days) before ingest.as_of "
        f"2011-06-06T03:00Z; {src} has no later rows. Later stages see nothing after that "
        "(a test window there has no rows)"
    )
    caplog.clear()
    close = Params.model_validate({"ingest": {"path": str(src), "as_of": "2011-06-05T03:00Z"}})
    with caplog.at_level(logging.WARNING, logger="bikecast.data.sources"):
        ingest.run(close)  # 24 h short: within a day, no warning
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []
