"""The account configuration that predates the logs (DESIGN §9), read from AWS itself.

    read_inventory(regions, accounts) ──► Snapshot ──write_snapshot──► FILE (versioned JSON)
                                            ▲   └──configuration_facts(snapshot, time)──► engine facts
                            load_snapshot(FILE)

``accounts`` reads AWS through boto3 (``region`` per account and region, ``asl`` for state
machine definitions); ``snapshot`` holds the data and its JSON; ``configuration`` is the pure
step to facts, whose ids equal the CloudTrail parser's so a later record overrides them.
This package depends on ``loopwatch.events``, ``loopwatch.roles`` and boto3 only.
"""

from loopwatch.inventory.accounts import InventoryUnavailable, caller_account, read_inventory
from loopwatch.inventory.asl import DefinitionError, invoked_functions
from loopwatch.inventory.configuration import configuration_facts, state_machine_trigger_id
from loopwatch.inventory.region import RegionReader
from loopwatch.inventory.snapshot import (
    VERSION,
    BucketNotifications,
    Bus,
    Destination,
    Function,
    Mapping,
    Notification,
    Refusal,
    RegionInventory,
    Rule,
    Snapshot,
    SnapshotError,
    StateMachine,
    Subscription,
    Target,
    dump_snapshot,
    load_snapshot,
    parse_snapshot,
    write_snapshot,
)

__all__ = [
    "VERSION",
    "BucketNotifications",
    "Bus",
    "DefinitionError",
    "Destination",
    "Function",
    "InventoryUnavailable",
    "Mapping",
    "Notification",
    "Refusal",
    "RegionInventory",
    "RegionReader",
    "Rule",
    "Snapshot",
    "SnapshotError",
    "StateMachine",
    "Subscription",
    "Target",
    "caller_account",
    "configuration_facts",
    "dump_snapshot",
    "invoked_functions",
    "load_snapshot",
    "parse_snapshot",
    "read_inventory",
    "state_machine_trigger_id",
    "write_snapshot",
]
