"""Helpers for testing actions against real parts: a receiver that never answers, Lambda
functions in the moto emulator, moto's IAM enforcement switched on for a block.

    with moto_server() as aws:
        arn = create_function(aws, "thumb", reserved=25)
        access = emulator_access(aws)
"""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from loopwatch.actions.aws import LambdaAccess

if TYPE_CHECKING:
    from loopwatch.testing.aws import MotoServer

EXECUTION_ROLE = "loopwatch-test-execution"


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers, until closed.

    ``url`` is an http URL to it. Connections are held open (not reset), so a client waits
    for its own timeout exactly as it would on a hung receiver.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def emulator_access(aws: MotoServer, role_template: str | None = None, **kw: Any) -> LambdaAccess:
    """A ``LambdaAccess`` whose clients talk to the emulator with its dummy credentials."""
    import boto3

    from loopwatch.testing.aws import DUMMY, REGION

    session = boto3.Session(
        aws_access_key_id=kw.pop("access_key", DUMMY),
        aws_secret_access_key=kw.pop("secret_key", DUMMY),
        aws_session_token=kw.pop("token", DUMMY),
        region_name=REGION,
    )
    return LambdaAccess(role_template, session=session, endpoint_url=aws.endpoint_url, **kw)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def clients(aws: MotoServer, credentials: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """IAM and Lambda clients of the emulator, for the account of ``credentials`` (the STS
    ``Credentials`` of an assumed role) or moto's default account."""
    if credentials is None:
        return aws.client("iam"), aws.client("lambda")
    import boto3

    from loopwatch.testing.aws import REGION

    def make(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]  # a str, not one Literal name
            service,
            endpoint_url=aws.endpoint_url,
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return make("iam"), make("lambda")


def create_function(
    aws: MotoServer,
    name: str,
    reserved: int | None = None,
    credentials: Mapping[str, str] | None = None,
) -> str:
    """Create function ``name`` (optionally with reserved concurrency) and return its ARN;
    in another account with that account's ``credentials``.

    moto stores the function without running it (no Docker needed); it only wants an
    execution role ARN (of the same account) and a zip, made here.
    """
    iam, lam = clients(aws, credentials)
    try:
        role = iam.get_role(RoleName=EXECUTION_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    arn: str = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
    )["FunctionArn"]
    if reserved is not None:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    return arn


def reserved_concurrency(
    aws: MotoServer, function: str, credentials: Mapping[str, str] | None = None
) -> int | None:
    """The function's reserved concurrency as the emulator has it (None: none)."""
    _, lam = clients(aws, credentials)
    value: int | None = lam.get_function_concurrency(FunctionName=function).get(
        "ReservedConcurrentExecutions"
    )
    return value


def reset(aws: MotoServer) -> None:
    """Empty every backend of the emulator."""
    _post(aws, "/moto-api/reset", b"")


@contextmanager
def iam_enforced(aws: MotoServer) -> Iterator[None]:
    """moto checks signatures and IAM policies for the block (``INITIAL_NO_AUTH_ACTION_COUNT``
    set to 0 through its API), and stops checking after it.

    The setting is process-wide in moto, so the in-process server of ``moto_server`` and any
    ``mock_aws`` in the same process share it: always use this as a block.
    """
    _post(aws, "/moto-api/reset-auth", b"0")
    try:
        yield
    finally:
        _post(aws, "/moto-api/reset-auth", b"inf")


def _post(aws: MotoServer, path: str, body: bytes) -> None:
    request = urllib.request.Request(
        aws.endpoint_url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
