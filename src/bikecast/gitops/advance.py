"""`bikecast advance`: move the data window (`ingest.as_of`) forward in params.yaml.

Pulling new data is a reviewable one-line change of params.yaml. The scheduled retrain
calls this first; when the source has nothing new it changes nothing and the command exits
with EXIT_NO (bikecast.errors) so the workflow can stop without opening a pull request.

Both sources answer "what is there as of the run's time `now`", never "main's as_of plus a
step": a retrain whose gate fails is not merged, so main's as_of stays where it was, and a
rule counted from it would rebuild the same window (the same model, the same failure) at
every scheduled run. Asked by time, the next run moves on to newer data, as a live feed
does, and its window still holds the failed one's hours.

- capital_bikeshare: the last complete hour both services can deliver at `now`.
- replay: a simulated clock that reveals the file at real speed. At the real time
  `ingest.replay_started` its data time was `ingest.replay_from`; at `now` it has reached
  the step boundary `replay_from + k * ingest.step`, k = whole steps elapsed since
  `replay_started`. as_of moves to that boundary, never past the file's last hour.

Either way as_of never moves back (a window edited ahead of the clock waits for it), and
two runs in the same step reach the same window (a rerun updates the same PR). The clock
lives in params.yaml, not in git: no branch or PR has to survive for the next run to know
where the replay is, and `now` is the only input besides main's params.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bikecast import io
from bikecast.config import ConfigError, IngestParams, Params, load_params, parse_timestamp
from bikecast.data.schema import TIMEZONE, DataError, parse_timestamps, read_canonical


@dataclass(frozen=True)
class Advance:
    source: str
    start: pd.Timestamp | None  # first hour of the window, when known cheaply
    old: pd.Timestamp
    new: pd.Timestamp
    clock: str = ""  # where the replay's clock stands at the run's time

    @property
    def changed(self) -> bool:
        return self.new > self.old

    def describe(self) -> str:
        first = format_as_of(self.start) if self.start is not None else "start"
        lines = [f"old window: {first} .. {format_as_of(self.old)}"]
        if self.changed:
            hours = (self.new - self.old) / pd.Timedelta(hours=1)
            lines.append(f"new window: {first} .. {format_as_of(self.new)} (+{hours:g} h)")
        else:
            lines.append(f"nothing new from {self.source}: ingest.as_of unchanged")
        if self.clock:
            lines.append(self.clock)
        return "\n".join(lines)


def format_as_of(ts: pd.Timestamp) -> str:
    """Washington DC local time with its offset, like the value people write by hand."""
    return ts.tz_convert(TIMEZONE).isoformat()


def replay_clock(ingest: IngestParams, now: pd.Timestamp) -> pd.Timestamp:
    """The last step boundary the replay's clock has reached at `now` (may be before
    replay_from when `now` is before replay_started)."""
    step = pd.Timedelta(ingest.step)
    elapsed = now.tz_convert("UTC") - ingest.replay_started_utc
    return ingest.replay_from_utc + (elapsed // step) * step


def parse_now(value: str | None) -> pd.Timestamp | None:
    """`--now` / BIKECAST_NOW: an ISO-8601 time with an offset; None: the clock."""
    if value is None or not value.strip():
        return None
    try:
        return parse_timestamp(value, "--now")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def next_as_of(params: Params, now: pd.Timestamp | None = None) -> Advance:
    """Where the window can move to at `now` (default: the clock); `new == old` when there
    is nothing new."""
    ingest = params.ingest
    old = ingest.as_of_utc
    if ingest.source == "replay":
        stamps = parse_timestamps(read_canonical(ingest.path)["timestamp"]).dropna()
        if stamps.empty:
            raise DataError(f"{ingest.path}: no row has a parseable timestamp")
        at = pd.Timestamp.now(tz="UTC") if now is None else now
        reached = replay_clock(ingest, at)
        when = f"{at.tz_convert('UTC'):%Y-%m-%dT%H:%MZ}"
        clock = f"replay clock: at {when} it has reached {format_as_of(reached)}"
        target = min(reached, stamps.max())
        start = stamps.min()
    else:
        from bikecast.data.sources import capital_bikeshare

        available = capital_bikeshare.available_until(ingest, now=now)
        target = available if available is not None else old
        start = capital_bikeshare.first_hour(pd.Period(ingest.capital_bikeshare.start, "M"))
        clock = ""
    return Advance(ingest.source, start, old, max(old, target), clock)


AS_OF_LINE = re.compile(
    r"^(?P<indent>[ \t]+)as_of:(?P<space>[ \t]*)(?P<quote>[\"']?)(?P<value>[^\"'#\s]*)"
    r"(?P=quote)(?P<rest>[ \t]*(?:#.*)?)$"
)


def set_as_of(text: str, value: str) -> str:
    """params.yaml text with `ingest.as_of` replaced; every other byte kept as it was."""
    lines = text.splitlines(keepends=True)
    in_ingest = False
    child_indent = None
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if body and not body[0].isspace() and not body.startswith("#"):
            in_ingest = body.split("#", 1)[0].strip() == "ingest:"
            child_indent = None
            continue
        if not in_ingest or not body.strip() or body.lstrip().startswith("#"):
            continue
        indent = body[: len(body) - len(body.lstrip())]
        if child_indent is None:
            child_indent = indent
        if indent != child_indent:
            continue  # a nested section's key, not ingest's own
        match = AS_OF_LINE.match(body)
        if match:
            quote = match["quote"] or '"'
            newline = line[len(body) :]
            lines[i] = (
                f"{match['indent']}as_of:{match['space'] or ' '}{quote}{value}{quote}"
                f"{match['rest']}{newline}"
            )
            return "".join(lines)
    raise ConfigError("params.yaml: no `as_of:` line under `ingest:` to update")


def write_as_of(path: Path, new: pd.Timestamp) -> None:
    """Rewrite only the as_of line, check nothing else changed, replace the file atomically."""
    import yaml

    text = path.read_text()
    value = format_as_of(new)
    updated = set_as_of(text, value)
    before, after = yaml.safe_load(text), yaml.safe_load(updated)
    before["ingest"]["as_of"] = value
    if before != after:
        raise ConfigError(f"{path}: editing ingest.as_of would change other keys; not written")
    Params.model_validate(after)
    io.write_text(updated, path)


def run(path: str | Path, now: pd.Timestamp | None = None) -> Advance:
    path = Path(path)
    result = next_as_of(load_params(path), now=now)
    if result.changed:
        write_as_of(path, result.new)
    return result
