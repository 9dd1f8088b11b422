"""`bikecast smoke`: is the deployed API serving the model the release built?"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bikecast.errors import GitopsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    attempts: int
    message: str


def served_version(payload: Any) -> str | None:
    """The model version in a GET /model answer (`version`, or `model_version`)."""
    if not isinstance(payload, dict):
        return None
    for key in ("version", "model_version"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    model = payload.get("model")
    return served_version(model) if isinstance(model, dict) else None


def fetch_json(url: str, timeout: float) -> Any:
    """GET `url` and decode JSON; raise GitopsError naming the URL on any failure."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise GitopsError(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GitopsError(f"GET {url}: {reason}") from exc
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise GitopsError(f"GET {url}: answer is not JSON ({exc})") from exc


def smoke(
    base_url: str,
    expect_version: str,
    attempts: int = 10,
    delay: float = 3.0,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    fetch: Callable[[str, float], Any] = fetch_json,
) -> SmokeResult:
    """Poll GET {base_url}/model until it serves `expect_version` or attempts run out.

    A rollout replaces pods one by one, so an old version or a refused connection is
    retried; only the final answer counts.
    """
    if attempts < 1:
        raise GitopsError("smoke: attempts must be at least 1")
    if not base_url.startswith(("http://", "https://")):
        raise GitopsError(f"smoke: --url {base_url!r} is not an http(s) URL (is API_URL set?)")
    url = base_url.rstrip("/") + "/model"
    last = "no answer"
    for attempt in range(1, attempts + 1):
        try:
            version = served_version(fetch(url, timeout))
        except GitopsError as exc:
            last = str(exc)
        else:
            if version == expect_version:
                return SmokeResult(True, attempt, f"{url} serves model {version}")
            last = f"{url} serves model {version!r}, expected {expect_version!r}"
        log.info("smoke attempt %d/%d: %s", attempt, attempts, last)
        if attempt < attempts:
            sleep(delay)
    return SmokeResult(False, attempts, last)
