"""The small decisions the GitHub workflows need, kept out of YAML so they are tested.

Each function here is pure or touches one thing (a file, one URL, one subprocess); the CLI
wraps them as `bikecast retrain-info`, `bikecast model-version`, `bikecast smoke`,
`bikecast lock-check` and `bikecast outcome`. The workflows only wire these together.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bikecast import paths
from bikecast.errors import BikecastError

log = logging.getLogger(__name__)

BRANCH_PREFIX = "retrain/"


class GitopsError(BikecastError, RuntimeError):
    """A workflow helper could not do its job; the message says what and where."""


# --- retrain branch and PR metadata ---------------------------------------------------------


def retrain_branch(as_of: str) -> str:
    """`retrain/<date>` from the data window's end, in the offset it is written with.

    The same data window always maps to the same branch, so a rerun of the schedule
    updates the open PR instead of opening a second one.
    """
    import pandas as pd

    from bikecast.config import parse_timestamp

    parse_timestamp(as_of, "ingest.as_of")  # reject a malformed window loudly
    return f"{BRANCH_PREFIX}{pd.Timestamp(as_of).date().isoformat()}"


def retrain_info(
    params_path: Path = paths.PARAMS, card_path: Path = paths.MODEL_META
) -> dict[str, str]:
    """What the retrain workflow needs to name its branch, commit and PR."""
    from bikecast.config import load_params

    params = load_params(params_path)
    as_of = params.ingest.as_of
    branch = retrain_branch(as_of)
    info = {"branch": branch, "as_of": as_of, "date": branch.removeprefix(BRANCH_PREFIX)}
    if Path(card_path).exists():
        version = model_version(card_path)
        info["model_version"] = version
        info["title"] = f"Retrain: data up to {info['date']} (model {version})"
    else:
        info["title"] = f"Retrain: data up to {info['date']}"
    return info


def format_outputs(values: Mapping[str, str]) -> str:
    """`key=value` lines in the format of $GITHUB_OUTPUT (single-line values only)."""
    lines = []
    for key, value in values.items():
        text = str(value)
        if "\n" in text or "\r" in text:
            raise GitopsError(f"output {key!r} spans lines; GitHub outputs here are one line each")
        lines.append(f"{key}={text}")
    return "".join(f"{line}\n" for line in lines)


def append_outputs(values: Mapping[str, str], github_output: Path | None) -> str:
    """Append to $GITHUB_OUTPUT when given (always echoed back for the log)."""
    text = format_outputs(values)
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as fh:
            fh.write(text)
    return text


# --- model version --------------------------------------------------------------------------


def model_version(card_path: Path = paths.MODEL_META, model_path: Path | None = None) -> str:
    """The version recorded in the model card; with `model_path`, verified against the file."""
    from bikecast.ml.model import ModelError, file_sha256, load_card
    from bikecast.ml.model import model_version as version_of

    card = load_card(card_path)
    version = card.get("version")
    if not isinstance(version, str) or not version:
        raise ModelError(f"{card_path}: model card has no 'version'")
    if model_path is not None:
        if not Path(model_path).exists():
            raise ModelError(f"{model_path}: model file not found (run `dvc pull`)")
        actual = file_sha256(model_path)
        if card.get("sha256") != actual or version != version_of(actual):
            raise ModelError(
                f"{model_path}: sha256 {actual[:12]}… does not match {card_path} "
                f"(version {version}): pull the model and its card from the same revision"
            )
    return version


# --- smoke test of a deployed API -----------------------------------------------------------


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    attempts: int
    message: str


def served_version(payload: Any) -> str | None:
    """The model version in a GET /model answer (`version`, or `model_version`)."""
    if not isinstance(payload, dict):
        return None
    for key in ("version", "model_version"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    model = payload.get("model")
    return served_version(model) if isinstance(model, dict) else None


def fetch_json(url: str, timeout: float) -> Any:
    """GET `url` and decode JSON; raise GitopsError naming the URL on any failure."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise GitopsError(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GitopsError(f"GET {url}: {reason}") from exc
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise GitopsError(f"GET {url}: answer is not JSON ({exc})") from exc


def smoke(
    base_url: str,
    expect_version: str,
    attempts: int = 10,
    delay: float = 3.0,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    fetch: Callable[[str, float], Any] = fetch_json,
) -> SmokeResult:
    """Poll GET {base_url}/model until it serves `expect_version` or attempts run out.

    A rollout replaces pods one by one, so an old version or a refused connection is
    retried; only the final answer counts.
    """
    if attempts < 1:
        raise GitopsError("smoke: attempts must be at least 1")
    if not base_url.startswith(("http://", "https://")):
        raise GitopsError(f"smoke: --url {base_url!r} is not an http(s) URL (is API_URL set?)")
    url = base_url.rstrip("/") + "/model"
    last = "no answer"
    for attempt in range(1, attempts + 1):
        try:
            version = served_version(fetch(url, timeout))
        except GitopsError as exc:
            last = str(exc)
        else:
            if version == expect_version:
                return SmokeResult(True, attempt, f"{url} serves model {version}")
            last = f"{url} serves model {version!r}, expected {expect_version!r}"
        log.info("smoke attempt %d/%d: %s", attempt, attempts, last)
        if attempt < attempts:
            sleep(delay)
    return SmokeResult(False, attempts, last)


# --- dvc.lock freshness ---------------------------------------------------------------------


