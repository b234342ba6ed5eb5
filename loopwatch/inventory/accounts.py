"""Reading the inventory of every account and region asked for, into one snapshot.

    default credentials ──GetCallerIdentity──► the caller's own account (read with them)
    other accounts ──role template + AssumeRole (loopwatch.roles)──► their credentials
    each (account, region) ──RegionReader──► RegionInventory + refusals  ──► Snapshot

Only what makes the whole read impossible raises (``InventoryUnavailable``): no credentials,
credentials AWS rejects, no STS endpoint to reach, other accounts without a role template.
Everything AWS refuses after that is named in the snapshot's ``refused``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from loopwatch import credentials
from loopwatch.events.times import format_time
from loopwatch.inventory.region import RegionReader
from loopwatch.inventory.snapshot import VERSION, Refusal, RegionInventory, Snapshot
from loopwatch.roles import AwsFailure, assume_role, role_for

SESSION_NAME = "loopwatch-inventory"


class InventoryUnavailable(Exception):
    """The inventory cannot be read at all; ``str()`` names the cause and the fix."""


def default_config() -> Config:
    """Bounded calls: botocore's standard retries for throttling and 5xx, and timeouts that
    let an unreachable region fail in seconds, not minutes."""
    return Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=20,
    )


def read_inventory(
    regions: Sequence[str],
    accounts: Sequence[str] = (),
    *,
    session: boto3.Session | None = None,
    role_template: str | None = None,
    endpoint_url: str | None = None,
    page_size: int | None = None,
    config: Config | None = None,
    clock: Callable[[], float] = time.time,
) -> Snapshot:
    """Read the trigger configuration of ``accounts`` (default: the caller's own) in each of
    ``regions``.

    The caller's account is read with ``session``'s credentials (default: boto3's chain,
    which honours AWS_ENDPOINT_URL and AWS_PROFILE); any other account through the role
    ``role_template`` names (``arn:aws:iam::{account}:role/loopwatch-throttle``). Raises
    InventoryUnavailable when nothing can be read (see the module docstring).
    """
    if not regions:
        raise InventoryUnavailable("no region: pass --region R or set AWS_DEFAULT_REGION")
    try:
        session = session or boto3.Session()
    except BotoCoreError as exc:  # AWS_PROFILE names no profile…
        raise InventoryUnavailable(f"cannot use the AWS configuration: {exc}") from None
    config = config or default_config()
    home = caller_account(session, regions[0], endpoint_url=endpoint_url, config=config)
    wanted = tuple(dict.fromkeys(accounts)) or (home,)
    others = [a for a in wanted if a != home]
    if others and role_template is None:
        raise InventoryUnavailable(
            f"account {others[0]} is not the caller's ({home}): set"
            " LOOPWATCH_THROTTLE_ROLE_TEMPLATE (e.g. arn:aws:iam::{account}:role/loopwatch-throttle)"
            " to reach other accounts"
        )
    refused: list[Refusal] = []
    inventories: list[RegionInventory] = []
    for account in wanted:
        account_session = session
        if account != home:
            role = role_for(role_template, account)
            assert role is not None  # checked above
            try:
                assumed = assume_role(
                    session,
                    role,
                    region=regions[0],
                    session_name=SESSION_NAME,
                    endpoint_url=endpoint_url,
                    config=config,
                )
            except AwsFailure as failure:
                refused.append(
                    Refusal(account, None, "sts", "AssumeRole", failure.code, failure.reason, role)
                )
                continue
            account_session = boto3.Session(
                aws_access_key_id=assumed.access_key,
                aws_secret_access_key=assumed.secret_key,
                aws_session_token=assumed.token,
            )
        for region in dict.fromkeys(regions):
            reader = RegionReader(
                account_session,
                account,
                region,
                endpoint_url=endpoint_url,
                config=config,
                page_size=page_size,
            )
            inventories.append(reader.read())
            refused.extend(reader.refused)
    return Snapshot(
        version=VERSION,
        read_at=format_time(round(clock())),
        accounts=wanted,
        regions=tuple(dict.fromkeys(regions)),
        refused=tuple(refused),
        inventories=tuple(inventories),
    )


def caller_account(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    config: Config | None = None,
) -> str:
    """The account of ``session``'s credentials (sts GetCallerIdentity, which needs no
    permission). Raises InventoryUnavailable naming the cause and the fix."""
    try:
        return credentials.caller_account(session, region, endpoint_url=endpoint_url, config=config)
    except credentials.CredentialsProblem as exc:
        raise InventoryUnavailable(str(exc)) from None
