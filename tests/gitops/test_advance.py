"""`bikecast advance`: moves ingest.as_of in params.yaml, keeping every other byte."""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd
import pytest
from tests.fixtures.capital_bikeshare import cbfake
from typer.testing import CliRunner

from bikecast.cli import app
from bikecast.config import ConfigError, IngestParams, load_params
from bikecast.errors import EXIT_NO
from bikecast.gitops import advance

ROOT = Path(__file__).resolve().parents[2]


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def invoke(params: Path, now: str | None = None):
    args = ["advance", "--params", str(params)] + ([] if now is None else ["--now", now])
    return CliRunner().invoke(app, args)


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

STARTED = pd.Timestamp("2030-01-07T06:00:00Z")  # the replay's clock read FROM at this time
FROM = "2011-01-05T00:00:00-05:00"
RUN = pd.Timedelta("17min")  # a scheduled run starts a little after its hour


def week(k: float) -> str:
    """The time of the scheduled run k weeks after the replay started."""
    return (STARTED + k * pd.Timedelta("7D") + RUN).isoformat()


def set_key(text: str, key: str, value: str) -> str:
    """params.yaml text with the one `  key: ...` line under ingest replaced."""
    lines = [line for line in text.splitlines() if line.startswith(f"  {key}:")]
    assert len(lines) == 1, key
    return text.replace(lines[0], f'  {key}: "{value}"')


@pytest.fixture
def replay_repo(tmp_path: Path) -> Path:
    """params.yaml (the real one, the replay restarted at FROM) + a 24-day canonical file
    (2011-01-01T00:00 .. 2011-01-24T23:00 Washington time)."""
    hours = pd.date_range("2011-01-01T05:00Z", periods=24 * 24, freq="h")
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
    text = advance.set_as_of(text, FROM)
    text = set_key(text, "replay_from", FROM)
    text = set_key(text, "replay_started", STARTED.isoformat())
    text = text.replace(
        "path: data/seed/bikeshare_dc_2011.csv.gz", f"path: {tmp_path / 'hours.csv'}"
    )
    (tmp_path / "params.yaml").write_text(text)
    return tmp_path


def clock_params(step: str = "7D") -> IngestParams:
    return IngestParams(as_of=FROM, step=step, replay_started=STARTED.isoformat(), replay_from=FROM)


@pytest.mark.parametrize(
    ("step", "since_started", "reached"),
    [
        ("7D", "0s", FROM),
        ("7D", "6D23h59min", FROM),  # a step of data per step of real time, whole steps
        ("7D", "7D", "2011-01-12T00:00:00-05:00"),
        ("7D", "20D", "2011-01-19T00:00:00-05:00"),
        ("7D", "-1s", "2010-12-29T00:00:00-05:00"),  # before it started: behind FROM
        ("24h", "3D5h", "2011-01-08T00:00:00-05:00"),
    ],
)
def test_replay_clock_reaches_the_last_whole_step_since_it_started(step, since_started, reached):
    now = STARTED + pd.Timedelta(since_started)
    assert advance.replay_clock(clock_params(step), now) == pd.Timestamp(reached)
    # the same instant written in another offset is the same run time
    assert advance.replay_clock(clock_params(step), now.tz_convert("Asia/Tokyo")) == (
        pd.Timestamp(reached)
    )


def test_replay_advances_with_its_clock_up_to_the_end_of_the_file_then_stops(replay_repo):
    params = replay_repo / "params.yaml"
    original = params.read_text()

    first = invoke(params, now=week(1))
    assert first.exit_code == 0, first.output
    assert "old window: 2011-01-01T00:00:00-05:00 .. 2011-01-05T00:00:00-05:00" in first.output
    assert "new window: 2011-01-01T00:00:00-05:00 .. 2011-01-12T00:00:00-05:00 (+168 h)" in (
        first.output
    )
    assert "replay clock: at 2030-01-14T06:17Z it has reached 2011-01-12T00:00:00-05:00" in (
        first.output
    )
    assert changed_lines(original, params.read_text()) == [
        f'-  as_of: "{FROM}"',
        '+  as_of: "2011-01-12T00:00:00-05:00"',
    ]

    assert invoke(params, now=week(2)).exit_code == 0
    assert load_params(params).ingest.as_of == "2011-01-19T00:00:00-05:00"
    third = invoke(params, now=week(3))  # the clock passed the file's last hour: stop there
    assert third.exit_code == 0, third.output
    assert load_params(params).ingest.as_of == "2011-01-24T23:00:00-05:00"

    settled = params.read_bytes()
    fourth = invoke(params, now=week(4))
    assert fourth.exit_code == EXIT_NO == 3
    assert "nothing new from replay: ingest.as_of unchanged" in fourth.output
    assert params.read_bytes() == settled


