"""The Dockerfile, .dockerignore, deploy manifests and the serving dependency set, checked
statically (no container engine here; the release workflow builds the image for real).

hadolint is neither a Debian package nor an offline wheel, so the Dockerfile is parsed here
with the same line rules Docker uses (continuations, comments, exec-form JSON).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from tests.serve.test_app import train_tiny_model

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_ONLY = {"dvc", "dvc-s3", "dvclive", "evidently", "pandera", "scikit-learn", "matplotlib"}
IMAGE_FILES = ("models/model.onnx", "models/model.json", "metrics/evaluate.json")


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with `\\` continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def test_dockerfile_is_multi_stage_on_slim_python(dockerfile):
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1] for k, a in dockerfile if k == "ARG" and "=" in a
    }
    froms = [a for k, a in dockerfile if k == "FROM"]
    assert len(froms) >= 2
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)
    assert froms[-1].split()[-1] == "runtime"
    final = stages(dockerfile)[-1]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final


def test_dockerfile_installs_only_the_serving_dependencies(dockerfile):
    runs = [a for k, a in dockerfile if k == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs and all("--no-dev" in r and "--locked" in r for r in syncs)
    text = " ".join(runs)
    assert "--extra" not in text and "--all-extras" not in text and "[pipeline]" not in text
    for name in PIPELINE_ONLY | {"nvidia", "cuda"}:
        assert name not in text.lower()


def test_serving_dependency_closure_has_no_pipeline_or_cuda_package():
    """Walk uv.lock from bikecast's core `dependencies` (what `uv sync --no-dev` installs)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    todo = [d["name"] for d in packages["bikecast"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(d["name"] for d in packages[name].get("dependencies", []))
    assert {"fastapi", "uvicorn", "onnxruntime", "prometheus-client"} <= seen
    assert not seen & PIPELINE_ONLY
    # the API runs the ONNX export: no XGBoost, hence no scipy, no CUDA
    assert not seen & {"xgboost", "xgboost-cpu", "scipy", "scikit-learn", "onnxmltools", "pandas"}
    assert not any(n.startswith("nvidia") for n in seen)


def test_dockerfile_copies_the_model_and_its_metadata(dockerfile):
    final = stages(dockerfile)[-1]
    copied = " ".join(a for k, a in final if k == "COPY")
    for path in IMAGE_FILES:
        assert path in copied
    env = " ".join(a for k, a in final if k == "ENV")
    for var in ("BIKECAST_MODEL_PATH=/app/models/model.onnx", "BIKECAST_GIT_SHA=${GIT_SHA}"):
        assert var in env
    verify = [a for k, a in final if k == "RUN" and "load_model" in a]
    assert verify, "the build verifies the model's sha256"


def test_the_image_carries_no_params_yaml(dockerfile):
    """The service is configured by BIKECAST_* variables; the pipeline's params stay out."""
    final = stages(dockerfile)[-1]
    copied = " ".join(a for k, a in final if k == "COPY")
    env = " ".join(a for k, a in final if k == "ENV")
    assert "params.yaml" not in copied
    assert "PARAMS_PATH" not in env


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    return train_tiny_model(tmp_path_factory.mktemp("image") / "models")


@pytest.mark.parametrize("label", ["unknown", "the model's", "another"])
def test_the_build_check_loads_the_model_and_compares_the_label(dockerfile, image_model, label):
    """The Dockerfile's own check, run here on a model in place of /app/models/."""
    version = json.loads(image_model.with_suffix(".json").read_text())["version"]
    (verify,) = [a for k, a in stages(dockerfile)[-1] if k == "RUN" and "load_model" in a]
    argv = shlex.split(verify)
    assert argv[:2] == ["python", "-c"]
    given = {"unknown": "unknown", "the model's": version, "another": "0123456789ab"}[label]
    code = argv[2].replace("/app/models/", f"{image_model.parent}/")
    code = code.replace("${MODEL_VERSION}", given)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if label == "another":
        assert proc.returncode == 1
        assert f"MODEL_VERSION 0123456789ab != {version}" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr


def test_dockerfile_runs_as_non_root_with_healthcheck_and_port(dockerfile):
    final = stages(dockerfile)[-1]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in final
    (healthcheck,) = [a for k, a in final if k == "HEALTHCHECK"]
    exec_form = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert exec_form[0] == "python" and "http://127.0.0.1:8000/health" in exec_form[-1]
    compile(exec_form[-1], "healthcheck", "exec")
    (cmd,) = [a for k, a in final if k == "CMD"]
    assert json.loads(cmd)[:2] == ["bikecast", "serve"]
    assert "8000" in json.loads(cmd)


