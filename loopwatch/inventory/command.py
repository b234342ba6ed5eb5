"""``loopwatch inventory``: read the accounts' trigger configuration, write the snapshot.

Without ``--out`` the snapshot JSON goes to stdout; either way one summary line (counts per
kind, refusals) goes to stderr. Exit status: 0 read (refusals are named in the snapshot, not
failures); 2 bad usage or nothing readable at all, with one line naming the cause and fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import BinaryIO, TextIO

import boto3
from botocore.exceptions import BotoCoreError

from loopwatch.inventory.accounts import InventoryUnavailable, read_inventory
from loopwatch.inventory.snapshot import dump_snapshot, write_snapshot

EXIT_OK, EXIT_USAGE = 0, 2
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")


def run_inventory(
    regions: Sequence[str],
    accounts: Sequence[str],
    out: str | None,
    stdout: BinaryIO,
    stderr: TextIO,
    *,
    role_template: str | None = None,
    session: boto3.Session | None = None,
) -> int:
    """Read, then write the snapshot to ``out`` (or ``stdout``); the exit status."""
    for account in accounts:
        if not _ACCOUNT.fullmatch(account):
            return _usage(stderr, f"--account {account}: not a 12-digit AWS account id")
    for region in regions:
        if not _REGION.fullmatch(region):
            return _usage(stderr, f"--region {region}: not an AWS region name such as us-east-1")
    try:
        session = session or boto3.Session()
    except BotoCoreError as exc:  # AWS_PROFILE names no profile…
        return _usage(stderr, f"cannot use the AWS configuration: {exc}")
    if not regions:
        if session.region_name is None:
            return _usage(
                stderr, "no region: pass --region R (repeatable) or set AWS_DEFAULT_REGION"
            )
        regions = [session.region_name]
    try:
        snapshot = read_inventory(regions, accounts, session=session, role_template=role_template)
    except InventoryUnavailable as exc:
        return _usage(stderr, str(exc))
    if out is None:
        stdout.write(dump_snapshot(snapshot))
        stdout.flush()
        print(snapshot.summary(), file=stderr)
        return EXIT_OK
    try:
        write_snapshot(snapshot, out)
    except OSError as exc:
        return _usage(stderr, f"cannot write {out}: {exc.strerror or exc}")
    print(f"{snapshot.summary()}; written to {out}", file=stderr)
    return EXIT_OK


def _usage(stderr: TextIO, reason: str) -> int:
    print(f"loopwatch inventory: {reason}", file=stderr)
    return EXIT_USAGE
