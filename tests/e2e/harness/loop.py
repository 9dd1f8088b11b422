"""The GitOps loop on this machine: the retrain and release workflows' own `run:` lines,
against a bare git repository as `origin` and a real S3 server (moto) on 127.0.0.1 as the
DVC remote. tests/e2e/test_gitops_loop.py runs `run_loop` once and asserts on what it saw;
scripts/e2e_loop.py runs it by hand.

1. origin: this repository with the replay window three weeks before the end of the seed
   and the replay's clock started there, trained and pushed (dvc push to S3, git push to
   the bare origin).
2. retrain, week 1: a fresh clone runs retrain.yml's job step by step; `uses:` steps are
   emulated (checkout = the clone, create-pull-request = commit + push of retrain/<date>),
   `run:` steps run as written with `uv run` mapped onto this venv. Each run's time is
   the Monday cron's of its week (BIKECAST_NOW; a runner uses its clock).
3. merge the retrain branch into main in origin; a fresh clone pulls the model named in
   dvc.lock from S3 with release.yml's own steps, `bikecast serve` serves it and
   release.yml's smoke step checks GET /model reports that version.
   While it serves, clients send a week of forecasts with a broken weather feed (a winter
   storm that is not there); the API logs them to S3 (s3://…/predictions).
4. week 2: monitor.yml's job scores that log against the rentals the replay has revealed
   by then, recommends retraining (live RMSLE far above the test RMSLE) and dispatches
   retrain.yml through a stand-in for GitHub's API. That dispatched retrain's challenger
   is made worse and fails the gate: its PR is opened, the run fails, nobody merges it, so
   main keeps week 1's window.
5. week 3 (with faults: killed mid-repro, S3 down during the push): the retrain moves on
   from main past the unmerged window, passes and is merged; week 4 has no new data and
   opens nothing.

Only the S3 server's address is local: the remote itself is configured the way a user
configures a real bucket (url committed in .dvc/config, endpoint in .dvc/config.local).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tests.e2e.harness import ROOT
from tests.e2e.harness.github import FakeGitHub, mark_merged, read_prs
from tests.e2e.harness.processes import (
    free_port,
    kill_group,
    running_stage,
    sh,
    stop_group,
    wait_for,
)
from tests.e2e.harness.s3 import BUCKET, PREFIX, REGION, S3
from tests.e2e.harness.workflow import CONTEXT, Job, StepFailed, job_steps, step_named

BIN = Path(sys.executable).parent  # this venv: bikecast, dvc
START_AS_OF = "2011-12-10T23:00:00-05:00"  # three 7-day steps before the seed's last hour
# the replay's clock read START_AS_OF at this real time (a Monday)
CLOCK_STARTED = pd.Timestamp("2024-01-01T06:00:00Z")
CRON_DELAY = pd.Timedelta("17min")  # retrain.yml runs Mondays at 06:17 UTC


def scheduled(week: int) -> str:
    """The time of the scheduled retrain `week` weeks after the replay's clock started."""
    return (CLOCK_STARTED + pd.Timedelta(weeks=week) + CRON_DELAY).isoformat()


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
        params["ingest"].update(
            source="replay",
            as_of=START_AS_OF,
            step="7D",
            replay_started=CLOCK_STARTED.isoformat(),
            replay_from=START_AS_OF,
        )
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

    def start_job(self, name: str, week: int | None = None, **context: str) -> Job:
        """A job about to run in a fresh clone of origin, as a GitHub runner would; `week`:
        it runs at that week's scheduled time (what `bikecast advance` takes as now)."""
        self.runs += 1
        context = {**CONTEXT, "github.run_id": str(self.runs), **context}
        env = self.env() if week is None else self.env(BIKECAST_NOW=scheduled(week))
        return Job(self.clone(name), env, context=context)

    def retrain(self, name: str, week: int, before: Callable[[str], None] | None = None) -> Job:
        """retrain.yml's job, every step, in a fresh clone of origin."""
        job = self.start_job(name, week)
        job.run(job_steps("retrain.yml", "retrain"), before=before)
        return job

    def main_as_of(self) -> str:
        """ingest.as_of on origin's main: the window of the model people get."""
        text = sh(["git", "show", "main:params.yaml"], self.origin, self.env()).stdout
        return yaml.safe_load(text)["ingest"]["as_of"]

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
        return read_prs(self.base)

    def merge(self, branch: str) -> str:
        """Merge the PR branch into main in origin (what the merge button does)."""
        ws = self.clone("merge")
        env = self.env()
        sh(["git", "merge", "-q", "--no-ff", f"origin/{branch}", "-m", f"Merge {branch}"], ws, env)
        sh(["git", "push", "-q", "origin", "main"], ws, env)
        mark_merged(self.base, branch)
        return sh(["git", "rev-parse", "HEAD"], ws, env).stdout.strip()

    def release_pull(self, name: str) -> tuple[Path, Job]:
        """release.yml's image job up to the model version, in a fresh clone of main."""
        cwd = self.clone(name)
        job = Job(cwd, self.env())
        names = ("Pull the model", "Read the model version")
        job.run([step_named("release.yml", "image", n) for n in names])
        return cwd, job

    @property
    def prediction_log(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}/predictions"

    @contextlib.contextmanager
    def serving(self, repo: Path) -> Iterator[str]:
        """`bikecast serve` on the clone's model, on 127.0.0.1, logging its forecasts to S3
        (written at its shutdown at the latest); yields its base URL."""
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
            env=self.env(
                BIKECAST_PREDICTION_LOG=self.prediction_log, AWS_ENDPOINT_URL_S3=self.s3.endpoint
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_group(proc)

    def smoke(self, repo: Path, url: str, version: str) -> Job:
        """release.yml's smoke step against a local server."""
        job = Job(repo, self.env(API_URL=url, MODEL_VERSION=version))
        job.run([step_named("release.yml", "deploy", "Smoke-test GET /model") | {"if": None}])
        return job

    def monitor(self, name: str, week: int) -> dict[str, Any]:
        """monitor.yml's job at that week's time, with GitHub's API on 127.0.0.1."""
        with FakeGitHub() as github:
            job = self.start_job(
                name, week, **{"vars.BIKECAST_PREDICTION_LOG": self.prediction_log}
            )
            job.env.update(github.env(), AWS_ENDPOINT_URL_S3=self.s3.endpoint)
            job.run(job_steps("monitor.yml", "monitor"))
        return {
            "outputs": job.outputs,
            "ran": job.ran,
            "dispatches": github.calls,
            "summary": json.loads((job.workdir / "metrics" / "monitor.json").read_text()),
            "step_summary": job.summary_path.read_text(),
            "artifacts": sorted(
                p.name for p in (self.base / "artifacts").rglob("*") if p.is_file()
            ),
        }

    def close(self) -> None:
        self.s3.stop()
        S3.release_auth()


def step_output(job: Job, name: str) -> str:
    """What a step of the job printed (its last run)."""
    return dict((step, output) for step, _, output in job.log)[name]


def retrain_failing_gate(loop: Loop, name: str, week: int) -> dict[str, Any]:
    """A scheduled retrain whose challenger is worse than main's model: one tree instead of
    the loop's 150, set in the clone before `dvc repro` (the PR shows that change), so it
    fails the gate even at the loop's tolerance of 1.0. The PR opens with the report, the
    run fails on the gate, and nobody merges it."""
    job = loop.start_job(name, week)

    def worse_challenger(step: str) -> None:
        if step == "Reproduce the pipeline":
            path = job.workdir / "params.yaml"
            params = yaml.safe_load(path.read_text())
            params["train"]["n_estimators"] = 1
            path.write_text(yaml.safe_dump(params, sort_keys=False))

    try:
        job.run(job_steps("retrain.yml", "retrain"), before=worse_challenger)
    except StepFailed as failed:
        failure = {"step": failed.step, "code": failed.code, "output": failed.output}
    else:
        raise RuntimeError("a retrain with a one-tree challenger passed the gate")
    return {
        "outputs": job.outputs,
        "failure": failure,
        "advance": step_output(job, "Advance the data window"),
        "compare": step_output(job, "Compare with main"),
        "main_as_of": loop.main_as_of(),
        "seconds": job.seconds,
    }


def retrain_with_faults(loop: Loop, name: str, week: int) -> dict[str, Any]:
    """A retrain that is killed mid-repro (with a second repro racing it), rerun, loses
    its S3 endpoint during `dvc push`, and is rerun again once S3 is back."""
    seen: dict[str, Any] = {}
    steps = job_steps("retrain.yml", "retrain")
    names = [step.get("name") for step in steps]
    at_repro = names.index("Reproduce the pipeline")
    at_push = names.index("Push artifacts to the DVC remote")
    job = loop.start_job(name, week)
    job.run(steps[:at_repro])
    seen["advance"] = step_output(job, "Advance the data window")
    lock = job.workdir / "dvc.lock"
    lock_before = lock.read_text()
    keys_before = loop.s3.keys()
    branches_before = loop.branches()
    prs_before = len(loop.prs())

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
        "new_prs": len(loop.prs()) - prs_before,
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
        job1 = loop.retrain("retrain-1", week=1)
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
            seen["traffic"] = stormy_week(url, loop.main_as_of())
        mark(f"merged; a fresh clone pulled and served model {seen['released']}")
        if faults:
            seen["credentials"] = credential_faults(loop)
            mark("wrong credentials fail clearly")
        seen["monitor"] = loop.monitor("monitor-1", week=2)
        verdict = seen["monitor"]["outputs"]["monitor"]["retrain_recommended"]
        mark(f"monitor on the live log: retrain_recommended={verdict}, retrain.yml dispatched")
        failed = retrain_failing_gate(loop, "retrain-failing", week=2)
        seen["failed_gate"] = failed
        seen["seconds"]["retrain-failing"] = failed["seconds"]
        mark(f"a worse challenger failed the gate; {failed['outputs']['info']['branch']} unmerged")
        if faults:
            step2 = retrain_with_faults(loop, "retrain-2", week=3)
            seen["faults"] = step2
            seen["step2"] = step2["outputs"]
            seen["step2_advance"] = step2["advance"]
            seen["seconds"]["retrain-2"] = step2["seconds"]
        else:
            job2 = loop.retrain("retrain-2", week=3)
            seen["step2"] = job2.outputs
            seen["step2_advance"] = step_output(job2, "Advance the data window")
        mark(f"retrain 2 moved on and opened a PR on {seen['step2']['info']['branch']}")
        loop.merge(seen["step2"]["info"]["branch"])
        before = loop.branches()
        job3 = loop.retrain("retrain-3", week=4)
        seen["step3"] = {"outputs": job3.outputs, "ran": job3.ran, "skipped": job3.skipped}
        seen["step3_new_branches"] = sorted(loop.branches() - before)
        mark(f"retrain 3: new_data={job3.outputs['advance']['new_data']}, nothing opened")
        seen["prs"] = loop.prs()
    finally:
        loop.close()
    return seen


STORM = {"temp_c": -5.0, "feels_like_c": -12.0, "humidity_pct": 95.0, "wind_kmh": 40.0}


def stormy_week(url: str, as_of: str) -> dict[str, Any]:
    """A client forecasts the week after the model's window, one request a day, with a
    broken weather feed: a winter storm, every hour, that is not there (each value within
    the training ranges, so only the live error can tell)."""
    import httpx

    first = pd.Timestamp(as_of) + pd.Timedelta(hours=1)
    hours = pd.date_range(first, periods=7 * 24, freq="h")
    statuses = []
    for day in range(7):
        records = [
            {"timestamp": ts.isoformat(), "weather": "heavy_precip", **STORM}
            for ts in hours[day * 24 : (day + 1) * 24]
        ]
        response = httpx.post(f"{url}/predict", json={"records": records}, timeout=30)
        statuses.append(response.status_code)
    return {"statuses": statuses, "forecasts": len(hours), "first": first.isoformat()}


def last_error(output: str) -> str:
    """The first line that says what went wrong, for the summary."""
    lines = [line for line in output.splitlines() if "error" in line.lower()]
    return (lines or output.splitlines() or [""])[0][:300]


def summary(seen: dict[str, Any]) -> dict[str, Any]:
    """What a person running the loop wants to see: versions, timings, PRs, failure lines."""
    out = {k: seen[k] for k in ("v0", "released", "timings", "seconds")}
    out["prs"] = [{k: v for k, v in pr.items() if k != "body"} for pr in seen["prs"]]
    monitored = seen.get("monitor", {}).get("summary", {})
    out["monitor"] = {k: monitored.get(k) for k in ("retrain_recommended", "reasons")}
    faults = seen.get("faults", {})
    out["messages"] = {
        **{k: last_error(v["output"]) for k, v in seen.get("credentials", {}).items()},
        "second_repro": last_error(faults.get("second_repro", {}).get("output", "")),
        "push_with_s3_down": last_error(faults.get("push_failure", {}).get("output", "")),
        "gate": last_error(seen.get("failed_gate", {}).get("failure", {}).get("output", "")),
    }
    return out
