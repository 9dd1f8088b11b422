"""Build the real Dockerfile with podman and check the image from outside, as a deployer would.

    uv run python scripts/container_check.py              # from a checkout with models/ (dvc pull)
    uv run python scripts/container_check.py --repo DIR   # models/ and metrics/ from DIR
    uv run python scripts/container_check.py --keep       # leave the image for a manual look

Needs podman and runc, and mmdebstrap the first time (`apt-get install -y podman runc
mmdebstrap`): Docker Hub is out of reach here, so a base standing in for
`python:3.11-slim-bookworm` is made locally once (Debian bookworm made as
`debian:bookworm-slim` is, with python3 and pip; 30 s to 2 min) and reused. The checks:

- the build passes, and fails for a context without the model or with a corrupt one;
- the image runs as uid 10001, has its HEALTHCHECK (Docker format) and that check passes;
- it serves with a read-only root filesystem (only /tmp a tmpfs), and cannot write /app;
- `/ready` is 200 with the model version the image label names;
- `/predict` equals the pipeline's prediction for the same record (the ONNX export in
  process, exactly; XGBoost's own file, within the export's tolerance);
- SIGTERM (`podman stop`) ends it cleanly (exit 0) within the grace period;
- its prediction log reaches S3 (moto on 127.0.0.1) through the image's boto3, with
  botocore's service models pruned to S3 and STS: the forecast served is the line written
  at shutdown;
- the image installs only what serving imports: every distribution in it has a module the
  running server imported (Python's import-time log), but the few OPTIONAL ones.

It prints the image size and what the Dockerfile adds to the base, and saves every figure
to bench/out/container.json. Exit 1 names the first check that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PODMAN = ["podman", "--runtime", "runc"]  # crun cannot set rlimits on these machines
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BASE = "localhost/bikecast-base:3.11-slim-bookworm-standin"
PORT = 8000  # the image's CMD and HEALTHCHECK use it
GRACE_S = 10
RECORD = {
    "timestamp": "2011-12-05T08:00:00-05:00",
    "temp_c": 6.5,
    "feels_like_c": 4.0,
    "humidity_pct": 70,
    "wind_kmh": 11,
    "weather": "mist",
}
# Made as Docker's debian:bookworm-slim is (debuerreotype's minbase, merged /usr without the
# usrmerge package and its perl, no docs, man pages or translations), with what the
# python:3.11-slim image adds on it (ca-certificates, netbase, tzdata; Python with pip), so
# the image's size is close to the one built on the real base.
SLIM = [
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    *(f"--dpkgopt=path-exclude=/usr/share/{d}/*"
      for d in ("doc", "man", "info", "locale", "lintian", "linda", "groff")),
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
]  # fmt: skip
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates,netbase,tzdata"
BASE_CONTAINERFILE = """\
FROM localhost/bikecast-base-rootfs:bookworm
RUN ln -sf /usr/bin/python3 /usr/local/bin/python
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_BREAK_SYSTEM_PACKAGES=1 \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
"""


# Installed for a case the check's run does not meet; each says which.
OPTIONAL = {
    "tzdata": "zoneinfo's fallback where the base has no /usr/share/zoneinfo",
    "idna": "anyio and urllib3 encode a host name that is not ASCII with it",
}


class CheckFailed(SystemExit):
    def __init__(self, what: str) -> None:
        super().__init__(f"container check failed: {what}")


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise CheckFailed(f"podman {' '.join(args[:3])} … exited {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-600:]}")  # fmt: skip
    return proc


def ensure_base() -> float:
    """The stand-in base image, made once; seconds spent making it (0 when it existed)."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return 0.0
    for tool in ("mmdebstrap", "runc"):
        if shutil.which(tool) is None:
            raise CheckFailed(f"{tool} not found: apt-get install -y podman runc mmdebstrap")
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--quiet", *SLIM, f"--include={BASE_PACKAGES}",
             "bookworm", str(rootfs)],
            check=True, timeout=900,
        )  # fmt: skip
        podman("import", str(rootfs), "localhost/bikecast-base-rootfs:bookworm")
        (Path(tmp) / "Containerfile").write_text(BASE_CONTAINERFILE)
        bundle = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        shutil.copy(bundle, Path(tmp) / "ca-certificates.crt")  # the registry's CA, for pip/uv
        podman("build", "--format", "docker", "--network", "host", *ULIMITS, "-t", BASE, tmp)
    return time.monotonic() - start


