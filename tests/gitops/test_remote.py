"""bikecast.gitops.remote: reaching the S3 DVC remote, and S3 errors a person can act on."""

from __future__ import annotations

import pytest

from bikecast.errors import GitopsError
from bikecast.gitops import remote

REMOTE = remote.Remote("storage", "s3://my-bucket/bikecast", "http://127.0.0.1:9000", "us-east-1")


@pytest.mark.parametrize(
    ("url", "parts"),
    [("s3://b/p/q/", ("b", "p/q")), ("s3://b", ("b", "")), ("s3://b/", ("b", ""))],
)
def test_split_s3_url(url, parts):
    assert remote.split_s3_url(url) == parts


def test_split_s3_url_rejects_other_schemes():
    with pytest.raises(GitopsError, match="not an s3:// URL"):
        remote.split_s3_url("gs://bucket/x")


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
    assert "reachable and readable; the prefix has data" in remote.check_remote(REMOTE, client)
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
    with pytest.raises(GitopsError) as info:
        remote.check_remote(REMOTE, _Client(client_error(code, "try later")))
    message = str(info.value)
    assert expect in message
    assert "DVC remote 'storage' (s3://my-bucket/bikecast at http://127.0.0.1:9000)" in message


def test_check_remote_without_credentials_says_where_they_come_from():
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(GitopsError, match=r"no AWS credentials found.*AWS_ROLE_ARN"):
        remote.check_remote(REMOTE, _Client(NoCredentialsError()))


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
    found = remote.dvc_remote(cwd=tmp_path)
    assert found == remote.Remote(
        "storage", "s3://my-bucket/bikecast", "http://127.0.0.1:9000", "eu-west-1"
    )
    with pytest.raises(GitopsError, match="no DVC remote named 'other'"):
        remote.dvc_remote("other", cwd=tmp_path)
