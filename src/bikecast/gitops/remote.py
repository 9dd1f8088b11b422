"""`bikecast remote-check`: can this job reach the DVC remote (S3) and read from it?

One S3 call, before the slow `dvc pull`, so a wrong role, key or bucket fails in seconds
with the S3 error named and what to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bikecast.errors import GitopsError

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