def test_dockerfile_has_oci_labels(dockerfile):
    final = stages(dockerfile)[-1]
    labels = dict(item.split("=", 1) for k, a in final if k == "LABEL" for item in shlex.split(a))
    assert labels["org.opencontainers.image.source"] == "${SOURCE_URL}"
    assert labels["org.opencontainers.image.revision"] == "${GIT_SHA}"
    assert labels["org.opencontainers.image.version"] == "${MODEL_VERSION}"
    declared = {a.split("=")[0] for k, a in final if k == "ARG"}
    assert {"GIT_SHA", "MODEL_VERSION", "SOURCE_URL"} <= declared


def _glob_regex(glob: str) -> str:
    """A .dockerignore glob as a regex: `**` spans directories, `*` and `?` do not."""
    out = ""
    for token in re.split(r"(\*\*/?|\*|\?)", glob):
        if token.startswith("**"):
            out += "(?:.*/)?" if token.endswith("/") else ".*"
        elif token == "*":
            out += "[^/]*"
        elif token == "?":
            out += "[^/]"
        else:
            out += re.escape(token)
    return out


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").rstrip("/"))
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_data_and_caches_out_but_not_what_the_image_copies(dockerfile):
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        src
        for k, a in dockerfile
        if k == "COPY" and not a.startswith("--from")
        for src in a.split()[:-1]
    ]
    for src in [*copied, "src/bikecast/serve/app.py"]:
        assert not dockerignored(src.rstrip("/"), patterns), src
    for path in (
        "data/seed/bikeshare_dc_2011.csv.gz",
        "data/raw/hourly.parquet",
        ".dvc/cache/files/md5/ab/cdef",
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "dvclive/metrics.json",
        "models/old.ubj",
        "src/bikecast/__pycache__/app.cpython-311.pyc",
    ):
        assert dockerignored(path, patterns), path


# --- deploy/ ----------------------------------------------------------------------------


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    docs = [d for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")) for d in _docs(path)]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


# The oldest Kubernetes minor still in upstream support when this was written, and the newest
# whose schemas kubernetes-validate bundles: the manifests must be valid on both.
K8S_VERSIONS = ("1.31.0", "latest")


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_match_the_kubernetes_schemas_offline(manifests, version):
    """Strict: an unknown field (a misspelt probe, a key at the wrong level) is an error, not
    silently ignored by the API server's pruning."""
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.latest_version()
    for doc in manifests.values():
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError
    broken = json.loads(json.dumps(manifests["Deployment"]))
    pod = broken["spec"]["template"]["spec"]
    pod["containers"][0]["readinesProbe"] = pod["containers"][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, version, strict=True)
    broken = json.loads(json.dumps(manifests["HorizontalPodAutoscaler"]))
    broken["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError, match="not of type 'integer'"):
        kubernetes_validate.validate(broken, version, strict=True)


def test_deployment_probes_resources_and_security(manifests):
    deployment = manifests["Deployment"]
    assert deployment["metadata"]["name"] == "bikecast"  # the release workflow's default
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "api"
    assert container["image"].startswith("ghcr.io/")
    port = container["ports"][0]
    assert (port["name"], port["containerPort"]) == ("http", 8000)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["privileged"] is False and pod["automountServiceAccountToken"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_service_and_autoscaler_point_at_the_deployment(manifests):
    deployment, service, hpa = (
        manifests[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler")
    )
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert (
        manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items()
        <= labels.items()
    )


def test_compose_runs_the_published_image_locked_down():
    (compose,) = _docs(ROOT / "deploy/compose.yaml")
    api = compose["services"]["api"]
    assert api["image"] == "ghcr.io/OWNER/bikecast:latest"
    assert any(str(p).endswith("8000:8000") for p in api["ports"])
    assert api["read_only"] is True
    assert api["user"].split(":")[0] not in {"root", "0"}
    assert "no-new-privileges:true" in api["security_opt"]
    check = api["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"] and "127.0.0.1:8000/" in check[3]


def test_the_deployment_runs_the_image_as_the_container_check_does(manifests, dockerfile):
    """scripts/container_check.py runs the image as Kubernetes will: the Dockerfile's uid,
    a read-only root with only /tmp writable, every capability dropped."""
    (user,) = [a for k, a in stages(dockerfile)[-1] if k == "USER"]
    uid, gid = (int(part) for part in user.split(":"))
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        uid,
        gid,
    )
    (container,) = pod["containers"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    check = (ROOT / "scripts/container_check.py").read_text()
    for flag in ('"--read-only"', '"--tmpfs", "/tmp', '"--cap-drop", "ALL"'):
        assert flag in check
    assert f'"{uid}:{gid}"' in check  # the check refuses an image with another user
    grace = int(re.search(r"^GRACE_S = (\d+)", check, flags=re.M).group(1))
    assert grace <= pod["terminationGracePeriodSeconds"]
