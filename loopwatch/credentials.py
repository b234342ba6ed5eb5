"""Whether the AWS credentials work, asked once before a command depends on them.

    caller_account(session) ──sts GetCallerIdentity──► "111122223333"
                                   └── CredentialsProblem: none, expired, rejected, no STS

GetCallerIdentity needs no IAM permission (AWS answers it even under an explicit deny), so it
tests the credentials alone. Commands that change AWS (``replay --act --throttle enforce``,
``release``) and the inventory ask it first: a missing or expired credential then costs one
line at the start, not a failed throttle in the middle of a run. ``credentials_reason`` turns
botocore's own exceptions into the same lines wherever else they surface (an ``s3://`` source).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.exceptions import ConnectionError as EndpointUnreachable

from loopwatch.errors import Problem

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

# Error codes with which AWS rejects the credentials themselves (not a missing permission).
REJECTED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "AuthFailure",
    }
)
_UNREACHABLE = (EndpointUnreachable, ConnectionClosedError, ReadTimeoutError)
NO_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and"
    " AWS_SECRET_ACCESS_KEY, or run where a role provides them"
)


class CredentialsProblem(Problem):
    """The AWS credentials are missing, expired or rejected, or STS cannot be reached."""


class AwsUnreachable(CredentialsProblem):
    """STS could not be reached at all: nothing is known of the credentials yet."""


def credentials_reason(exc: BaseException) -> str | None:
    """The cause and fix when ``exc`` is a credentials problem; None for anything else."""
    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials ({exc}): set both the key id and the secret key"
    if isinstance(exc, UnauthorizedSSOTokenError | TokenRetrievalError | SSOError):
        return f"the AWS SSO session cannot be used ({exc}): run `aws sso login` and retry"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: set AWS_PROFILE to a profile of ~/.aws/config, or unset it"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        if code in REJECTED_CODES:
            message = str(error.get("Message") or "")[:200]
            return (
                f"AWS rejected the credentials ({code}: {message}): refresh or replace them"
                " (a new session token, `aws sso login`, or another AWS_PROFILE)"
            )
    return None


def caller_account(
    session: boto3.Session | None = None,
    region: str | None = None,
    *,
    endpoint_url: str | None = None,
    config: Config | None = None,
) -> str:
    """The account of the credentials of ``session`` (default: boto3's chain, which honours
    AWS_PROFILE and AWS_ENDPOINT_URL). Raises CredentialsProblem naming the cause and fix."""
    import boto3

    try:
        session = session or boto3.Session()
        sts = session.client(
            "sts",
            region_name=region or session.region_name or "us-east-1",
            endpoint_url=endpoint_url,
            config=config,
        )
        return sts.get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        reason = credentials_reason(exc)
        if reason is not None:
            raise CredentialsProblem(reason) from None
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            raise CredentialsProblem(
                f"AWS rejected the credentials ({error.get('Code')}: {error.get('Message')}):"
                " refresh or replace them"
            ) from None
        if isinstance(exc, _UNREACHABLE):
            raise AwsUnreachable(
                f"cannot reach AWS STS ({exc}): check AWS_ENDPOINT_URL and the network"
            ) from None
        # A broken config file, a credential_process that fails…
        raise CredentialsProblem(f"cannot use the AWS configuration: {exc}") from None
