"""``--inventory aws|FILE`` and ``LOOPWATCH_INVENTORY``: one way to get a snapshot, and its
facts for one account.

    obtain("aws", regions)     → read_inventory (boto3's default chain, AWS_ENDPOINT_URL honoured)
    obtain("inv.json", …)      → load_snapshot
    facts_for(snapshot, account, time) → that account's configuration facts, dated ``time``,
                                         and FunctionsListed when its functions all were

Raises InventoryUnavailable (nothing readable from AWS) or SnapshotError (a file that cannot
be read): the caller says so in one line and stops (DESIGN §7: exit 2). What one service
refused is in ``snapshot.refused`` and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from loopwatch.events.facts import Fact, FunctionsListed
from loopwatch.inventory.accounts import InventoryUnavailable, read_inventory
from loopwatch.inventory.configuration import configuration_facts, listed_accounts
from loopwatch.inventory.snapshot import Snapshot, SnapshotError, load_snapshot

AWS = "aws"


def obtain(
    spec: str,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
    *,
    role_template: str | None = None,
) -> Snapshot:
    """The snapshot ``spec`` names: ``aws`` (read now) or a snapshot file's path."""
    if spec == AWS:
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session()
        except BotoCoreError as exc:
            raise InventoryUnavailable(f"cannot use the AWS configuration: {exc}") from exc
        wanted = list(regions) or ([session.region_name] if session.region_name else [])
        if not wanted:
            raise InventoryUnavailable(
                "no region: pass --region R (repeatable) or set AWS_DEFAULT_REGION"
            )
        return read_inventory(wanted, accounts, session=session, role_template=role_template)
    if not Path(spec).is_file():
        raise SnapshotError(
            f"{spec}: no such snapshot file (write one with `loopwatch inventory --out {spec}`)"
        )
    return load_snapshot(spec)


def facts_for(snapshot: Snapshot, account: str | None, time: float) -> list[Fact]:
    """The configuration facts of ``account`` (every account when None), dated ``time``; then,
    for an account whose every function was listed, ``FunctionsListed``."""
    if account is not None:
        mine = tuple(i for i in snapshot.inventories if i.account == account)
        snapshot = replace(snapshot, inventories=mine)
    facts = configuration_facts(snapshot, time)
    facts.extend(FunctionsListed(time, listed) for listed in listed_accounts(snapshot))
    return facts


def refusals(snapshot: Snapshot) -> list[tuple[str, str]]:
    """(where, why) of each service that refused, for a report's ``errors``."""
    return [("inventory", f"refused: {x.short()}: {x.message}") for x in snapshot.refused]
