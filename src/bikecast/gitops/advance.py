"""`bikecast advance`: move the data window (`ingest.as_of`) forward in params.yaml.

Pulling new data is a reviewable one-line change of params.yaml. The scheduled retrain
calls this first; when the source has nothing new it changes nothing and the command exits
with EXIT_NO (bikecast.errors) so the workflow can stop without opening a pull request.

- replay: as_of moves by `ingest.step`, never past the last timestamp of the file.
- capital_bikeshare: as_of moves to the last complete hour both services can deliver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bikecast import io
from bikecast.config import ConfigError, Params, load_params
from bikecast.data.schema import TIMEZONE, DataError, parse_timestamps, read_canonical


@dataclass(frozen=True)
class Advance:
    source: str
    start: pd.Timestamp | None  # first hour of the window, when known cheaply
    old: pd.Timestamp
    new: pd.Timestamp

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
        return "\n".join(lines)


def format_as_of(ts: pd.Timestamp) -> str:
    """Washington DC local time with its offset, like the value people write by hand."""
    return ts.tz_convert(TIMEZONE).isoformat()


def next_as_of(params: Params, now: pd.Timestamp | None = None) -> Advance:
    """Where the window could move to now; `new == old` when there is nothing new."""
    ingest = params.ingest
    old = ingest.as_of_utc
    if ingest.source == "replay":
        stamps = parse_timestamps(read_canonical(ingest.path)["timestamp"]).dropna()
        if stamps.empty:
            raise DataError(f"{ingest.path}: no row has a parseable timestamp")
        target = min(old + pd.Timedelta(ingest.step), stamps.max())
        start = stamps.min()
    else:
        from bikecast.data.sources import capital_bikeshare

        available = capital_bikeshare.available_until(ingest, now=now)
        target = available if available is not None else old
        start = capital_bikeshare.first_hour(pd.Period(ingest.capital_bikeshare.start, "M"))
    return Advance(ingest.source, start, old, max(old, target))


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
