"""One JSON line per forecast hour, and where its file goes.

A line holds what the request sent (the hour with the client's UTC offset, the weather
forecast, the station at station grain), the hour in UTC, the forecast, the model version,
the request's time and id, and which inputs lay outside the served fit's training ranges.
Those inputs are all the shared feature function takes, so `bikecast monitor` rebuilds the
exact features from a line. Nothing in it identifies a person: the API receives no user,
address or client IP field, and none is logged.

Files are gzipped JSON lines under `date=YYYY-MM-DD/model_version=V/` (the request's UTC
date), Hive-style, so a reader lists only the days it needs.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import count
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


FIELDS = (
    "request_id",
    "request_time",
    "model_version",
    "forecast_hour",
    "timestamp",
    "temp_c",
    "feels_like_c",
    "humidity_pct",
    "wind_kmh",
    "weather",
    "station_id",
    "prediction",
    "outside_training_range",
)


@dataclass(frozen=True)
class Chunk:
    """One request's forecasts as the API made them; the writer renders it at once."""

    request_time: float  # seconds since the epoch
    model_version: str
    records: Sequence[Any]  # the validated request records (serve.schemas.Record)
    predictions: np.ndarray
    input_ranges: Mapping[str, tuple[float, float]] | None = None
    # set when the request is queued, so a file written twice (a retry after a reply that
    # was lost) repeats identical lines, which the reader drops
    request_id: str = field(default_factory=lambda: os.urandom(16).hex())

    def __len__(self) -> int:
        return len(self.predictions)


def partition(request_time: float, model_version: str) -> str:
    return _partition(int(request_time // 86_400), model_version)


@lru_cache(maxsize=64)
def _partition(day: int, model_version: str) -> str:
    """Cached: every request of a day and model names the same partition."""
    date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    return f"date={date}/model_version={model_version}"


_sequence = count()


def file_key(part: str, now: float) -> str:
    """A name no other writer (another replica, a restart) picks: time, host, pid, sequence."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%H%M%S%f")
    host = socket.gethostname().replace("/", "_")[:40]
    return f"{part}/{stamp}-{host}-{os.getpid()}-{next(_sequence):06d}.jsonl.gz"


def _outside(record: Any, ranges: Mapping[str, tuple[float, float]]) -> str:
    names = [n for n, (low, high) in ranges.items() if not low <= getattr(record, n) <= high]
    return json.dumps(names) if names else "[]"


def render(chunk: Chunk) -> str:
    """The chunk's JSON lines, one per forecast hour, in request order, each ending in a
    newline. Written by hand from a template (~10 µs a line in the log's thread, timeit): the
    values are the validated record's finite floats, a weather label, hex ids and ISO times,
    none of which needs escaping; the station id is escaped by json.dumps."""
    request_time = (
        datetime.fromtimestamp(chunk.request_time, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
    head = (
        f'{{"request_id":"{chunk.request_id}","request_time":"{request_time}",'
        f'"model_version":"{chunk.model_version}","forecast_hour":"'
    )
    ranges = chunk.input_ranges or {}
    out = []
    for record, prediction in zip(chunk.records, chunk.predictions.tolist(), strict=True):
        moment = record.timestamp
        station = "null" if record.station_id is None else json.dumps(record.station_id)
        out.append(
            f'{head}{moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}",'
            f'"timestamp":"{moment.isoformat()}","temp_c":{record.temp_c!r},'
            f'"feels_like_c":{record.feels_like_c!r},"humidity_pct":{record.humidity_pct!r},'
            f'"wind_kmh":{record.wind_kmh!r},"weather":"{record.weather}",'
            f'"station_id":{station},"prediction":{round(prediction, 3)!r},'
            f'"outside_training_range":{_outside(record, ranges)}}}\n'
        )
    return "".join(out)


def encode(texts: Sequence[str]) -> bytes:
    """Rendered chunks → one gzipped file (zlib releases the GIL while it compresses)."""
    return gzip.compress("".join(texts).encode(), compresslevel=6, mtime=0)


def decode(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines() if line]
