"""The harness's Actions emulator runs the workflows' own steps; these fast checks keep the harness
and the YAML in step (a step it cannot run, or one it would skip silently, fails here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.e2e.harness.s3 import POLICY
from tests.e2e.harness.workflow import (
    CONTEXT,
    EMULATE,
    TOOLING_STEPS,
    Job,
    job_steps,
    load_workflow,
    step_named,
)

ROOT = Path(__file__).resolve().parents[2]

JOBS = [("retrain.yml", "retrain"), ("pr-report.yml", "report")]


@pytest.mark.parametrize(("workflow", "job"), JOBS)
def test_the_harness_can_run_every_step_of_the_job(workflow, job):
    context = {**CONTEXT, "github.event.pull_request.number": "1"}
    runner = Job(ROOT, {}, context=context)
    for step in job_steps(workflow, job):
        name = step.get("name")
        assert name, f"{workflow}: every step needs a name (the harness finds steps by name)"
        runner.condition(step.get("if"))  # raises on a form it cannot evaluate
        for value in step.get("env", {}).values():
            runner.render(value)
        if "uses" in step:
            assert step["uses"].split("@")[0] in EMULATE, name


def test_skipped_steps_are_only_tool_installs_and_the_comment():
    names = {
        step.get("name")
        for workflow, job in JOBS
        for step in job_steps(workflow, job)
        if "run" in step
    }
    assert names >= TOOLING_STEPS
    commands = {
        step["run"]
        for workflow, job in JOBS
        for step in job_steps(workflow, job)
        if step.get("name") in TOOLING_STEPS
    }
    assert commands == {
        "uv sync --frozen",
        "npm install --global @dvcorg/cml@0.20",
        'cml comment update --target="pr/${PR_NUMBER}" --publish reports/pr_report.md',
    }


def test_the_steps_the_loop_reads_from_release_exist():
    for job, name in [
        ("image", "Pull the model"),
        ("image", "Read the model version"),
        ("deploy", "Smoke-test GET /model"),
    ]:
        assert "run" in step_named("release.yml", job, name)


def test_expressions():
    job = Job(ROOT, {}, context={"github.token": "t", "github.base_ref": "main"})
    job.outputs = {"advance": {"new_data": "true"}, "pr": {}}
    assert job.condition("steps.advance.outputs.new_data == 'true'")
    assert not job.condition("steps.pr.outputs.pull-request-number != ''")
    assert job.render("${{ secrets.RETRAIN_TOKEN || github.token }}") == "t"
    assert job.render("origin/${{ github.base_ref }}") == "origin/main"
    with pytest.raises(ValueError, match="unsupported"):
        job.condition("failure()")


def test_the_loop_uses_the_policy_the_readme_documents():
    readme = (ROOT / "README.md").read_text()
    assert '"Action": ["s3:ListBucket"]' in readme
    assert '"Action": ["s3:GetObject", "s3:PutObject"]' in readme
    actions = [stmt["Action"] for stmt in POLICY["Statement"]]
    assert actions == [["s3:ListBucket"], ["s3:GetObject", "s3:PutObject"]]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_release_renders_the_deployment_with_the_new_image(tmp_path):
    """release.yml's render step, run as written (kubectl --local needs no cluster)."""
    step = step_named("release.yml", "deploy", "Render the manifests with the new image")
    ref = "ghcr.io/owner/bikecast@sha256:" + "ab" * 32
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path), "CONTAINER": "api", "IMAGE_REF": ref}
    proc = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rendered = {p.name for p in (tmp_path / "k8s").glob("*.yaml")}
    assert rendered == {p.name for p in (ROOT / "deploy" / "k8s").glob("*.yaml")}
    deployment = yaml.safe_load((tmp_path / "k8s" / "deployment.yaml").read_text())
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers if c["name"] == "api"] == [ref]


def test_release_defaults_name_the_deployment_in_deploy():
    env = load_workflow("release.yml")["jobs"]["deploy"]["env"]
    job = Job(ROOT, {})
    deployment = yaml.safe_load((ROOT / "deploy" / "k8s" / "deployment.yaml").read_text())
    assert job.render(env["DEPLOYMENT"]) == deployment["metadata"]["name"]
    containers = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert job.render(env["CONTAINER"]) in containers


def test_the_script_is_a_thin_entry_point_into_the_harness():
    """README runs the loop by path: scripts/e2e_loop.py must import the harness package."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "e2e_loop.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--keep" in proc.stdout
