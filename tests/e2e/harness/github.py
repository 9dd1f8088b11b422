"""What GitHub does around the workflows, faked with git: a bare `origin`, and pull requests
kept in <base>/prs.json (what peter-evans/create-pull-request opens and the merge button
closes), so a test can read them back; and a stand-in for the REST API's workflow dispatch
on 127.0.0.1 (`FakeGitHub`), answering as GitHub does."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.harness.workflow import Job

REGISTRY = "prs.json"


def git(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def read_prs(base: Path) -> list[dict[str, Any]]:
    """The pull requests opened so far under `base` (the directory holding the clones)."""
    path = base / REGISTRY
    return json.loads(path.read_text()) if path.exists() else []


def write_prs(base: Path, prs: list[dict[str, Any]]) -> None:
    (base / REGISTRY).write_text(json.dumps(prs, indent=1))


def mark_merged(base: Path, branch: str) -> None:
    prs = read_prs(base)
    for pr in prs:
        if pr["branch"] == branch:
            pr["state"] = "merged"
    write_prs(base, prs)


def create_pull_request(job: Job, step: dict[str, Any]) -> dict[str, str]:
    """What peter-evans/create-pull-request does with these inputs, minus the GitHub API:
    commit `add-paths` on `branch` and force-push it to origin; record the PR in prs.json."""
    inputs = {k: job.render(v) for k, v in step.get("with", {}).items()}
    branch, base = inputs["branch"], inputs.get("base", "main")
    cwd, env = job.workdir, job.env
    git(["checkout", "-q", "-B", branch], cwd, env)
    for path in inputs.get("add-paths", "").split():
        git(["add", "-A", "--", path], cwd, env)
    if not git(["diff", "--cached", "--name-only"], cwd, env):
        return {"pull-request-operation": "none"}
    git(["commit", "-q", "-m", inputs["commit-message"]], cwd, env)
    git(["push", "-q", "--force", "origin", f"{branch}:refs/heads/{branch}"], cwd, env)
    prs = read_prs(cwd.parent)
    existing = next((p for p in prs if p["branch"] == branch and p["state"] == "open"), None)
    if existing is None:
        existing = {"number": len(prs) + 1, "branch": branch, "base": base, "state": "open"}
        prs.append(existing)
        operation = "created"
    else:
        operation = "updated"
    existing.update(title=inputs["title"], body=Path(cwd, inputs["body-path"]).read_text())
    write_prs(cwd.parent, prs)
    return {
        "pull-request-number": str(existing["number"]),
        "pull-request-operation": operation,
        "pull-request-branch": branch,
    }


class FakeGitHub:
    """Records each workflow dispatch; answers `status` (204 by default)."""

    def __init__(self, status: int = 204, message: str = "") -> None:
        self.calls: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(
                    {"path": self.path, "body": body, "auth": self.headers["Authorization"],
                     "version": self.headers["X-GitHub-Api-Version"]}
                )  # fmt: skip
                if status == 204:
                    self.send_response(204)
                    self.end_headers()
                    return
                payload = json.dumps(
                    {"message": message, "status": str(status),
                     "documentation_url": "https://docs.github.com/rest/actions/workflows"}
                ).encode()  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeGitHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        return {"GITHUB_API_URL": self.url, "GITHUB_REPOSITORY": "owner/bikecast",
                "GITHUB_TOKEN": "ghs_test"}  # fmt: skip
