"""Reaching another account: the loopwatch role named by a template, assumed through STS.

    arn:aws:iam::{account}:role/loopwatch-throttle  ──role_for("222233334444")──►  role ARN
    role ARN ──assume_role(session, …)──► AssumedRole (credentials, principal, expiry)

The throttle (``loopwatch.actions.aws``) and the inventory (``loopwatch.inventory``) both reach
other accounts this way, with ``LOOPWATCH_THROTTLE_ROLE_TEMPLATE``; this module holds the one
copy, and depends on boto3 only, so that neither package has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class AwsFailure(Exception):
    """An AWS call that failed for good. ``str()`` is the reason shown to people; ``code`` is
    the AWS error code (or ``Timeout``/``ConnectionError``)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class AssumedRole:
    """Temporary credentials of an assumed role; ``principal`` is the assumed-role ARN they act
    as, ``expires`` their expiry in epoch seconds."""

    access_key: str
    secret_key: str
    token: str
    principal: str
    expires: float


def role_for(template: str | None, account: str | None) -> str | None:
    """The role ARN for ``account`` from ``template``; None when either is missing."""
    if template is None or account is None:
        return None
    return template.format(account=account)


def assume_role(
    session: boto3.Session,
    role: str,
    *,
    region: str,
    session_name: str,
    endpoint_url: str | None = None,
    config: Config | None = None,
) -> AssumedRole:
    """Assume ``role`` with ``session``'s credentials.

    Raises AwsFailure naming what to fix: a denial (the caller lacks sts:AssumeRole, or the
    role's trust policy does not name it), any other refusal with its code, or an STS that
    cannot be reached (``ConnectionError``).
    """
    sts = session.client("sts", region_name=region, endpoint_url=endpoint_url, config=config)
    try:
        answer = sts.assume_role(RoleArn=role, RoleSessionName=session_name)
    except ClientError as exc:
        code = error_code(exc)
        if code in DENIED_CODES or http_status(exc) == 403:
            raise AwsFailure(
                f"AccessDenied: cannot assume {role}: the worker lacks sts:AssumeRole on it"
                " or the role's trust policy does not name the worker",
                "AccessDenied",
            ) from None
        raise AwsFailure(f"{code}: cannot assume {role}: {error_message(exc)}", code) from None
    except BotoCoreError as exc:
        raise AwsFailure(f"ConnectionError: cannot reach STS: {exc}", "ConnectionError") from None
    creds = answer["Credentials"]
    return AssumedRole(
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        token=creds["SessionToken"],
        principal=answer["AssumedRoleUser"]["Arn"],
        expires=creds["Expiration"].timestamp(),
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def http_status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else 0


def error_message(exc: ClientError) -> str:
    message = str(exc.response.get("Error", {}).get("Message") or "")
    return message[:300]
