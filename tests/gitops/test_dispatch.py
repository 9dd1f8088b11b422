"""`bikecast dispatch` against a stand-in for GitHub's REST API on 127.0.0.1, answering as
GitHub does: 204 with no body, or an error JSON with `message` and `documentation_url`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.conftest import ROOT, run


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


def test_dispatch_starts_the_workflow_on_main():
    with FakeGitHub() as github:
        proc = run(["bikecast", "dispatch", "retrain.yml", "--ref", "main"], ROOT, env=github.env())
    assert "started retrain.yml on main in owner/bikecast" in proc.stdout
    assert github.calls == [
        {
            "path": "/repos/owner/bikecast/actions/workflows/retrain.yml/dispatches",
            "body": {"ref": "main"},
            "auth": "Bearer ghs_test",
            "version": "2022-11-28",
        }
    ]


@pytest.mark.parametrize(
    ("status", "message", "says"),
    [
        (403, "Resource not accessible by integration", "the token needs actions: write"),
        (404, "Not Found", "no workflow retrain.yml in owner/bikecast"),
        (422, "Workflow does not have 'workflow_dispatch' trigger", "has no workflow_dispatch"),
    ],
)
def test_a_refused_dispatch_is_one_line_naming_the_fix(status, message, says):
    with FakeGitHub(status, message) as github:
        proc = run(["bikecast", "dispatch", "retrain.yml"], ROOT, env=github.env(), check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert f"GitHub answered {status}" in line and message in line and says in line


def test_without_a_token_it_says_so(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    proc = run(["bikecast", "dispatch", "retrain.yml"], ROOT, check=False,
               env={"GITHUB_REPOSITORY": "owner/bikecast"})  # fmt: skip
    assert proc.returncode == 1 and "GITHUB_TOKEN not set" in proc.stderr


def test_github_down_is_one_line():
    env = {"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "t"}
    proc = run(["bikecast", "dispatch", "retrain.yml"], ROOT, env=env, check=False)
    assert proc.returncode == 1 and "unreachable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
