"""The inventory snapshot: what one read of AWS found, as frozen data and as versioned JSON.

    Snapshot (version 1, read_at, accounts, regions, refused)
      └─ RegionInventory per (account, region)
           functions        Function(arn, role)
           mappings         Mapping(uuid, source, function, enabled, filter)      queue/stream/table → function
           buckets          BucketNotifications(bucket, account, lambda_functions, queues, topics, eventbridge)
           subscriptions    Subscription(arn, topic, protocol, endpoint, filter)  topic → function/queue
           buses, rules     Bus(name, arn); Rule(bus, name, state, pattern, schedule, targets)
           state_machines   StateMachine(arn, functions, role)                    state machine → function
           destinations     Destination(function, on_success, on_failure)         function → destination

Values are kept as AWS gave them (ARNs possibly qualified, filter patterns as JSON text);
``loopwatch.inventory.configuration`` turns them into the engine's canonical facts. What AWS
would not show is named in ``refused`` and is simply absent from the lists: an absent bucket
means "not known", never "no notifications".

``dump_snapshot`` / ``write_snapshot`` write the JSON; ``load_snapshot`` / ``parse_snapshot``
read it back and raise ``SnapshotError`` for another version or a damaged file. Pydantic
validates only here, at the edge; the types themselves are plain frozen dataclasses.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import orjson
from pydantic import ConfigDict, TypeAdapter, ValidationError

from loopwatch.events.times import parse_time

VERSION: Final = 1

# Unknown keys and wrong types are damage, not something to guess around: a snapshot is
# written by loopwatch itself, so anything else was edited or truncated.
_STRICT = ConfigDict(extra="forbid", strict=True)


class SnapshotError(ValueError):
    """A snapshot file that cannot be used: unreadable, not JSON, another version, damaged."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One call AWS refused (or could not answer): the rest of the read went on without it.

    ``region`` is None for what is not regional (assuming an account's role); ``resource``
    names the bucket, function or rule of a per-resource call.
    """

    __pydantic_config__ = _STRICT

    account: str
    region: str | None
    service: str  # the IAM prefix: lambda, s3, sns, events, states, sts
    call: str  # the API operation: ListFunctions, GetBucketNotificationConfiguration…
    code: str  # AWS's error code (AccessDeniedException…), or ConnectionError
    message: str
    resource: str | None = None

    def short(self) -> str:
        """``111122223333/us-east-1 sns:ListSubscriptions AccessDenied`` (the message, which
        can be long, stays in the snapshot)."""
        where = f"{self.account}/{self.region}" if self.region else self.account
        return f"{where} {self.service}:{self.call} {self.code}"


@dataclass(frozen=True, slots=True)
class Function:
    __pydantic_config__ = _STRICT

    arn: str
    role: str | None  # execution role ARN


@dataclass(frozen=True, slots=True)
class Mapping:
    """An event source mapping. ``source`` is None for sources outside AWS's resource graph
    (self-managed Kafka, Amazon MQ brokers); ``filter`` holds its filter patterns."""

    __pydantic_config__ = _STRICT

    uuid: str
    source: str | None
    function: str
    enabled: bool
    filter: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification configuration of a bucket: S3 sends ``events`` on keys that start
    with ``prefix`` and end with ``suffix`` to ``target`` (an empty ``events``: every event)."""

    __pydantic_config__ = _STRICT

    target: str
    events: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""
    id: str | None = None


@dataclass(frozen=True, slots=True)
class BucketNotifications:
    """A bucket's whole notification configuration (an empty one is a finding too: the
    bucket triggers nothing). ``account`` is the account it was read in, its owner."""

    __pydantic_config__ = _STRICT

    bucket: str  # the bucket's name
    account: str | None
    lambda_functions: tuple[Notification, ...] = ()
    queues: tuple[Notification, ...] = ()
    topics: tuple[Notification, ...] = ()
    eventbridge: bool = False


@dataclass(frozen=True, slots=True)
class Subscription:
    __pydantic_config__ = _STRICT

    arn: str
    topic: str
    protocol: str
    endpoint: str
    filter: str | None = None  # the FilterPolicy JSON, where it was read


@dataclass(frozen=True, slots=True)
class Bus:
    __pydantic_config__ = _STRICT

    name: str
    arn: str


@dataclass(frozen=True, slots=True)
class Target:
    __pydantic_config__ = _STRICT

    id: str
    arn: str


@dataclass(frozen=True, slots=True)
class Rule:
    """An EventBridge rule on ``bus`` (its ARN). A rule with only a ``schedule`` runs on the
    clock, not on the events of its bus."""

    __pydantic_config__ = _STRICT

    bus: str
    name: str
    state: str  # ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
    pattern: str | None = None
    schedule: str | None = None
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True, slots=True)
class StateMachine:
    """A state machine, the functions its Task states invoke by a fixed name, and the
    execution role it runs as (Step Functions invokes them as that role, naming no state
    machine: the role is how its invocations are recognised). ``role`` is None when not read,
    as in a snapshot written before it was."""

    __pydantic_config__ = _STRICT

    arn: str
    functions: tuple[str, ...] = ()
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """A function's asynchronous-invocation destinations (``function`` as AWS names the
    configuration, maybe with a qualifier)."""

    __pydantic_config__ = _STRICT

    function: str
    on_success: str | None = None
    on_failure: str | None = None


