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
from pathlib import Path
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


@contextmanager
def rejecting_aws(
    code: str = "ExpiredToken",
    message: str = "The security token included in the request is expired",
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """An HTTP server on ``host`` answering every request as AWS answers credentials it
    rejects: 403 with an XML error ``code``; yields its endpoint URL. The body is the query
    protocol's ``ErrorResponse`` (STS), which botocore's REST-XML parser (S3) reads too."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>loopwatch-test</RequestId></ErrorResponse>"
    ).encode()

    class Reject(BaseHTTPRequestHandler):
        def _reject(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _reject

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer((host, 0), Reject)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def credential_free_environment(home: Path) -> dict[str, str]:
    """Environment changes under which boto3 finds no credentials at all: no keys, no
    profile, config files under ``home`` that do not exist, no instance or container role."""
    return {
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
    }


# Variables that would hand boto3 credentials; tests unset them next to the ones above.
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)
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
