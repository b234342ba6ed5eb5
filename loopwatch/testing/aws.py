"""A real AWS API emulator for tests: moto's server on 127.0.0.1, on a free port.

    with moto_server() as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="trail")

Clients carry the emulator's endpoint and dummy credentials explicitly, so nothing in
the environment (a real profile, a real AWS_ENDPOINT_URL) can send a test to AWS.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopwatch.net import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DUMMY = "testing"  # moto accepts any credentials; these can reach nothing real
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class MotoServer:
    endpoint_url: str

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client for ``service`` talking to this emulator."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]  # a str, not one Literal name
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=DUMMY,
            aws_secret_access_key=DUMMY,
            aws_session_token=DUMMY,
        )

    def s3(self, region: str = REGION) -> S3Client:
        """A typed S3 client talking to this emulator."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=DUMMY,
            aws_secret_access_key=DUMMY,
            aws_session_token=DUMMY,
        )


@contextmanager
def moto_server(host: str = "127.0.0.1") -> Iterator[MotoServer]:
    """Run ``moto.server.ThreadedMotoServer`` for the block; its state starts empty."""
    from moto.server import ThreadedMotoServer

    port = free_port(host)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    endpoint = f"http://{host}:{port}"
    try:
        # moto keeps its backends per process, not per server: what an earlier server in the
        # same test session created would still be there without this.
        request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        yield MotoServer(endpoint)
    finally:
        server.stop()


# Variables that would send boto3's default chain to a real profile instead.
PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def ambient_env(server: MotoServer) -> dict[str, str]:
    """The ``AWS_*`` variables that point boto3's default session (what a worker and the
    ``loopwatch`` commands use) at ``server``; unset PROFILE_VARIABLES beside them."""
    return {
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY,
        "AWS_SECRET_ACCESS_KEY": DUMMY,
        "AWS_DEFAULT_REGION": REGION,
    }