def context(repo: Path, into: Path) -> Path:
    """The build context the .dockerignore allowlist lets through, copied into `into`: the
    code from this checkout, the model and metrics (what DVC produced) from `repo`."""
    allowed = [
        line[1:].strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for entry in [*allowed, "Dockerfile", ".dockerignore"]:
        entry = entry.rstrip("/")
        source = (repo if entry.startswith(("models/", "metrics/")) else ROOT) / entry
        target = into / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    return into


def build(ctx: Path, tag: str, version: str, check: bool = True) -> subprocess.CompletedProcess:
    return podman(
        "build", "--format", "docker", "--network", "host", *ULIMITS,
        "--build-arg", f"PYTHON_IMAGE={BASE}",
        "--build-arg", f"MODEL_VERSION={version}",
        "--build-arg", f"GIT_SHA={git_sha(ROOT)}",
        "-t", tag, str(ctx),
        check=check,
    )  # fmt: skip


def git_sha(path: Path) -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"


def inspect(ref: str, kind: str = "image") -> dict:
    return json.loads(podman(kind, "inspect", ref).stdout)[0]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_ready(url: str, name: str, seconds: float = 90) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url + "/ready", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        state = inspect(name, "container")["State"]
        if not state["Running"]:
            logs = podman("logs", name, check=False).stdout[-800:]
            raise CheckFailed(f"the container exited {state['ExitCode']} before /ready: {logs}")
        time.sleep(0.3)
    raise CheckFailed(f"/ready not 200 within {seconds:.0f} s")


def expected_predictions(repo: Path) -> tuple[float, float]:
    """The pipeline's prediction for RECORD: the ONNX export and XGBoost's own file."""
    import pandas as pd

    from bikecast.ml.model import load_model, predict

    frame = pd.DataFrame(
        [{**RECORD, "timestamp": pd.Timestamp(RECORD["timestamp"]).tz_convert("UTC")}]
    )
    card = repo / "models/model.json"
    onnx, _ = load_model(repo / "models/model.onnx", card, threads=1)
    booster, _ = load_model(repo / "models/model.ubj", card, threads=1)
    return float(predict(onnx, frame)[0]), float(predict(booster, frame)[0])


def log_bucket() -> dict:
    """moto's S3 on 127.0.0.1 with an empty bucket, and the container's settings for it."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    keys = {"aws_access_key_id": "check", "aws_secret_access_key": "check"}
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket="bikecast-check")
    env = {
        "BIKECAST_PREDICTION_LOG": "s3://bikecast-check/predictions",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "check",
        "AWS_SECRET_ACCESS_KEY": "check",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return {"server": server, "client": client, "env": env}


def logged_predictions(s3: dict) -> list[float]:
    from bikecast.prediction_log.records import decode

    client = s3["client"]
    listed = client.list_objects_v2(Bucket="bikecast-check", Prefix="predictions/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    lines = [
        line
        for key in keys
        for line in decode(client.get_object(Bucket="bikecast-check", Key=key)["Body"].read())
    ]
    return [line["prediction"] for line in lines]


def imported_modules(stderr: str) -> set[str]:
    """Top-level modules named by Python's import-time log (PYTHONPROFILEIMPORTTIME=1)."""
    lines = (line.partition("|")[2] for line in stderr.splitlines() if "import time:" in line)
    names = {line.rpartition("|")[2].strip().split(".")[0] for line in lines}
    return names - {"", "imported package"}


def never_imported(tag: str, imported: set[str]) -> list[str]:
    """The distributions in the image's venv that no imported module belongs to."""
    script = (
        "import importlib.metadata as m, json; "
        "names = sorted({d.metadata['Name'] for d in m.distributions()}); "
        "print(json.dumps({'installed': names, 'modules': m.packages_distributions()}))"
    )
    found = json.loads(
        podman("run", "--rm", *ULIMITS, "--entrypoint", "python", tag, "-c", script).stdout
    )
    used = {
        dist for module, dists in found["modules"].items() if module in imported for dist in dists
    }
    return sorted(set(found["installed"]) - used - set(OPTIONAL) - {"bikecast"})


def run_checks(repo: Path, keep: bool) -> dict:
    from bikecast.ml.card import ModelCard
    from bikecast.ml.runtime import ONNX_TOLERANCE

    version = ModelCard.read(repo / "models/model.json").version
    tag = f"localhost/bikecast:check-{version}"
    name = f"bikecast-check-{os.getpid()}"
    figures: dict = {"model_version": version, "base_made_s": round(ensure_base(), 1)}
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(repo, Path(tmp) / "ok")
        start = time.monotonic()
        build(ctx, tag, version)
        figures["build_s"] = round(time.monotonic() - start, 1)

        # the build refuses a context without the model, and one with a corrupt model
        missing = context(repo, Path(tmp) / "missing")
        (missing / "models/model.onnx").unlink()
        failed = build(missing, f"{tag}-missing", version, check=False)
        if failed.returncode == 0:
            raise CheckFailed("the build passed without models/model.onnx")
        corrupt = context(repo, Path(tmp) / "corrupt")
        data = bytearray((corrupt / "models/model.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (corrupt / "models/model.onnx").write_bytes(bytes(data))
        failed = build(corrupt, f"{tag}-corrupt", version, check=False)
        if failed.returncode == 0 or "does not match" not in failed.stdout + failed.stderr:
            raise CheckFailed(
                "the build passed (or failed for another reason) with a corrupt model"
            )
        figures["bad_models_refused"] = ["missing", "corrupt"]

    image, base = inspect(tag), inspect(BASE)
    config = image["Config"]
    figures["image_bytes"], figures["base_bytes"] = image["Size"], base["Size"]
    figures["added_bytes"] = image["Size"] - base["Size"]
    if config.get("User") != "10001:10001":
        raise CheckFailed(f"the image runs as {config.get('User')!r}, not 10001:10001")
    health = image.get("Healthcheck") or config.get("Healthcheck") or {}  # podman: top level
    if "/health" not in " ".join(health.get("Test", [])):
        raise CheckFailed(f"no HEALTHCHECK on /health in the image config ({health})")
    label = config.get("Labels", {}).get("io.github.bikecast.model.version")
    if label != version:
        raise CheckFailed(f"label io.github.bikecast.model.version {label!r} != {version}")

    if not port_free(PORT):
        raise CheckFailed(f"port {PORT} is taken on 127.0.0.1 (the image serves on it)")
    s3 = log_bucket()
    podman(
        "run", "-d", "--name", name, "--network", "host", *ULIMITS,
        "--read-only", "--tmpfs", "/tmp:rw,size=16m", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "-e", "BIKECAST_REQUIRE_MODEL=true",
        "-e", "PYTHONPROFILEIMPORTTIME=1",  # what the server imports, for never_imported()
        *[f"--env={k}={v}" for k, v in s3["env"].items()], tag,
    )  # fmt: skip
    url = f"http://127.0.0.1:{PORT}"
    try:
        start = time.monotonic()
        ready = wait_ready(url, name).json()
        figures["ready_s"] = round(time.monotonic() - start, 1)
        if ready["model_version"] != label:
            raise CheckFailed(f"/ready serves {ready['model_version']}, the label says {label}")
        uid = podman("exec", name, "id", "-u").stdout.strip()
        if uid != "10001":
            raise CheckFailed(f"the server runs as uid {uid}")
        write = podman("exec", name, "python", "-c", "open('/app/x', 'w')", check=False)
        if write.returncode == 0 or "Read-only file system" not in write.stderr:
            raise CheckFailed(f"/app is writable in the container ({write.stderr.strip()[-200:]})")
        if podman("healthcheck", "run", name, check=False).returncode != 0:
            raise CheckFailed("the image's HEALTHCHECK command fails in the running container")
        response = httpx.post(url + "/predict", json={"records": [RECORD]}, timeout=10)
        if response.status_code != 200:
            raise CheckFailed(f"/predict {response.status_code}: {response.text[:200]}")
        served = response.json()["predictions"][0]
        onnx, xgb = expected_predictions(repo)
        for path in ("/model", "/metrics"):
            if (got := httpx.get(url + path, timeout=10)).status_code != 200:
                raise CheckFailed(f"GET {path} {got.status_code}: {got.text[:200]}")
        figures["predict"] = {"served": served, "onnx_in_process": onnx, "xgboost": xgb}
        if served != onnx:
            raise CheckFailed(f"/predict {served} != the pipeline's ONNX prediction {onnx}")
        if abs(served - xgb) > abs(xgb) * ONNX_TOLERANCE + 1e-3:
            raise CheckFailed(f"/predict {served} is not XGBoost's {xgb} within the tolerance")

        start = time.monotonic()
        podman("stop", "-t", str(GRACE_S), name)
        figures["stop_s"] = round(time.monotonic() - start, 1)
        state = inspect(name, "container")["State"]
        logs = podman("logs", name, check=False)
        if state["ExitCode"] != 0 or figures["stop_s"] >= GRACE_S:
            raise CheckFailed(
                f"SIGTERM: exit {state['ExitCode']} after {figures['stop_s']} s (grace {GRACE_S} s)"
            )
        if "Application shutdown complete" not in logs.stdout + logs.stderr:
            raise CheckFailed("SIGTERM: uvicorn did not log a clean shutdown")
        logged = logged_predictions(s3)
        if logged != [round(served, 3)]:  # the log keeps forecasts to 3 decimals
            raise CheckFailed(f"the prediction log in S3 holds {logged}, not [{served}]")
        figures["prediction_log_s3"] = "the served forecast was written at shutdown"
        unused = never_imported(tag, imported_modules(logs.stderr))
        if unused:
            raise CheckFailed(f"the image installs what serving never imports: {unused}")
    finally:
        s3["server"].stop()
        podman("rm", "-f", name, check=False)
        if not keep:
            for suffix in ("", "-missing", "-corrupt"):
                podman("rmi", "-f", f"{tag}{suffix}", check=False)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo", type=Path, default=ROOT, help="where models/ and metrics/ come from"
    )
    parser.add_argument("--keep", action="store_true", help="keep the image afterwards")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/container.json")
    args = parser.parse_args()
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            raise CheckFailed(f"{tool} not found: apt-get install -y podman runc mmdebstrap")
    if not (args.repo / "models/model.onnx").exists():
        raise CheckFailed(f"{args.repo}/models/model.onnx not found: run `dvc pull` or `dvc repro`")
    figures = run_checks(args.repo.resolve(), args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    mb = 1e6
    print(
        f"container check passed: model {figures['model_version']}, image "
        f"{figures['image_bytes'] / mb:.0f} MB, of which the Dockerfile adds "
        f"{figures['added_bytes'] / mb:.0f} MB "
        f"(stand-in base {figures['base_bytes'] / mb:.0f} MB); "
        f"build {figures['build_s']} s, ready in {figures['ready_s']} s, stop {figures['stop_s']} s"
        f" → {args.out}"
    )


if __name__ == "__main__":
    sys.exit(main())
