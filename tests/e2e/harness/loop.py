"""Run the whole GitOps loop on this machine: the retrain and release workflows' own
`run:` lines, against a bare git repository as `origin` and a real S3 server (moto) on
127.0.0.1 as the DVC remote.

    uv run python scripts/e2e_loop.py            # the loop, in a temp dir, ~2-3 min
    uv run python scripts/e2e_loop.py --keep DIR # keep the repos to look at afterwards

What it does (tests/e2e/test_gitops_loop.py runs the same functions and asserts on them):
1. origin: this repository with the replay window two weeks before the end of the seed,
   trained and pushed (dvc push to S3, git push to the bare origin).
2. retrain step 1: a fresh clone runs retrain.yml's job step by step; `uses:` steps are
   emulated (checkout = the clone, create-pull-request = commit + push of retrain/<date>),
   `run:` steps run as written with `uv run` mapped onto this venv.
3. merge the retrain branch into main in origin; a fresh clone pulls the model named in
   dvc.lock from S3 with release.yml's own steps, `bikecast serve` serves it and
   release.yml's smoke step checks GET /model reports that version.
4. retrain step 2, then a step with no new data, which opens nothing.

Only the S3 server's address is local: the remote itself is configured the way a user
configures a real bucket (url committed in .dvc/config, endpoint in .dvc/config.local).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # this venv: bikecast, dvc
BUCKET = "bikecast-e2e"
PREFIX = "bikecast"
REGION = "us-east-1"
START_AS_OF = "2011-12-17T23:00:00-05:00"  # two 7-day steps before the seed's last hour
# the minimal policy README shows for the OIDC role; the S3 server enforces it here
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{BUCKET}"},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/{PREFIX}/*",
        },
    ],
}
# Steps whose work is done by the harness itself: tool installs (this venv is the
# install) and the PR comment (needs GitHub). Anything else in a job must run.
TOOLING_STEPS = {"Install", "Install CML", "Post the report on the PR"}
# `if:` expressions evaluated here have the forms `<expr> == '<v>'` / `!= '<v>'`.
# what `${{ github.* }}` means here (secrets.* and vars.* are empty, as in a fork)
CONTEXT = {"github.token": "local-token", "github.run_id": "1", "github.base_ref": "main"}
UV_SHIM = 'uv() { if [ "$1" = run ]; then shift; "$@"; else command uv "$@"; fi; }\n'


# --- reading the workflows ------------------------------------------------------------------


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


EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


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
        full_env = {**self.env, **env, "GITHUB_OUTPUT": str(out_file)}
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


# --- emulated actions -----------------------------------------------------------------------


def git(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


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
    registry = cwd.parent / "prs.json"
    prs = json.loads(registry.read_text()) if registry.exists() else []
    existing = next((p for p in prs if p["branch"] == branch and p["state"] == "open"), None)
    if existing is None:
        existing = {"number": len(prs) + 1, "branch": branch, "base": base, "state": "open"}
        prs.append(existing)
        operation = "created"
    else:
        operation = "updated"
    existing.update(title=inputs["title"], body=Path(cwd, inputs["body-path"]).read_text())
    registry.write_text(json.dumps(prs, indent=1))
    return {
        "pull-request-number": str(existing["number"]),
        "pull-request-operation": operation,
        "pull-request-branch": branch,
    }


def no_op(job: Job, step: dict[str, Any]) -> dict[str, str]:
    return {}


EMULATE = {
    "actions/checkout": no_op,  # the job's workdir is already a fresh clone
    "astral-sh/setup-uv": no_op,  # this venv
    "aws-actions/configure-aws-credentials": no_op,  # credentials are in the job env
    "peter-evans/create-pull-request": create_pull_request,
}


# --- the S3 server --------------------------------------------------------------------------


@dataclass
class S3:
    """moto's S3 on 127.0.0.1 with IAM auth on: only the CI user's key, under POLICY, works."""

    port: int = 0
    server: Any = None
    credentials: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        if self.server is not None:  # moto would wait forever for a second server on the port
            raise RuntimeError(f"S3 is already running on {self.endpoint}")

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def provision(self) -> None:
        """Bucket, a CI user with the minimal policy and a key; then require auth."""
        import boto3
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        admin = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": "bootstrap",
            "aws_secret_access_key": "bootstrap",
        }
        boto3.client("s3", **admin).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="bikecast-ci")
        iam.put_user_policy(
            UserName="bikecast-ci", PolicyName="dvc-remote", PolicyDocument=json.dumps(POLICY)
        )
        key = iam.create_access_key(UserName="bikecast-ci")["AccessKey"]
        self.credentials = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0

    @staticmethod
    def release_auth() -> None:
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

    def keys(self) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, **{
            k.lower(): v for k, v in self.credentials.items()
        })  # fmt: skip
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


# --- the loop -------------------------------------------------------------------------------


def sh(cmd: list[str], cwd: Path, env: Mapping[str, str], check: bool = True):
    proc = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode} in {cwd}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def copy_sources(dest: Path) -> None:
    """What a clone of this checkout holds (tracked + untracked-not-ignored files)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not rel.startswith((".github/", "tests/", "bench/")):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # DVC's content address


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked_md5(repo: Path, out: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for entry in stage.get("outs", []):
            if entry["path"] == out:
                return entry["md5"]
    raise KeyError(f"{out} not in dvc.lock")


@dataclass
class Loop:
    """The loop's world: origin, S3, and a way to run a workflow job in a fresh clone."""

    base: Path
    s3: S3 = field(default_factory=S3)
    train_overrides: dict[str, Any] = field(default_factory=lambda: {"n_estimators": 150})
    runs: int = 0

    @property
    def origin(self) -> Path:
        return self.base / "origin.git"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "GITHUB_", "DVC_")) and k != "VIRTUAL_ENV"
        }
        env.update(
            PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
            HOME=str(self.base / "home"),
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            GIT_AUTHOR_NAME="bikecast-bot",
            GIT_AUTHOR_EMAIL="bot@bikecast.invalid",
            GIT_COMMITTER_NAME="bikecast-bot",
            GIT_COMMITTER_EMAIL="bot@bikecast.invalid",
            CI="true",
            RUNNER_TEMP=str(self.base / "runner_temp"),
            **self.s3.credentials,
        )
        env.update(extra)
        return env

    def clone(self, name: str) -> Path:
        """A fresh clone of origin, configured like a runner: endpoint in config.local."""
        dest = self.base / name
        if dest.exists():
            shutil.rmtree(dest)
        sh(["git", "clone", "-q", str(self.origin), str(dest)], self.base, self.env())
        sh(
            ["dvc", "remote", "modify", "--local", "storage", "endpointurl", self.s3.endpoint],
            dest,
            self.env(),
        )
        return dest

    def setup(self) -> str:
        """Start S3, build origin with a trained model on main; return the model version."""
        for d in ("home", "runner_temp"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        self.s3.start()
        self.s3.provision()
        seed = self.base / "seed"
        copy_sources(seed)
        params_path = seed / "params.yaml"
        params = yaml.safe_load(params_path.read_text())
        params["ingest"].update(source="replay", as_of=START_AS_OF, step="7D")
        params["train"].update(self.train_overrides)
        # the loop is about plumbing, not model quality: let every retrain pass the gate
        params.setdefault("gate", {})["tolerance"] = 1.0
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        env = self.env()
        sh(["git", "init", "-q", "-b", "main"], seed, env)
        sh(["dvc", "remote", "modify", "storage", "url", f"s3://{BUCKET}/{PREFIX}"], seed, env)
        endpoint = ["dvc", "remote", "modify", "--local", "storage", "endpointurl"]
        sh([*endpoint, self.s3.endpoint], seed, env)
        sh(["git", "add", "-A"], seed, env)
        sh(["git", "commit", "-q", "-m", "bikecast, replay window before the end"], seed, env)
        sh(["dvc", "repro"], seed, env)  # dvclive needs a commit to exist
        sh(["dvc", "push"], seed, env)
        sh(["git", "add", "-A"], seed, env)
        sh(["git", "commit", "-q", "-m", "Train the first model"], seed, env)
        sh(["git", "init", "-q", "--bare", "-b", "main", str(self.origin)], self.base, env)
        sh(["git", "remote", "add", "origin", str(self.origin)], seed, env)
        sh(["git", "push", "-q", "origin", "main"], seed, env)
        return json.loads((seed / "models" / "model.json").read_text())["version"]

    def start_job(self, name: str, **context: str) -> Job:
        """A job about to run in a fresh clone of origin, as a GitHub runner would."""
        self.runs += 1
        context = {**CONTEXT, "github.run_id": str(self.runs), **context}
        return Job(self.clone(name), self.env(), context=context)

    def retrain(self, name: str, before: Callable[[str], None] | None = None) -> Job:
        """retrain.yml's job, every step, in a fresh clone of origin."""
        job = self.start_job(name)
        job.run(job_steps("retrain.yml", "retrain"), before=before)
        return job

    def pr_report(self, name: str, branch: str, number: str, until: str | None = None) -> Job:
        """pr-report.yml's job on the PR branch (GitHub checks out the PR's head), up to and
        including the step named `until` (compare and report are retrain's own commands)."""
        job = self.start_job(name, **{"github.event.pull_request.number": number})
        sh(["git", "checkout", "-q", branch], job.workdir, self.env())
        steps = job_steps("pr-report.yml", "report")
        if until is not None:
            steps = steps[: [s.get("name") for s in steps].index(until) + 1]
        job.run(steps)
        return job

    def branches(self) -> set[str]:
        heads = sh(["git", "ls-remote", "--heads", str(self.origin)], self.base, self.env())
        return {line.split("refs/heads/", 1)[1] for line in heads.stdout.splitlines()}

    def prs(self) -> list[dict[str, Any]]:
        """The PRs create-pull-request would have opened (kept in <base>/prs.json)."""
        path = self.base / "prs.json"
        return json.loads(path.read_text()) if path.exists() else []

    def merge(self, branch: str) -> str:
        """Merge the PR branch into main in origin (what the merge button does)."""
        ws = self.clone("merge")
        env = self.env()
        sh(["git", "merge", "-q", "--no-ff", f"origin/{branch}", "-m", f"Merge {branch}"], ws, env)
        sh(["git", "push", "-q", "origin", "main"], ws, env)
        prs = self.prs()
        for pr in prs:
            if pr["branch"] == branch:
                pr["state"] = "merged"
        (self.base / "prs.json").write_text(json.dumps(prs, indent=1))
        return sh(["git", "rev-parse", "HEAD"], ws, env).stdout.strip()

    def release_pull(self, name: str) -> tuple[Path, Job]:
        """release.yml's image job up to the model version, in a fresh clone of main."""
        cwd = self.clone(name)
        job = Job(cwd, self.env())
        names = ("Pull the model", "Read the model version")
        job.run([step_named("release.yml", "image", n) for n in names])
        return cwd, job

    @contextlib.contextmanager
    def serving(self, repo: Path) -> Iterator[str]:
        """`bikecast serve` on the clone's model, on 127.0.0.1; yields its base URL."""
        port = free_port()
        proc = subprocess.Popen(
            [
                "bikecast",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--model",
                "models/model.ubj",
            ],
            cwd=repo,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def smoke(self, repo: Path, url: str, version: str) -> Job:
        """release.yml's smoke step against a local server."""
        job = Job(repo, self.env(API_URL=url, MODEL_VERSION=version))
        job.run([step_named("release.yml", "deploy", "Smoke-test GET /model") | {"if": None}])
        return job

    def close(self) -> None:
        self.s3.stop()
        S3.release_auth()


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 600) -> None:
    """Poll until `predicate()`; a bound so a broken run ends instead of hanging."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def group_members(pgid: int) -> list:
    import psutil

    members = []
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) == pgid:
                members.append(candidate)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def running_stage(pgid: int) -> bool:
    """Whether a `bikecast <stage>` command of that group is running: DVC is then waiting on
    it, not writing its lock files (a kill there would leave a truncated .dvc/tmp/rwlock)."""
    import psutil

    for member in group_members(pgid):
        try:
            if any(Path(arg).name == "bikecast" for arg in member.cmdline()[:2]):
                return True
        except psutil.Error:
            continue
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a background script's process group, then wait until every process of it is
    gone: DVC takes a PID in its lock file that still exists (even unreaped) as a running
    repro, and the killed children are reaped by init, not by us, some time later."""
    members = group_members(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not any(p.is_running() for p in members), "the killed repro to be reaped", 60)


def retrain_with_faults(loop: Loop, name: str) -> dict[str, Any]:
    """A retrain that is killed mid-repro (with a second repro racing it), rerun, loses
    its S3 endpoint during `dvc push`, and is rerun again once S3 is back."""
    seen: dict[str, Any] = {}
    steps = job_steps("retrain.yml", "retrain")
    names = [step.get("name") for step in steps]
    at_repro = names.index("Reproduce the pipeline")
    at_push = names.index("Push artifacts to the DVC remote")
    job = loop.start_job(name)
    job.run(steps[:at_repro])
    lock = job.workdir / "dvc.lock"
    lock_before = lock.read_text()
    keys_before = loop.s3.keys()
    branches_before = loop.branches()

    first = job.start_script(steps[at_repro]["run"])
    wait_for(lambda: lock.read_text() != lock_before or first.poll() is not None, "a stage")
    code, output, _ = job.run_script(steps[at_repro]["run"], {})
    seen["second_repro"] = {"code": code, "output": output}
    wait_for(lambda: running_stage(first.pid) or first.poll() is not None, "a stage command")
    seen["first_still_running"] = first.poll() is None
    kill_group(first)
    seen["after_kill"] = {
        "new_branches": sorted(loop.branches() - branches_before),
        "new_keys": sorted(set(loop.s3.keys()) - set(keys_before)),
        "tmp_files": sorted(
            str(p.relative_to(job.workdir))
            for p in job.workdir.rglob("*.tmp*")
            if ".dvc" not in p.parts and ".git" not in p.parts
        ),
    }

    def s3_down(step: str) -> None:
        if step == names[at_push]:
            loop.s3.stop()

    try:
        job.run(steps[at_repro:], before=s3_down)
    except StepFailed as failed:
        if failed.step != names[at_push]:  # S3 is still up: nothing to bring back, say why
            raise
        seen["push_failure"] = {"step": failed.step, "code": failed.code, "output": failed.output}
    else:
        raise RuntimeError(f"{names[at_push]!r} succeeded with the S3 endpoint down")
    seen["after_push_failure"] = {
        "new_branches": sorted(loop.branches() - branches_before),
        "prs": len(loop.prs()),
    }
    loop.s3.start()  # same port, same bucket: the store came back
    job.run(steps[at_push:])
    seen["outputs"] = job.outputs
    seen["seconds"] = job.seconds
    seen["workdir"] = str(job.workdir)
    return seen


def credential_faults(loop: Loop) -> dict[str, dict[str, Any]]:
    """retrain.yml's first S3 step with a wrong secret, an unknown key id, and no keys."""
    pull = step_named("retrain.yml", "retrain", "Check access to the DVC remote")
    good = loop.s3.credentials
    cases = {
        "wrong_secret": {**good, "AWS_SECRET_ACCESS_KEY": "not-the-secret"},
        "unknown_key": {**good, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
        "no_credentials": {},
    }
    seen = {}
    workdir = loop.clone("credentials")
    for label, creds in cases.items():
        env = {k: v for k, v in loop.env().items() if k not in good} | creds
        code, output, _ = Job(workdir, env).run_script(pull["run"], {})
        seen[label] = {"code": code, "output": output}
    return seen


def run_loop(
    base: Path,
    faults: bool = True,
    review: str | None = "Reproduce the pipeline",
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The loop end to end; returns what was seen, for the caller to check.

    `review`: run pr-report.yml on the first PR up to this step (None: skip it; "" is
    not a step name). By default it stops after `dvc repro`: with everything the PR names
    pulled from S3, that must rerun nothing; compare and report are retrain's commands.
    """
    loop = Loop(base)
    seen: dict[str, Any] = {"timings": {}, "seconds": {}}
    started = time.monotonic()

    def mark(what: str) -> None:
        seen["timings"][what] = round(time.monotonic() - started, 1)
        echo(f"[{seen['timings'][what]:6.1f} s] {what}")

    try:
        seen["v0"] = loop.setup()
        mark(f"origin ready: main has model {seen['v0']}")
        job1 = loop.retrain("retrain-1")
        seen["step1"] = job1.outputs
        seen["seconds"]["retrain-1"] = job1.seconds
        branch1 = job1.outputs["info"]["branch"]
        mark(f"retrain 1 opened a PR on {branch1}")
        if review:
            number = job1.outputs["pr"]["pull-request-number"]
            review = loop.pr_report("review-1", branch1, number, until=review)
            seen["review"] = {"outputs": review.outputs, "ran": review.ran}
            seen["review_repro"] = dict((n, out) for n, _, out in review.log)[
                "Reproduce the pipeline"
            ]
            seen["seconds"]["review"] = review.seconds
            mark("pr-report on that PR: pulled everything, nothing to rerun")
        seen["merge1"] = loop.merge(branch1)
        clone, release = loop.release_pull("fresh-clone")
        seen["released"] = release.outputs["model"]["version"]
        seen["fresh_clone"] = {
            "md5": md5(clone / "models" / "model.ubj"),
            "locked_md5": locked_md5(clone, "models/model.ubj"),
            "sha256": sha256(clone / "models" / "model.ubj"),
            "card": json.loads((clone / "models" / "model.json").read_text()),
        }
        with loop.serving(clone) as url:
            seen["smoke"] = loop.smoke(clone, url, seen["released"]).log[-1]
        mark(f"merged; a fresh clone pulled and served model {seen['released']}")
        if faults:
            seen["credentials"] = credential_faults(loop)
            mark("wrong credentials fail clearly")
            step2 = retrain_with_faults(loop, "retrain-2")
            seen["faults"] = step2
            seen["step2"] = step2["outputs"]
            seen["seconds"]["retrain-2"] = step2["seconds"]
        else:
            seen["step2"] = loop.retrain("retrain-2").outputs
        mark(f"retrain 2 opened a PR on {seen['step2']['info']['branch']}")
        loop.merge(seen["step2"]["info"]["branch"])
        before = loop.branches()
        job3 = loop.retrain("retrain-3")
        seen["step3"] = {"outputs": job3.outputs, "ran": job3.ran, "skipped": job3.skipped}
        seen["step3_new_branches"] = sorted(loop.branches() - before)
        mark(f"retrain 3: new_data={job3.outputs['advance']['new_data']}, nothing opened")
        seen["prs"] = loop.prs()
    finally:
        loop.close()
    return seen


def last_error(output: str) -> str:
    """The first line that says what went wrong, for the summary."""
    lines = [line for line in output.splitlines() if "error" in line.lower()]
    return (lines or output.splitlines() or [""])[0][:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        seen = run_loop(args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bikecast-loop-") as tmp:
            seen = run_loop(Path(tmp))
    summary = {k: seen[k] for k in ("v0", "released", "timings", "seconds")}
    summary["prs"] = [{k: v for k, v in pr.items() if k != "body"} for pr in seen["prs"]]
    faults = seen.get("faults", {})
    summary["messages"] = {
        **{k: last_error(v["output"]) for k, v in seen.get("credentials", {}).items()},
        "second_repro": last_error(faults.get("second_repro", {}).get("output", "")),
        "push_with_s3_down": last_error(faults.get("push_failure", {}).get("output", "")),
    }
    print(json.dumps(summary, indent=1))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
