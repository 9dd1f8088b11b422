"""Where prediction-log files go: a local directory or an S3 prefix, behind three calls.

S3 goes through boto3 with its default credential chain, the same one DVC's remote uses:
OIDC-assumed role variables in a workflow, the pod's role (IRSA) in Kubernetes,
AWS_ENDPOINT_URL_S3 for an S3-compatible server. boto3 is imported only for an s3:// URL.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from bikecast.errors import BikecastError


class DestinationError(BikecastError, OSError):
    """The destination refused or could not be reached; the message names it."""


class Destination(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def list_keys(self, prefix: str = "") -> list[str]: ...

    def get(self, key: str) -> bytes: ...


class LocalDestination:
    """Files under a directory; each appears whole (written beside it, then renamed)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            raise DestinationError(f"prediction log {self.url}: cannot write {key}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            raise DestinationError(f"prediction log {self.url}: no such directory")
        base = self.root / prefix if prefix else self.root
        found = base.rglob("*") if base.is_dir() else ()
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in found
            if p.is_file() and not p.name.startswith(".")
        )

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise DestinationError(f"prediction log {self.url}: cannot read {key}: {exc}") from exc


class S3Destination:
    """Objects under s3://bucket/prefix/. Timeouts are short and boto3's own retries few: the
    writer retries a failed batch itself, and a stalled call must not hold the batch long."""

    def __init__(self, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise DestinationError(f"prediction log {url!r}: no bucket (write s3://bucket/prefix)")
        self.url, self.bucket, self.prefix = url.rstrip("/"), bucket, prefix.strip("/")
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._client = boto3.session.Session().client("s3", config=config)
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, what: str, exc: Exception) -> DestinationError:
        return DestinationError(f"prediction log {self.url}: {what}: {type(exc).__name__}: {exc}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:  # botocore's errors have no common base with OSError
            raise self._fail(f"cannot write {key}", exc) from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(f"{self.prefix}/") if self.prefix else 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base
            )
            return sorted(obj["Key"][strip:] for page in pages for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._fail("cannot list", exc) from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise self._fail(f"cannot read {key}", exc) from exc


def destination(url: str | Path) -> Destination:
    """s3://bucket/prefix → S3; anything else is a local directory."""
    text = str(url)
    return S3Destination(text) if text.startswith("s3://") else LocalDestination(text)
