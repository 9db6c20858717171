"""A real S3 API server on 127.0.0.1 for tests: moto in server mode, dummy credentials, one bucket.

    with s3_server(bucket="dvc") as s3:
        s3.endpoint   # http://127.0.0.1:<port>
        s3.env        # the variables a boto3/s3fs/DVC subprocess needs (credentials, region, checksums)

``s3_server_env`` is a pytest fixture over the same (function scope).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

# Dummy credentials (moto accepts any); recent botocore adds CRC checksums that S3-compatible stores may not
# speak, so they are computed/validated only when an operation requires them.
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    def client(self):  # boto3 client for assertions
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=ENV["AWS_DEFAULT_REGION"])

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))


@contextmanager
def s3_server(bucket: str = "test-bucket") -> Iterator[S3Server]:
    """Start moto's S3 server on a free port of 127.0.0.1, create ``bucket``, stop the server on exit.

    The AWS variables are set in this process for the duration (and given in ``.env`` for subprocesses)."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(endpoint=f"http://{host}:{port}", bucket=bucket, env=dict(ENV))
        s3.client().create_bucket(Bucket=bucket)
        yield s3
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_server_env() -> Iterator[S3Server]:
    with s3_server() as s3:
        yield s3
