"""The API's side of the prediction log: `record` appends one request's forecasts to a buffer
in memory (a few µs, no I/O, no formatting); a background thread renders them as JSON lines
every RENDER_S, then compresses and writes them, by size (`batch_records`) or time
(`interval_s`).

Rendering in the thread, a tenth of a second's requests at a time, is cheaper than inside
each request (one-record /predict +6% throughput, bench/RESULTS.md), and a burst that short
holds the GIL for about a millisecond, under the interpreter's 5 ms switch interval. Queued
requests outlive their response by up to RENDER_S; the app freezes its start-up heap
(serve/app.py) so that the garbage collections this triggers stay short.

A request never waits for, or fails because of, the log. When the destination is down the
batch goes back to the front of the buffer and the thread retries with a growing wait; a
buffer past `max_buffer` records drops the oldest requests and counts them. Records are
"written" (`bikecast_prediction_log_records_total{outcome="written"}`) only once the
destination has acknowledged their file; `close` (the API's shutdown) writes what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from bikecast.prediction_log.destinations import Destination, DestinationError
from bikecast.prediction_log.records import Chunk, encode, file_key, partition, render

log = logging.getLogger(__name__)
RENDER_S = 0.1  # how often the thread renders what requests have queued


@dataclass(frozen=True)
class Pending:
    """One request's rendered lines, waiting for their file."""

    request_time: float
    part: str
    count: int
    text: str

    def __len__(self) -> int:
        return self.count


class LogMetrics:
    """What /metrics says about the log (bikecast_prediction_log_*)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.records = Counter(
            "bikecast_prediction_log_records",
            "Logged forecasts by outcome: written (acknowledged by the destination) or "
            "dropped (the buffer was full).",
            ["outcome"],
            registry=registry,
        )
        self.buffered = Gauge(
            "bikecast_prediction_log_buffered",
            "Forecasts in memory, not yet written.",
            registry=registry,
        )
        self.errors = Counter(
            "bikecast_prediction_log_write_errors",
            "Log files the destination refused or could not be reached for (retried).",
            registry=registry,
        )
        self.last_write = Gauge(
            "bikecast_prediction_log_last_write_timestamp_seconds",
            "When the destination last acknowledged a log file (Unix time).",
            registry=registry,
        )
        for outcome in ("written", "dropped"):
            self.records.labels(outcome)


class PredictionLog:
    def __init__(
        self,
        destination: Destination,
        *,
        batch_records: int = 5000,
        interval_s: float = 30.0,
        max_buffer: int = 200_000,
        retry_s: tuple[float, float] = (1.0, 60.0),
        metrics: LogMetrics | None = None,
    ) -> None:
        self.destination = destination
        self.batch_records, self.interval_s, self.max_buffer = batch_records, interval_s, max_buffer
        self.retry_s = retry_s
        self.metrics = metrics
        self.written = self.dropped = self.buffered = 0
        self._queued: deque[Chunk] = deque()  # as requests left them, not yet rendered
        self._chunks: deque[Pending] = deque()  # rendered, oldest first
        self._lock = threading.Lock()  # the buffer
        self._flushing = threading.Lock()  # one render or flush at a time (the thread, or close)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request side -----------------------------------------------------------------

    def record(self, chunk: Chunk) -> None:
        """Queue one request's forecasts; the thread renders them."""
        with self._lock:
            self._queued.append(chunk)
            self.buffered += len(chunk)
            self._trim()
            full = self.buffered >= self.batch_records
        if full:
            self._wake.set()

    def _trim(self) -> None:
        """Drop the oldest requests until the buffer fits (the lock is held)."""
        while self.buffered > self.max_buffer and (self._chunks or self._queued):
            oldest = self._chunks.popleft() if self._chunks else self._queued.popleft()
            self._drop(len(oldest))
        if self.metrics:
            self.metrics.buffered.set(self.buffered)

    def _drop(self, n: int) -> None:
        self.buffered -= n
        self.dropped += n
        if self.metrics:
            self.metrics.records.labels("dropped").inc(n)

    # --- the background side --------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        backoff, next_try = 0.0, 0.0
        while True:
            now = time.monotonic()
            due = next_try if backoff else last + self.interval_s
            self._wake.wait(min(max(due - now, 0), RENDER_S))
            self._wake.clear()
            if self._stopping.is_set():
                return
            with self._flushing:
                self._render()
            now = time.monotonic()
            if backoff and now < next_try:
                continue  # a full buffer does not hurry a retry against a destination that is down
            if not backoff and self.buffered < self.batch_records and now < last + self.interval_s:
                continue
            last = now
            if self.flush():
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, self.retry_s[0]), self.retry_s[1])
                next_try = time.monotonic() + backoff

    def flush(self) -> bool:
        """Write everything buffered, one file per partition; False if a write failed (its
        records are back at the front of the buffer)."""
        with self._flushing:
            self._render()
            return self._flush()

    def _render(self) -> None:
        """Render the queued requests' lines (the flushing lock is held). A request that
        cannot be rendered costs the log its forecasts, counted, never the others."""
        with self._lock:
            queued, self._queued = self._queued, deque()
        rendered, lost = [], 0
        for chunk in queued:
            try:
                text = render(chunk)
            except Exception:  # a bug here must cost the log a request, never the API one
                log.exception("prediction log: cannot render a request; its forecasts are dropped")
                lost += len(chunk)
                continue
            part = partition(chunk.request_time, chunk.model_version)
            rendered.append(Pending(chunk.request_time, part, len(chunk), text))
        with self._lock:
            self._chunks.extend(rendered)
            if lost:
                self._drop(lost)
            self._trim()  # requests queued while this rendered may have overfilled it

    def _flush(self) -> bool:
        with self._lock:
            taken = list(self._chunks)
            self._chunks.clear()
        if not taken:
            return True
        parts: dict[str, list[Pending]] = {}
        for pending in taken:
            parts.setdefault(pending.part, []).append(pending)
        failed: list[Pending] = []
        for part, chunks in parts.items():
            if failed:  # the destination is down: do not try each partition in turn
                failed += chunks
                continue
            try:
                data = encode([pending.text for pending in chunks])
                self.destination.put(file_key(part, time.time()), data)
            except DestinationError as exc:
                log.warning("prediction log: %s; will retry", exc)
                if self.metrics:
                    self.metrics.errors.inc()
                failed += chunks
                continue
            self._written(sum(len(c) for c in chunks))
        with self._lock:
            self.buffered -= sum(len(c) for c in taken) - sum(len(c) for c in failed)
            failed.sort(key=lambda c: c.request_time)
            self._chunks.extendleft(reversed(failed))
            self._trim()
        return not failed

    def _written(self, n: int) -> None:
        self.written += n
        if self.metrics:
            self.metrics.records.labels("written").inc(n)
            self.metrics.last_write.set(time.time())

    def close(self, timeout_s: float = 10.0) -> int:
        """Stop the thread and write what is left, retrying until `timeout_s`; returns how
        many forecasts could not be written (and logs them as lost)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        wait = self.retry_s[0]
        while not self.flush() and time.monotonic() + wait < deadline:
            time.sleep(wait)
            wait = min(wait * 2, self.retry_s[1])
        if self.buffered:
            log.error(
                "prediction log: %d forecasts not written to %s at shutdown (destination down)",
                self.buffered,
                self.destination.url,
            )
        return self.buffered