def test_after_a_failed_gate_the_next_run_moves_on_to_a_newer_window(replay_repo):
    """The failed retrain's as_of lives on its unmerged branch only; main keeps the old one.
    The next scheduled run, from main, must not rebuild the same window."""
    main = replay_repo / "params.yaml"
    branch = replay_repo / "branch-params.yaml"
    branch.write_bytes(main.read_bytes())  # the retrain's checkout of main
    assert invoke(branch, now=week(1)).exit_code == 0
    failed = load_params(branch).ingest.as_of
    assert failed == "2011-01-12T00:00:00-05:00"  # gate fails: the PR is never merged

    before = main.read_text()
    result = invoke(main, now=week(2))  # next week's run starts again from main
    assert result.exit_code == 0, result.output
    assert "(+336 h)" in result.output
    assert load_params(main).ingest.as_of == "2011-01-19T00:00:00-05:00"
    assert load_params(main).ingest.as_of_utc > pd.Timestamp(failed)
    assert changed_lines(before, main.read_text()) == [
        f'-  as_of: "{FROM}"',
        '+  as_of: "2011-01-19T00:00:00-05:00"',
    ]


def test_two_runs_within_one_step_reach_the_same_window(replay_repo):
    """A rerun (or a manual dispatch) in the same week rebuilds the same window, so it
    updates the same retrain/<date> branch instead of opening another."""
    main = replay_repo / "params.yaml"
    again = replay_repo / "rerun-params.yaml"
    again.write_bytes(main.read_bytes())
    assert invoke(main, now=week(1)).exit_code == 0
    assert invoke(again, now=week(1.9)).exit_code == 0
    assert main.read_bytes() == again.read_bytes()


@pytest.mark.parametrize(
    ("now", "reached"),
    [
        (week(0), FROM),  # the week the replay started: nothing revealed yet
        (week(0.99), FROM),
        (week(-1), "2010-12-29T00:00:00-05:00"),  # a clock set to start in the future
    ],
)
def test_nothing_new_at_the_runs_time_exits_3_and_touches_nothing(replay_repo, now, reached):
    params = replay_repo / "params.yaml"
    before = params.read_bytes()
    result = invoke(params, now=now)
    assert result.exit_code == EXIT_NO, result.output
    assert "nothing new from replay: ingest.as_of unchanged" in result.output
    assert f"it has reached {reached}" in result.output
    assert params.read_bytes() == before


def test_a_window_ahead_of_the_clock_never_moves_back(replay_repo):
    params = replay_repo / "params.yaml"
    params.write_text(advance.set_as_of(params.read_text(), "2011-01-15T00:00:00-05:00"))
    before = params.read_bytes()
    assert invoke(params, now=week(1)).exit_code == EXIT_NO  # the clock reads 2011-01-12
    assert params.read_bytes() == before
    assert invoke(params, now=week(2)).exit_code == 0
    assert load_params(params).ingest.as_of == "2011-01-19T00:00:00-05:00"


def test_the_runs_time_comes_from_bikecast_now_too(replay_repo, monkeypatch):
    params = replay_repo / "params.yaml"
    monkeypatch.setenv("BIKECAST_NOW", week(2))
    result = CliRunner().invoke(app, ["advance", "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert load_params(params).ingest.as_of == "2011-01-19T00:00:00-05:00"


def test_without_a_time_the_clock_is_the_real_one(replay_repo):
    params = replay_repo / "params.yaml"
    started = pd.Timestamp.now(tz="UTC") - pd.Timedelta("7D1h")  # one whole step ago
    params.write_text(set_key(params.read_text(), "replay_started", started.isoformat()))
    assert invoke(params).exit_code == 0
    assert load_params(params).ingest.as_of == "2011-01-12T00:00:00-05:00"


@pytest.mark.parametrize(
    ("now", "message"),
    [("next monday", "not an ISO-8601 timestamp"), ("2030-01-14T06:17:00", "no UTC offset")],
)
def test_a_bad_run_time_fails_with_status_1_and_touches_nothing(replay_repo, now, message):
    params = replay_repo / "params.yaml"
    before = params.read_bytes()
    result = invoke(params, now=now)
    assert result.exit_code == 1
    assert "--now" in result.output and message in result.output
    assert params.read_bytes() == before


def test_a_bad_clock_in_params_fails_with_the_key_named(replay_repo):
    params = replay_repo / "params.yaml"
    params.write_text(set_key(params.read_text(), "replay_started", "2030-01-07T06:00:00"))
    before = params.read_bytes()
    result = invoke(params, now=week(1))
    assert result.exit_code == 1
    assert "ingest.replay_started" in result.output and "no UTC offset" in result.output
    assert params.read_bytes() == before


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
