"""HTTP for live sources: retried with backoff, verified before it lands, atomic on disk.

A download goes to a temporary file beside its cache path, is checked (length, then the
caller's `verify`), and only then renamed into place, so the cache never holds half a file.
Timeouts, dropped connections and HTTP 429/5xx are retried with exponential backoff; any
other 4xx fails at once, except 404, which callers read as "not published yet".
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from bikecast import __version__, io
from bikecast.data.schema import DataError

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CHUNK = 1 << 20
QUERY = re.compile(r"\?[\w.%-]+=[^\s'\")]*")  # a URL's query string inside an error text
T = TypeVar("T")


class DownloadError(DataError):
    """A URL could not be fetched (after retries) or did not hold what was expected."""


class _Retryable(Exception):
    """A failure worth another attempt (HTTP 5xx/429, short body)."""


@dataclass
class Http:
    timeout_s: float = 60.0
    retries: int = 4
    backoff_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["User-Agent"] = f"bikecast/{__version__}"

    def _with_retries(self, url: str, attempt_once: Callable[[], T]) -> T:
        attempts = self.retries + 1
        problem = "no attempt made"
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "%s: %s; retry %d of %d in %.1f s", url, problem, attempt, self.retries, delay
                )
                self.sleep(delay)
            try:
                return attempt_once()
            except _Retryable as exc:
                problem = str(exc)
            except requests.Timeout:
                problem = f"timed out after {self.timeout_s:g} s"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"connection failed ({type(exc).__name__}: {one_line(exc)})"
            except requests.RequestException as exc:  # a bad URL, too many redirects...
                raise DownloadError(f"{url}: {type(exc).__name__}: {one_line(exc)}") from exc
        raise DownloadError(f"{url}: giving up after {attempts} attempts; last error: {problem}")

    def download(self, url: str, target: Path, verify: Callable[[Path], None]) -> bool:
        """Fetch `url` into `target` (atomically, after `verify(tmp)`); False on HTTP 404."""

        def once() -> bool:
            with self.session.get(url, stream=True, timeout=self.timeout_s) as resp:
                if resp.status_code == 404:
                    return False
                _check_status(resp, url)
                expected = int(resp.headers.get("Content-Length") or 0) or None
                with io.atomic_path(target) as tmp:
                    with open(tmp, "wb") as fh, _progress(expected, target.name) as bar:
                        for chunk in resp.iter_content(CHUNK):
                            fh.write(chunk)
                            bar.update(len(chunk))
                    size = tmp.stat().st_size
                    if expected is not None and size != expected:
                        raise _Retryable(f"received {size} of {expected} bytes")
                    verify(tmp)
            return True

        return self._with_retries(url, once)

    def get_json(self, url: str, params: dict[str, Any], where: str | None = None) -> Any:
        """GET a JSON document or raise; messages name `where` (default: the URL without its
        query string, which is long and may hold keys)."""
        where = where or shown_url(url)

        def once() -> Any:
            resp = self.session.get(url, params=params, timeout=self.timeout_s)
            _check_status(resp, where)
            try:
                return resp.json()
            except ValueError as exc:
                raise DownloadError(f"{where}: response is not JSON ({one_line(exc)})") from exc

        return self._with_retries(where, once)


def shown_url(url: str) -> str:
    """scheme://host[:port]/path: a URL as messages show it, without query or credentials."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0]
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


def one_line(exc: BaseException | str) -> str:
    """An exception's text on one line, with any query string cut out of the URLs it names
    (requests quotes the whole request URL in its connection errors)."""
    text = " ".join(str(exc).split())
    return QUERY.sub("", text)


def _check_status(resp: requests.Response, url: str) -> None:
    if resp.status_code in RETRY_STATUS:
        raise _Retryable(f"HTTP {resp.status_code} {resp.reason}")
    if resp.status_code >= 400:
        detail = resp.reason
        # Open-Meteo explains bad requests as {"error": true, "reason": "..."}
        with contextlib.suppress(ValueError, AttributeError):
            detail = resp.json().get("reason") or detail
        raise DownloadError(f"{url}: HTTP {resp.status_code}: {one_line(detail)}")


def _progress(total: int | None, name: str):
    """A byte progress bar on stderr, only when a person is watching a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        disable=not sys.stderr.isatty(),
    )
