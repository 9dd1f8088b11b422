"""bikecast.gitops.smoke: polling the deployed API until it serves the released model."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from bikecast.cli import app
from bikecast.errors import GitopsError
from bikecast.gitops import smoke


def test_smoke_retries_until_the_new_version_is_served():
    answers = iter([GitopsError("connection refused"), {"version": "old"}, {"version": "new"}])
    sleeps = []

    def fetch(url, timeout):
        assert url == "http://api.test/model"
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = smoke.smoke(
        "http://api.test/", "new", attempts=5, delay=2, sleep=sleeps.append, fetch=fetch
    )
    assert result.ok and result.attempts == 3
    assert sleeps == [2, 2]


def test_smoke_fails_with_the_last_answer():
    result = smoke.smoke(
        "http://api.test",
        "new",
        attempts=3,
        sleep=lambda s: None,
        fetch=lambda u, t: {"version": "old"},
    )
    assert not result.ok and result.attempts == 3
    assert "'old', expected 'new'" in result.message


def test_smoke_rejects_a_missing_url():
    with pytest.raises(GitopsError, match="not an http"):
        smoke.smoke("", "v1")


@pytest.mark.parametrize(
    ("payload", "version"),
    [
        ({"version": "a"}, "a"),
        ({"model_version": "b"}, "b"),
        ({"model": {"version": "c"}}, "c"),
        ([], None),
    ],
)
def test_served_version_shapes(payload, version):
    assert smoke.served_version(payload) == version


class _ModelHandler(BaseHTTPRequestHandler):
    body = b'{"version": "abc123def456", "git_sha": "x"}'

    def do_GET(self):
        status = 200 if self.path == "/model" else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body if status == 200 else b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def api_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_smoke_command_against_a_real_server(api_url):
    runner = CliRunner()
    ok = runner.invoke(app, ["smoke", "--url", api_url, "--expect-version", "abc123def456"])
    assert ok.exit_code == 0, ok.output
    assert "serves model abc123def456" in ok.output
    bad = runner.invoke(
        app,
        ["smoke", "--url", api_url, "--expect-version", "other", "--attempts", "2", "--delay", "0"],
    )
    assert bad.exit_code == 1
    assert "expected 'other'" in bad.output