def lock_problems(status: Mapping[str, Any]) -> list[str]:
    """What in code, params or commands differs from dvc.lock, from `dvc status --json`.

    In a fresh clone nothing is pulled: every output is missing, and so is every dep that
    is another stage's output. Those are expected; a missing or modified source file, a
    changed param or a changed command is not.
    """
    outputs = {
        path
        for changes in status.values()
        for change in (changes if isinstance(changes, list) else [changes])
        if isinstance(change, dict)
        for path in change.get("changed outs", {})
    }
    problems: list[str] = []
    for stage, changes in sorted(status.items()):
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):
                if change != "always changed":
                    problems.append(f"{stage}: {change}")
                continue
            for path, state in sorted(change.get("changed deps", {}).items()):
                if isinstance(state, dict):  # a params file: {key: state}
                    problems += [
                        f"{stage}: param {k} {v} ({path})" for k, v in sorted(state.items())
                    ]
                elif not (state == "deleted" and path in outputs):
                    problems.append(f"{stage}: dep {path} {state}")
            problems += [
                f"{stage}: {kind} {detail}"
                for kind, detail in change.items()
                if kind not in ("changed deps", "changed outs")
            ]
    return problems


def dvc_status(cwd: Path = Path(".")) -> dict[str, Any]:
    """`dvc status --json` for the whole pipeline (local only: never touches a remote)."""
    proc = subprocess.run(  # this interpreter's dvc, whether or not the venv is on PATH
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitopsError(f"dvc status failed ({proc.returncode}): {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise GitopsError(f"dvc status printed no JSON: {proc.stdout[:200]!r}") from exc


# --- a command whose exit code is an answer (no new data, gate failed), not an error ----


def run_outcome(
    command: Sequence[str], false_codes: Sequence[int], name: str, github_output: Path | None
) -> tuple[int, str]:
    """Run `command`; record `name=true` on success, `name=false` on one of `false_codes`.

    Returns (exit code for the step, outputs text). Any other exit code fails the step
    with that code and records nothing, so later steps never run on a half-done state.
    """
    if not command:
        raise GitopsError("outcome: no command given (put it after --)")
    try:
        code = subprocess.run(list(command), check=False).returncode
    except FileNotFoundError as exc:
        raise GitopsError(f"outcome: {command[0]}: command not found") from exc
    if code == 0:
        return 0, append_outputs({name: "true"}, github_output)
    if code in false_codes:
        return 0, append_outputs({name: "false"}, github_output)
    return code, ""


# --- can this job reach the DVC remote? -----------------------------------------------------

REJECTED = {
    "InvalidAccessKeyId": "the access key id is unknown to the store",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "InvalidClientTokenId": "the session token is not valid",
    "ExpiredToken": "the session token has expired",
    "AccessDenied": "the identity is not allowed s3:ListBucket on this bucket and prefix",
    "AllAccessDisabled": "all access to this bucket is disabled",
}


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    endpoint: str | None
    region: str | None

    @property
    def bucket_prefix(self) -> tuple[str, str]:
        return split_s3_url(self.url)

    @property
    def where(self) -> str:
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"DVC remote '{self.name}' ({self.url}{at})"


def split_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> ("bucket", "some/prefix")."""
    if not url.startswith("s3://") or len(url) <= len("s3://"):
        raise GitopsError(f"{url!r} is not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def explain_s3_error(remote: Remote, code: str, message: str) -> str:
    """One line a person can act on, naming the remote, the S3 error and what to check."""
    if code in REJECTED:
        return (
            f"{remote.where} rejected the credentials: {code}: {message} ({REJECTED[code]}). "
            "In CI check vars.AWS_ROLE_ARN and the role's policy (README: The S3 remote); "
            "locally check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if code == "NoSuchBucket":
        bucket = remote.bucket_prefix[0]
        return f"{remote.where}: bucket {bucket!r} does not exist ({message})"
    return f"{remote.where}: {code}: {message}"


def dvc_remote(name: str | None = None, cwd: Path = Path(".")) -> Remote:
    """The remote as DVC sees it here: .dvc/config with .dvc/config.local on top."""
    from dvc.config import Config

    dvc_dir = Path(cwd) / ".dvc"
    if not dvc_dir.is_dir():
        raise GitopsError(f"{Path(cwd).resolve()} is not a DVC repository (no .dvc/)")
    config = Config(dvc_dir=str(dvc_dir))
    name = name or config["core"].get("remote")
    if not name:
        raise GitopsError("no default DVC remote: set one with `dvc remote default`")
    if name not in config["remote"]:
        raise GitopsError(f"no DVC remote named {name!r} in .dvc/config")
    conf = config["remote"][name]
    return Remote(name, conf["url"], conf.get("endpointurl"), conf.get("region"))


def check_remote(remote: Remote, client: Any = None) -> str:
    """List one key under the remote's prefix: proves the endpoint answers and the
    credentials may read it. Raises GitopsError with an actionable message otherwise."""
    import botocore.exceptions
    import botocore.session

    bucket, prefix = remote.bucket_prefix
    try:
        if client is None:
            client = botocore.session.get_session().create_client(
                "s3", endpoint_url=remote.endpoint, region_name=remote.region
            )
        answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except botocore.exceptions.NoCredentialsError as exc:
        raise GitopsError(
            f"{remote.where}: no AWS credentials found ({exc}). In CI the OIDC step "
            "(aws-actions/configure-aws-credentials with vars.AWS_ROLE_ARN) provides them; "
            "locally set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from exc
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        raise GitopsError(explain_s3_error(remote, code, str(error.get("Message", "")))) from exc
    except botocore.exceptions.EndpointConnectionError as exc:
        raise GitopsError(f"{remote.where}: cannot connect ({exc})") from exc
    seen = "has data" if answer.get("KeyCount", 0) else "is empty"
    return f"{remote.where} is reachable and readable; the prefix {seen}"