@dataclass(frozen=True, slots=True)
class RegionInventory:
    __pydantic_config__ = _STRICT

    account: str
    region: str
    functions: tuple[Function, ...] = ()
    mappings: tuple[Mapping, ...] = ()
    buckets: tuple[BucketNotifications, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    buses: tuple[Bus, ...] = ()
    rules: tuple[Rule, ...] = ()
    state_machines: tuple[StateMachine, ...] = ()
    destinations: tuple[Destination, ...] = ()


# The kinds counted in a summary, in the order people read them, and one of each.
KINDS = {
    "functions": "function",
    "mappings": "mapping",
    "buckets": "bucket",
    "subscriptions": "subscription",
    "buses": "bus",
    "rules": "rule",
    "state_machines": "state machine",
    "destinations": "destination",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    __pydantic_config__ = _STRICT

    version: Literal[1]
    read_at: str  # ISO-8601 UTC, ``2026-10-05T14:00:00Z``
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    refused: tuple[Refusal, ...] = ()
    inventories: tuple[RegionInventory, ...] = ()

    def counts(self) -> dict[str, int]:
        """How many of each kind (``KINDS``) all accounts and regions hold."""
        return {
            kind: sum(len(getattr(inventory, kind)) for inventory in self.inventories)
            for kind in KINDS
        }

    def summary(self) -> str:
        """One line for people: what was read, how much of each kind, what was refused."""
        counts = ", ".join(_plural(n, KINDS[kind]) for kind, n in self.counts().items())
        accounts = _plural(len(self.accounts), "account")
        regions = _plural(len(self.regions), "region")
        refused = f"{len(self.refused)} refused"
        if self.refused:
            shown = "; ".join(r.short() for r in self.refused[:3])
            more = f"; and {len(self.refused) - 3} more" if len(self.refused) > 3 else ""
            refused += f" ({shown}{more})"
        return f"inventory of {accounts} in {regions}: {counts}; {refused}"


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


_ADAPTER = TypeAdapter(Snapshot)


def dump_snapshot(snapshot: Snapshot) -> bytes:
    """The snapshot as indented JSON (stable key order: the dataclasses' field order)."""
    data = _ADAPTER.dump_python(snapshot, mode="json")
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def write_snapshot(snapshot: Snapshot, path: str | Path) -> None:
    """Write the snapshot to ``path`` whole or not at all (a temporary file, then a rename),
    so a reader never sees half a file. Raises OSError when it cannot be written."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(dump_snapshot(snapshot))
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot written by ``write_snapshot``. Raises SnapshotError naming the file
    and what is wrong with it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_snapshot(data, str(path))


def parse_snapshot(data: bytes | str, name: str = "snapshot") -> Snapshot:
    """The snapshot in ``data``; SnapshotError (prefixed with ``name``) when it is not one."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{name}: damaged inventory snapshot: not JSON ({exc})") from None
    if not isinstance(document, dict) or "version" not in document:
        raise SnapshotError(f"{name}: not a loopwatch inventory snapshot (no version)")
    version = document["version"]
    if version != VERSION or type(version) is not int:
        raise SnapshotError(
            f"{name}: inventory snapshot version {version!r}; this loopwatch reads version"
            f" {VERSION} (write a new one with `loopwatch inventory --out`)"
        )
    try:
        # Validated from the text again: strict JSON mode takes arrays for tuples, and
        # nothing else is coerced ("1" is not 1, 0 is not false).
        snapshot = _ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise SnapshotError(f"{name}: damaged inventory snapshot: {_first(exc)}") from None
    _check(snapshot, name)
    return snapshot


def _first(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top)"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _check(snapshot: Snapshot, name: str) -> None:
    """What the types cannot say: a real time, and inventories of the accounts it lists."""
    try:
        parse_time(snapshot.read_at)
    except ValueError:
        raise SnapshotError(
            f"{name}: damaged inventory snapshot: read_at is not an ISO-8601 time:"
            f" {snapshot.read_at!r}"
        ) from None
    for inventory in snapshot.inventories:
        if inventory.account not in snapshot.accounts or inventory.region not in snapshot.regions:
            raise SnapshotError(
                f"{name}: damaged inventory snapshot: an inventory of {inventory.account}/"
                f"{inventory.region}, which its accounts and regions do not list"
            )
