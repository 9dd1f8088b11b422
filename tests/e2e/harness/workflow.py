"""A GitHub Actions emulator: read a workflow's YAML and run a job's steps in a checkout.

`run:` steps run as written under bash (with `uv run` mapped onto this venv); `uses:` steps
are emulated (EMULATE); `${{ }}` and `if:` are evaluated in the forms the workflows use.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.harness import ROOT
from tests.e2e.harness.github import create_pull_request

WORKFLOWS = ROOT / ".github" / "workflows"
# Steps whose work is done by the harness itself: tool installs (this venv is the
# install) and the PR comment (needs GitHub). Anything else in a job must run.
TOOLING_STEPS = {"Install", "Install CML", "Post the report on the PR"}
# `if:` expressions evaluated here have the forms `<expr> == '<v>'` / `!= '<v>'`.
# what `${{ github.* }}` means here (secrets.* and vars.* are empty, as in a fork)
CONTEXT = {"github.token": "local-token", "github.run_id": "1", "github.base_ref": "main"}
UV_SHIM = 'uv() { if [ "$1" = run ]; then shift; "$@"; else command uv "$@"; fi; }\n'
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:  # YAML 1.1 reads `on` as True
        data["on"] = data.pop(True)
    return data


def job_steps(workflow: str, job: str) -> list[dict[str, Any]]:
    return load_workflow(workflow)["jobs"][job]["steps"]


def step_named(workflow: str, job: str, name: str) -> dict[str, Any]:
    for step in job_steps(workflow, job):
        if step.get("name") == name:
            return step
    raise KeyError(f"{workflow}: job {job} has no step named {name!r}")


class StepFailed(RuntimeError):
    def __init__(self, step: str, code: int, output: str):
        super().__init__(f"step {step!r} exited {code}\n{output[-4000:]}")
        self.step, self.code, self.output = step, code, output


@dataclass
class Job:
    """One job run in a checkout: step outputs, env, and what each step printed."""

    workdir: Path
    env: dict[str, str]
    context: dict[str, str] = field(default_factory=dict)  # github.*, secrets.*
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[tuple[str, int, str]] = field(default_factory=list)  # (step, code, output)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def summary_path(self) -> Path:
        """What the job's steps append to $GITHUB_STEP_SUMMARY (the run's summary page)."""
        return self.workdir.parent / f"{self.workdir.name}.step-summary.md"

    def value(self, expr: str) -> str:
        """A `${{ }}` expression of the forms the workflows use: a || b, 'x', dotted names."""
        for term in (t.strip() for t in expr.split("||")):
            if term.startswith("'") and term.endswith("'"):
                found = term[1:-1]
            elif term.startswith("steps."):
                _, step_id, kind, key = term.split(".", 3)
                if kind != "outputs":
                    raise ValueError(f"unsupported expression {term!r}")
                found = self.outputs.get(step_id, {}).get(key, "")
            elif term in self.context or term.split(".")[0] in ("secrets", "vars"):
                found = self.context.get(term, "")
            else:
                raise ValueError(f"unsupported expression {term!r}")
            if found:
                return found
        return ""

    def render(self, text: str) -> str:
        return EXPR.sub(lambda m: self.value(m[1]), str(text))

    def condition(self, expr: str | None) -> bool:
        if not expr:
            return True
        match = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*'([^']*)'\s*", expr)
        if not match:
            raise ValueError(f"unsupported if: {expr!r}")
        left = self.value(match[1])
        return (left == match[3]) if match[2] == "==" else (left != match[3])

    def run_script(self, script: str, env: Mapping[str, str]) -> tuple[int, str, dict[str, str]]:
        out_file = self.workdir.parent / f".gh_output_{os.getpid()}"
        out_file.write_text("")
        full_env = {
            **self.env,
            **env,
            "GITHUB_OUTPUT": str(out_file),
            "GITHUB_STEP_SUMMARY": str(self.summary_path),
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", UV_SHIM + script],
            cwd=self.workdir,
            env=full_env,
            capture_output=True,
            text=True,
        )
        outputs = dict(
            line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line
        )
        out_file.unlink()
        return proc.returncode, proc.stdout + proc.stderr, outputs

    def start_script(self, script: str) -> subprocess.Popen:
        """A `run:` script in the background, in its own process group (to kill it whole)."""
        return subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", UV_SHIM + script],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def run(
        self,
        steps: list[dict[str, Any]],
        before: Callable[[str], None] | None = None,
        emulate: Mapping[str, Callable[[Job, dict[str, Any]], dict[str, str]]] | None = None,
    ) -> None:
        """Run steps in order like a runner: `if:` honoured, first failure stops the job."""
        emulate = EMULATE if emulate is None else emulate
        for step in steps:
            name = step.get("name", step.get("uses", "?"))
            if name in TOOLING_STEPS or not self.condition(step.get("if")):
                self.skipped.append(name)
                continue
            if before:
                before(name)
            env = {k: self.render(v) for k, v in step.get("env", {}).items()}
            started = time.monotonic()
            if "run" in step:
                code, output, outputs = self.run_script(step["run"], env)
            else:
                action = step["uses"].split("@")[0]
                if action not in emulate:
                    raise KeyError(f"no emulation for {action} (step {name!r})")
                code, output, outputs = 0, "", emulate[action](self, step)
            self.seconds[name] = round(time.monotonic() - started, 1)
            self.log.append((name, code, output))
            self.ran.append(name)
            if "id" in step:
                self.outputs[step["id"]] = outputs
            if code != 0:
                raise StepFailed(name, code, output)


def no_op(job: Job, step: dict[str, Any]) -> dict[str, str]:
    return {}


def upload_artifact(job: Job, step: dict[str, Any]) -> dict[str, str]:
    """Copy the listed files to <base>/artifacts/<name>/ (missing ones: a warning, as set)."""
    import shutil

    inputs = {k: job.render(v) for k, v in step.get("with", {}).items()}
    dest = job.workdir.parent / "artifacts" / inputs["name"]
    for rel in inputs["path"].split():
        src = job.workdir / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
        elif inputs.get("if-no-files-found") != "warn":
            raise FileNotFoundError(f"upload-artifact: {rel} not found")
    return {"artifact-url": str(dest)}


EMULATE = {
    "actions/checkout": no_op,  # the job's workdir is already a fresh clone
    "astral-sh/setup-uv": no_op,  # this venv
    "aws-actions/configure-aws-credentials": no_op,  # credentials are in the job env
    "peter-evans/create-pull-request": create_pull_request,
    "actions/upload-artifact": upload_artifact,
}
