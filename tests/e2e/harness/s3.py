"""The DVC remote: moto's S3 server on 127.0.0.1, with IAM checks on under README's policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

BUCKET = "bikecast-e2e"
PREFIX = "bikecast"
REGION = "us-east-1"
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
