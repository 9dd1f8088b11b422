"""The log's files for a range of request days, back as one table (for `bikecast monitor`).

Only the partitions of those days are listed. A file that cannot be decoded is skipped with a
warning and named in the result, so one bad file does not hide a week; lines repeated by a
retried write (identical, request id included) are dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from bikecast.prediction_log.destinations import Destination
from bikecast.prediction_log.records import FIELDS, decode

log = logging.getLogger(__name__)


@dataclass
class LogWindow:
    frame: pd.DataFrame
    files: int = 0
    unreadable: list[str] = field(default_factory=list)
    duplicates: int = 0


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def read_window(dest: Destination, start: date, end: date) -> LogWindow:
    """Every logged forecast requested on the UTC days start..end (both included)."""
    rows: list[dict] = []
    result = LogWindow(pd.DataFrame())
    for day in days(start, end):
        for key in dest.list_keys(f"date={day.isoformat()}/"):
            if not key.endswith(".jsonl.gz"):
                continue
            try:
                lines = decode(dest.get(key))
            except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
                log.warning("monitor: skipping %s/%s: %s", dest.url, key, exc)
                result.unreadable.append(key)
                continue
            result.files += 1
            rows += lines
    frame = pd.DataFrame(rows, columns=list(FIELDS))
    frame["outside_training_range"] = frame["outside_training_range"].map(
        lambda v: tuple(v) if isinstance(v, list) else ()
    )
    before = len(frame)
    frame = frame.drop_duplicates(ignore_index=True)
    result.duplicates = before - len(frame)
    frame["forecast_hour"] = pd.to_datetime(frame["forecast_hour"], utc=True)
    frame["request_time"] = pd.to_datetime(frame["request_time"], utc=True)
    frame["prediction"] = frame["prediction"].astype("float64")
    result.frame = frame
    return result
