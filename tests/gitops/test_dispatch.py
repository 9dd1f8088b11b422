"""`bikecast dispatch` against a stand-in for GitHub's REST API on 127.0.0.1, answering as
GitHub does: 204 with no body, or an error JSON with `message` and `documentation_url`."""

from __future__ import annotations

import pytest
from tests.conftest import ROOT, run
from tests.e2e.harness.github import FakeGitHub


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
