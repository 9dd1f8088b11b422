"""`bikecast advance`: moves ingest.as_of in params.yaml, keeping every other byte."""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd
import pytest
from tests.fixtures.capital_bikeshare import cbfake
from typer.testing import CliRunner

from bikecast.cli import app
from bikecast.config import ConfigError, load_params
from bikecast.errors import EXIT_NO
from bikecast.gitops import advance

ROOT = Path(__file__).resolve().parents[2]


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def invoke(params: Path):
    return CliRunner().invoke(app, ["advance", "--params", str(params)])


# --------------------------------------------------------------------------- editing


def test_only_the_as_of_line_changes_in_the_real_params_file():
    text = (ROOT / "params.yaml").read_text()
    updated = advance.set_as_of(text, "2012-01-07T23:00:00-05:00")
    old_value = load_params(ROOT / "params.yaml").ingest.as_of
    assert changed_lines(text, updated) == [
        f'-  as_of: "{old_value}"',
        '+  as_of: "2012-01-07T23:00:00-05:00"',
    ]


def test_nested_keys_comments_and_quotes_are_respected():
    text = (
        "# top comment\n"
        "serve:\n"
        "  as_of: keep-me\n"
        "ingest:\n"
        "  # the window\n"
        "  nested:\n"
        "    as_of: keep-me-too\n"
        "  as_of: '2011-01-01T00:00:00Z'   # moved by bikecast advance\r\n"
        "  step: 7D\n"
    )
    updated = advance.set_as_of(text, "2011-01-08T00:00:00Z")
    assert changed_lines(text, updated) == [
        "-  as_of: '2011-01-01T00:00:00Z'   # moved by bikecast advance",
        "+  as_of: '2011-01-08T00:00:00Z'   # moved by bikecast advance",
    ]
    assert "advance\r\n  step: 7D\n" in updated  # the line ending is kept too
    unquoted = advance.set_as_of("ingest:\n  as_of: 2011-01-01T00:00:00Z\n", "2011-01-02T00:00:00Z")
    assert unquoted == 'ingest:\n  as_of: "2011-01-02T00:00:00Z"\n'
    with pytest.raises(ConfigError, match="no `as_of:` line under `ingest:`"):
        advance.set_as_of("ingest:\n  nested:\n    as_of: x\nserve: {}\n", "y")


# --------------------------------------------------------------------------- replay


@pytest.fixture
def replay_repo(tmp_path: Path) -> Path:
    """params.yaml (the real one, as_of moved back) + a 17-day canonical file."""
    hours = pd.date_range("2011-01-01T05:00Z", periods=17 * 24, freq="h")
    pd.DataFrame(
        {
            "timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rentals": 3,
            "casual": 1,
            "registered": 2,
            "temp_c": 5.0,
            "feels_like_c": 3.0,
            "humidity_pct": 60.0,
            "wind_kmh": 10.0,
            "weather": "clear",
        }
    ).to_csv(tmp_path / "hours.csv", index=False)
    text = (ROOT / "params.yaml").read_text()
    text = advance.set_as_of(text, "2011-01-05T00:00:00-05:00")
    text = text.replace(
        "path: data/seed/bikeshare_dc_2011.csv.gz", f"path: {tmp_path / 'hours.csv'}"
    )
    (tmp_path / "params.yaml").write_text(text)
    return tmp_path


def test_replay_advances_by_step_up_to_the_end_of_the_file_then_stops(replay_repo):
    params = replay_repo / "params.yaml"
    original = params.read_text()

    first = invoke(params)
    assert first.exit_code == 0, first.output
    assert "old window: 2011-01-01T00:00:00-05:00 .. 2011-01-05T00:00:00-05:00" in first.output
    assert "new window: 2011-01-01T00:00:00-05:00 .. 2011-01-12T00:00:00-05:00 (+168 h)" in (
        first.output
    )
    assert changed_lines(original, params.read_text()) == [
        '-  as_of: "2011-01-05T00:00:00-05:00"',
        '+  as_of: "2011-01-12T00:00:00-05:00"',
    ]

    second = invoke(params)  # 7 days would pass the file's last hour: stop there
    assert second.exit_code == 0, second.output
    assert load_params(params).ingest.as_of == "2011-01-17T23:00:00-05:00"

    settled = params.read_bytes()
    third = invoke(params)
    assert third.exit_code == EXIT_NO == 3
    assert "nothing new from replay: ingest.as_of unchanged" in third.output
    assert params.read_bytes() == settled


def test_bad_params_fail_with_status_1_and_touch_nothing(replay_repo):
    params = replay_repo / "params.yaml"
    params.write_text(params.read_text().replace("step: 7D", "step: soon"))
    before = params.read_bytes()
    result = invoke(params)
    assert result.exit_code == 1
    assert "ingest.step" in result.output
    assert params.read_bytes() == before


# --------------------------------------------------------------------------- live


def live_params(tmp_path: Path, services, as_of: str) -> Path:
    text = (ROOT / "params.yaml").read_text().replace("source: replay", "source: capital_bikeshare")
    text = advance.set_as_of(text, as_of)
    for key, value in {
        "trips_url": services.trips_url,
        "weather_url": services.weather_url,
        "cache_dir": str(tmp_path / "cache"),
        "start": '"2024-03"',
        "backoff_s": "0",
    }.items():
        lines = [line for line in text.splitlines() if line.strip().startswith(f"{key}:")]
        assert len(lines) == 1, key
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        text = text.replace(lines[0], f"{indent}{key}: {value}")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_live_advances_to_the_last_hour_both_services_deliver(tmp_path):
    with cbfake.FakeServices(files=cbfake.committed_zips()) as services:
        params = live_params(tmp_path, services, "2024-03-31T23:00:00-04:00")
        before = params.read_text()
        result = invoke(params)
        assert result.exit_code == 0, result.output
        assert "old window: 2024-03-01T00:00:00-05:00 .. 2024-03-31T23:00:00-04:00" in result.output
        assert "new window: 2024-03-01T00:00:00-05:00 .. 2024-04-30T23:00:00-04:00" in result.output
        assert changed_lines(before, params.read_text()) == [
            '-  as_of: "2024-03-31T23:00:00-04:00"',
            '+  as_of: "2024-04-30T23:00:00-04:00"',
        ]
        # May is not published: nothing new, nothing changed, nothing downloaded twice
        settled = params.read_bytes()
        again = invoke(params)
        assert again.exit_code == 3, again.output
        assert params.read_bytes() == settled
        trips = [r for r in services.requests if r.startswith("/trips/")]
        assert trips.count("/trips/202404-capitalbikeshare-tripdata.zip") == 1
        assert trips.count("/trips/202405-capitalbikeshare-tripdata.zip") == 2


def test_live_advance_stops_where_the_weather_archive_ends(tmp_path):
    with cbfake.FakeServices(files=cbfake.committed_zips(), weather_until="2024-04-20T12:00") as s:
        params = live_params(tmp_path, s, "2024-03-31T23:00:00-04:00")
        assert invoke(params).exit_code == 0
        assert load_params(params).ingest.as_of == "2024-04-20T08:00:00-04:00"  # 12:00 GMT


def test_live_advance_with_nothing_published_changes_nothing(tmp_path):
    with cbfake.FakeServices(files={}) as services:
        params = live_params(tmp_path, services, "2024-03-31T23:00:00-04:00")
        before = params.read_bytes()
        result = invoke(params)
        assert result.exit_code == 3, result.output
        assert "nothing new from capital_bikeshare" in result.output
        assert params.read_bytes() == before
