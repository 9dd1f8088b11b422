"""`bikecast dispatch`: start a workflow through GitHub's REST API (workflow_dispatch).

monitor.yml calls it with the job's own GITHUB_TOKEN, granted `actions: write` and nothing
else: a workflow_dispatch is the one event that token may start another workflow with.
GITHUB_API_URL and GITHUB_REPOSITORY are what GitHub sets in every job.
"""

from __future__ import annotations

import json
import os

from bikecast.errors import GitopsError

API_VERSION = "2022-11-28"


def dispatch(workflow: str, ref: str, timeout_s: float = 30.0) -> str:
    """POST …/actions/workflows/{workflow}/dispatches; GitHub answers 204 with no body."""
    import requests

    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    repo = os.environ.get("GITHUB_REPOSITORY")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    if not token or not repo:
        missing = [n for n, v in (("GITHUB_TOKEN", token), ("GITHUB_REPOSITORY", repo)) if not v]
        raise GitopsError(f"dispatch: {' and '.join(missing)} not set (GitHub sets them in a job)")
    url = f"{api}/repos/{repo}/actions/workflows/{workflow}/dispatches"
    try:
        response = requests.post(
            url,
            json={"ref": ref},
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
            },
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise GitopsError(f"dispatch: {url} unreachable: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 204:
        try:
            message = json.loads(response.text).get("message", response.text)
        except ValueError:
            message = response.text[:200]
        hint = {
            403: "the token needs actions: write",
            404: f"no workflow {workflow} in {repo}, or the token cannot see it",
            422: f"{workflow} has no workflow_dispatch trigger, or ref {ref!r} does not exist",
        }.get(response.status_code, "")
        raise GitopsError(
            f"dispatch: GitHub answered {response.status_code} for {workflow} on {ref}: "
            f"{message}" + (f" ({hint})" if hint else "")
        )
    return f"started {workflow} on {ref} in {repo}"
