"""bikecast/gitops.py: the decisions the workflows delegate to Python."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bikecast import gitops
from bikecast.cli import app
from bikecast.ml.model import ModelError, file_sha256

# `dvc status --json` in a fresh clone (nothing pulled), trimmed to three stages
FRESH = {
    "ingest": [{"changed outs": {"data/raw/hourly.parquet": "not in cache"}}],
    "validate": [
        {"changed deps": {"data/raw/hourly.parquet": "deleted"}},
        {"changed outs": {"data/interim/hourly.parquet": "not in cache"}},
    ],
    "train": [
        {"changed deps": {"data/interim/hourly.parquet": "deleted"}},
        {"changed outs": {"models/model.ubj": "not in cache"}},
    ],
}


@pytest.mark.parametrize(
    ("as_of", "branch"),
    [
        ("2011-12-17T23:00:00-05:00", "retrain/2011-12-17"),
        ("2011-12-18T04:00:00Z", "retrain/2011-12-18"),
        ("2012-03-11T03:00:00-04:00", "retrain/2012-03-11"),
    ],
)
def test_retrain_branch_uses_the_date_as_written(as_of, branch):
    assert gitops.retrain_branch(as_of) == branch


def test_retrain_branch_rejects_a_window_without_offset():
    with pytest.raises(ValueError, match="no UTC offset"):
        gitops.retrain_branch("2011-12-17T23:00:00")


def test_outputs_are_key_value_lines_and_refuse_newlines(tmp_path):
    out = tmp_path / "gh_output"
    out.write_text("earlier=1\n")
    text = gitops.append_outputs({"branch": "retrain/2011-12-17", "n": "3"}, out)
    assert text == "branch=retrain/2011-12-17\nn=3\n"
    assert out.read_text() == "earlier=1\n" + text
    with pytest.raises(gitops.GitopsError, match="spans lines"):
        gitops.format_outputs({"title": "a\nb"})


def write_model(tmp_path: Path, payload: bytes = b"model-bytes") -> tuple[Path, Path]:
    model = tmp_path / "model.ubj"
    model.write_bytes(payload)
    sha = file_sha256(model)
    card = tmp_path / "model.json"
    card.write_text(json.dumps({"version": sha[:12], "sha256": sha}))
    return model, card


def test_model_version_reads_the_card_and_verifies_the_file(tmp_path):
    model, card = write_model(tmp_path)
    assert gitops.model_version(card) == file_sha256(model)[:12]
    assert gitops.model_version(card, model) == file_sha256(model)[:12]
    model.write_bytes(b"another model")
    with pytest.raises(ModelError, match="does not match"):
        gitops.model_version(card, model)
    with pytest.raises(ModelError, match="not found"):
        gitops.model_version(card, tmp_path / "missing.ubj")
    card.write_text("{}")
    with pytest.raises(ModelError, match="no 'version'"):
        gitops.model_version(card)


def test_retrain_info_names_branch_title_and_version(tmp_path):
    _, card = write_model(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text('ingest:\n  as_of: "2011-12-10T23:00:00-05:00"\n')
    info = gitops.retrain_info(params, card)
    version = json.loads(card.read_text())["version"]
    assert info == {
        "branch": "retrain/2011-12-10",
        "as_of": "2011-12-10T23:00:00-05:00",
        "date": "2011-12-10",
        "model_version": version,
        "title": f"Retrain: data up to 2011-12-10 (model {version})",
    }


def test_fresh_clone_status_is_not_a_stale_lock():
    assert gitops.lock_problems(FRESH) == []
    assert gitops.lock_problems({}) == []


def test_stale_lock_names_params_code_and_commands():
    status = json.loads(json.dumps(FRESH))
    status["train"][0]["changed deps"]["src/bikecast/stages/train.py"] = "modified"
    status["validate"][0]["changed deps"]["params.yaml"] = {"validate.max_bad_fraction": "modified"}
    status["ingest"].append("changed command")
    status["features"] = [{"changed deps": {"src/bikecast/ml/features.py": "deleted"}}]
    assert gitops.lock_problems(status) == [
        "features: dep src/bikecast/ml/features.py deleted",
        "ingest: changed command",
        "train: dep src/bikecast/stages/train.py modified",
        "validate: param validate.max_bad_fraction modified (params.yaml)",
    ]


def test_smoke_retries_until_the_new_version_is_served():
    answers = iter(
        [gitops.GitopsError("connection refused"), {"version": "old"}, {"version": "new"}]
    )
    sleeps = []

    def fetch(url, timeout):
        assert url == "http://api.test/model"
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = gitops.smoke(
        "http://api.test/", "new", attempts=5, delay=2, sleep=sleeps.append, fetch=fetch
    )
    assert result.ok and result.attempts == 3
    assert sleeps == [2, 2]


def test_smoke_fails_with_the_last_answer():
    result = gitops.smoke(
        "http://api.test",
        "new",
        attempts=3,
        sleep=lambda s: None,
        fetch=lambda u, t: {"version": "old"},
    )
    assert not result.ok and result.attempts == 3
    assert "'old', expected 'new'" in result.message


def test_smoke_rejects_a_missing_url():
    with pytest.raises(gitops.GitopsError, match="not an http"):
        gitops.smoke("", "v1")


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
    assert gitops.served_version(payload) == version


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


@pytest.mark.parametrize(
    ("code", "step_code", "written"),
    [(0, 0, "new_data=true\n"), (3, 0, "new_data=false\n"), (1, 1, "")],
)
def test_outcome_maps_exit_codes(tmp_path, code, step_code, written):
    out = tmp_path / "out"
    out.touch()
    result = CliRunner().invoke(
        app,
        [
            "outcome", "--output", "new_data", "--false-code", "3", "--github-output", str(out),
            "--", sys.executable, "-c", f"raise SystemExit({code})",
        ],
    )  # fmt: skip
    assert result.exit_code == step_code, result.output
    assert out.read_text() == written


def test_outcome_needs_a_command():
    result = CliRunner().invoke(app, ["outcome", "--output", "x", "--false-code", "3"])
    assert result.exit_code == 1
    assert "no command given" in result.output


def test_retrain_info_command_writes_github_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text('ingest:\n  as_of: "2011-12-10T23:00:00-05:00"\n')
    out = tmp_path / "gh"
    result = CliRunner().invoke(app, ["retrain-info"], env={"GITHUB_OUTPUT": str(out)})
    assert result.exit_code == 0, result.output
    assert "branch=retrain/2011-12-10\n" in out.read_text()
    assert "title=Retrain: data up to 2011-12-10\n" in out.read_text()


REMOTE = gitops.Remote("storage", "s3://my-bucket/bikecast", "http://127.0.0.1:9000", "us-east-1")


@pytest.mark.parametrize(
    ("url", "parts"),
    [("s3://b/p/q/", ("b", "p/q")), ("s3://b", ("b", "")), ("s3://b/", ("b", ""))],
)
def test_split_s3_url(url, parts):
    assert gitops.split_s3_url(url) == parts


def test_split_s3_url_rejects_other_schemes():
    with pytest.raises(gitops.GitopsError, match="not an s3:// URL"):
        gitops.split_s3_url("gs://bucket/x")


class _Client:
    def __init__(self, error=None, keys=0):
        self.error, self.keys, self.calls = error, keys, []

    def list_objects_v2(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"KeyCount": self.keys}


def client_error(code, message):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")


def test_check_remote_lists_one_key_under_the_prefix():
    client = _Client(keys=1)
    assert "reachable and readable; the prefix has data" in gitops.check_remote(REMOTE, client)
    assert client.calls == [{"Bucket": "my-bucket", "Prefix": "bikecast", "MaxKeys": 1}]


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("InvalidAccessKeyId", "the access key id is unknown"),
        ("SignatureDoesNotMatch", "the secret key does not match"),
        ("AccessDenied", "not allowed s3:ListBucket"),
        ("NoSuchBucket", "bucket 'my-bucket' does not exist"),
        ("SlowDown", "SlowDown: try later"),
    ],
)
def test_check_remote_names_the_s3_error(code, expect):
    with pytest.raises(gitops.GitopsError) as info:
        gitops.check_remote(REMOTE, _Client(client_error(code, "try later")))
    message = str(info.value)
    assert expect in message
    assert "DVC remote 'storage' (s3://my-bucket/bikecast at http://127.0.0.1:9000)" in message


def test_check_remote_without_credentials_says_where_they_come_from():
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(gitops.GitopsError, match=r"no AWS credentials found.*AWS_ROLE_ARN"):
        gitops.check_remote(REMOTE, _Client(NoCredentialsError()))


def test_dvc_remote_reads_config_and_config_local(tmp_path):
    dvc = tmp_path / ".dvc"
    dvc.mkdir()
    (dvc / "config").write_text(
        "[core]\n    remote = storage\n"
        "['remote \"storage\"']\n    url = s3://my-bucket/bikecast\n    region = eu-west-1\n"
    )
    (dvc / "config.local").write_text(
        "['remote \"storage\"']\n    endpointurl = http://127.0.0.1:9000\n"
    )
    remote = gitops.dvc_remote(cwd=tmp_path)
    assert remote == gitops.Remote(
        "storage", "s3://my-bucket/bikecast", "http://127.0.0.1:9000", "eu-west-1"
    )
    with pytest.raises(gitops.GitopsError, match="no DVC remote named 'other'"):
        gitops.dvc_remote("other", cwd=tmp_path)
