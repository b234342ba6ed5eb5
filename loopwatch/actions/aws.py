"""Lambda clients per account (through an assumed role) and AWS calls with bounded retries.

Every call here is synchronous boto3: callers on an event loop run them with
``asyncio.to_thread``. A call either returns or raises ``AwsFailure`` whose text says what
people must fix: "AccessDenied: missing lambda:PutFunctionConcurrency on arn:…".
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from loopwatch.roles import (
    DENIED_CODES,
    assume_role,
    error_code,
    error_message,
    http_status,
    role_for,
)
from loopwatch.roles import AwsFailure as AwsFailure  # re-exported: actions raise it

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

T = TypeVar("T")

# The IAM action behind each boto3 call loopwatch makes (docs/iam-policy.json must cover
# every one: tests/test_actions_iam.py checks it against this table).
PERMISSIONS = {
    "get_function_concurrency": "lambda:GetFunctionConcurrency",
    "put_function_concurrency": "lambda:PutFunctionConcurrency",
    "delete_function_concurrency": "lambda:DeleteFunctionConcurrency",
    "update_event_source_mapping": "lambda:UpdateEventSourceMapping",
    "assume_role": "sts:AssumeRole",
}

_RETRYABLE_CODES = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "ServiceException",
    "ServiceUnavailable",
    "InternalFailure",
}
_NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchEntity"}
_CREDENTIALS_MARGIN = 300.0  # renew assumed-role credentials this long before they expire


def function_account(function: str) -> str | None:
    """The account of an unqualified function ARN (None for a bare name)."""
    parts = function.split(":")
    return parts[4] if len(parts) >= 7 and parts[4] else None


def function_region(function: str) -> str | None:
    parts = function.split(":")
    return parts[3] if len(parts) >= 7 and parts[3] else None


@dataclass(frozen=True, slots=True)
class _Cached:
    client: LambdaClient
    principal: str
    expires: float


class LambdaAccess:
    """Hands out Lambda clients for a function's account and region.

    With ``role_template`` (``arn:aws:iam::{account}:role/loopwatch-throttle``) each account's
    role is assumed through STS and its credentials cached until shortly before they expire;
    without it the ambient credentials of ``session`` serve every account. ``endpoint_url``
    points every client at an emulator (tests); ``max_attempts`` and the timeouts bound each
    single call inside botocore, ``call`` bounds the retries around it.
    """

    def __init__(
        self,
        role_template: str | None = None,
        *,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        default_region: str = "us-east-1",
        session_name: str = "loopwatch-throttle",
        max_attempts: int = 3,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.role_template = role_template
        self._session = session or boto3.Session()
        self._endpoint_url = endpoint_url
        self._default_region = default_region
        self._session_name = session_name
        self._clock = clock
        # botocore's standard mode retries throttling and 5xx with its own backoff; `call`
        # adds the overall deadline botocore cannot express.
        self._config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._cache: dict[tuple[str | None, str], _Cached] = {}
        self._lock = threading.Lock()

    def role_for(self, account: str | None) -> str | None:
        return role_for(self.role_template, account)

    def lambda_for(self, function: str) -> tuple[LambdaClient, str]:
        """A Lambda client for ``function``'s account and region, and the principal it acts as.

        Raises AwsFailure when the account's role cannot be assumed.
        """
        account = function_account(function)
        region = function_region(function) or self._session.region_name or self._default_region
        key = (account, region)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached.expires > self._clock():
                return cached.client, cached.principal
            role = self.role_for(account)
            if role is None:
                client = self._client(region)
                entry = _Cached(client, "the worker's own credentials", float("inf"))
            else:
                entry = self._assume(role, region)
            self._cache[key] = entry
            return entry.client, entry.principal

    def _client(
        self,
        region: str,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
    ) -> LambdaClient:
        return self._session.client(
            "lambda",
            region_name=region,
            endpoint_url=self._endpoint_url,
            config=self._config,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=token,
        )

    def _assume(self, role: str, region: str) -> _Cached:
        assumed = assume_role(
            self._session,
            role,
            region=region,
            session_name=self._session_name,
            endpoint_url=self._endpoint_url,
            config=self._config,
        )
        client = self._client(region, assumed.access_key, assumed.secret_key, assumed.token)
        return _Cached(client, assumed.principal, assumed.expires - _CREDENTIALS_MARGIN)


def call(
    operation: Callable[[], T],
    name: str,
    resource: str,
    *,
    deadline: float,
    backoff: float = 0.2,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation`` (the boto3 call ``name`` on ``resource``) until it answers.

    Throttling, 5xx and connection errors are retried with jittered exponential backoff until
    the ``monotonic()`` ``deadline``; denials and missing resources fail at once, because their
    answer will not change until a person changes something. Raises AwsFailure with the cause.
    """
    permission = PERMISSIONS.get(name, name)
    attempt = 0
    while True:
        try:
            return operation()
        except ClientError as exc:
            code = error_code(exc)
            status = http_status(exc)
            if code in DENIED_CODES or status == 403:
                raise AwsFailure(
                    f"AccessDenied: missing {permission} on {resource}", "AccessDenied"
                ) from None
            if code in _NOT_FOUND_CODES or status == 404:
                raise AwsFailure(
                    f"ResourceNotFound: {resource} does not exist (or not in this account and region)",
                    "ResourceNotFound",
                ) from None
            retryable = code in _RETRYABLE_CODES or status == 429 or status >= 500
            failure = AwsFailure(f"{code}: {permission} on {resource}: {error_message(exc)}", code)
        except NoCredentialsError:
            # No retry makes credentials appear; failing at once keeps the reason clear.
            raise AwsFailure(
                f"NoCredentials: the worker has no AWS credentials for {permission} on {resource}",
                "NoCredentials",
            ) from None
        except BotoCoreError as exc:
            retryable = True
            failure = AwsFailure(
                f"ConnectionError: {permission} on {resource}: {exc}", "ConnectionError"
            )
        attempt += 1
        delay = min(5.0, backoff * 2**attempt) * random.uniform(0.5, 1.0)
        if not retryable or monotonic() + delay >= deadline:
            if retryable:
                raise AwsFailure(
                    f"{failure.reason} (gave up after {attempt} attempts)", failure.code
                ) from None
            raise failure
        sleep(delay)


def set_mappings_enabled(
    client: LambdaClient,
    uuids: tuple[str, ...],
    enabled: bool,
    *,
    deadline: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Enable or disable each event source mapping; the UUIDs done, and (UUID, cause) of the
    ones that failed. Throttling disables them, release enables them again."""
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    for uuid in uuids:
        try:
            call(
                partial(client.update_event_source_mapping, UUID=uuid, Enabled=enabled),
                "update_event_source_mapping",
                f"event source mapping {uuid}",
                deadline=deadline,
                monotonic=monotonic,
            )
            done.append(uuid)
        except AwsFailure as exc:
            failed.append((uuid, exc.reason))
    return done, failed
