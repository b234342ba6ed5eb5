"""A topology as the simulator sees it: frozen, cross-checked, with refs resolved to ARNs.

    resources ──triggers──► functions ──writes──► resources …
        ▲                                              │
        └──────────── seeds (people, at a rate) ───────┘

A *ref* names a declared resource as ``<kind>:<name>`` (``s3:uploads``, ``sqs:jobs``,
``sns:alerts``, ``dynamodb:orders``, ``kinesis:clicks``, ``events:orders-bus``,
``states:flow``, ``fn:thumbnailer``); ``Topology.arn`` turns it into the canonical node id of
DESIGN §4.

A topology whose ``traffic.configured_before_trail`` is set has logs that hold no
configuration record (the trail began long after setup): ``expect`` is then what the logs
alone show, and ``expect_with_inventory`` what they show beside the account's inventory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from loopwatch.events import arns

KINDS = ("s3", "sqs", "sns", "dynamodb", "kinesis", "events", "states", "fn")


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Ref:
        """``"s3:uploads"`` → Ref("s3", "uploads"); ValueError for an unknown kind or no name."""
        kind, sep, name = text.partition(":")
        if not sep or kind not in KINDS or not name:
            raise ValueError(f"not a node ref: {text!r} (want <kind>:<name>, kind one of {KINDS})")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """What a run writes: ``items`` writes into ``to`` (S3 keys from ``key``, ``op``).

    ``marker`` tags the items as marker writes; ``guard`` skips this write when the run was
    triggered by a marker item (the guarded write-back AWS recommends).
    """

    to: Ref
    items: int = 1
    key: str | None = None
    op: str = "put"
    marker: bool = False
    guard: bool = False


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    role: str
    writes: tuple[WriteSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class StateMachine:
    """A Step Functions state machine; it runs (and invokes functions) as ``role``."""

    name: str
    role: str


#   bucket ──(events, prefix, suffix)──► fn | sqs | sns
@dataclass(frozen=True, slots=True)
class S3Notification:
    bucket: str
    target: Ref
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)
    prefix: str = ""
    suffix: str = ""

    def matches(self, key: str | None, s3_event: str | None) -> bool:
        """Whether an object event (``ObjectCreated:Put``…) on ``key`` fires this notification."""
        if key is None or s3_event is None:
            return False
        if not key.startswith(self.prefix) or not key.endswith(self.suffix):
            return False
        return not self.events or any(_event_matches(e, s3_event) for e in self.events)


def _event_matches(configured: str, s3_event: str) -> bool:
    pattern = configured.removeprefix("s3:")
    if pattern.endswith("*"):
        return s3_event.startswith(pattern[:-1])
    return s3_event == pattern


#   sqs | dynamodb (stream) | kinesis ──(enabled)──► fn
@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    source: Ref
    function: str
    enabled: bool = True


#   sns ──► fn | sqs
@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    endpoint: Ref


#   bus ──(rule)──► targets
@dataclass(frozen=True, slots=True)
class Rule:
    bus: str
    name: str
    targets: tuple[Ref, ...]


#   fn ──(on success / failure)──► destination
@dataclass(frozen=True, slots=True)
class Destination:
    function: str
    on: str
    destination: Ref


#   state machine ──(a Task state)──► fn
@dataclass(frozen=True, slots=True)
class StateMachineTask:
    machine: str
    function: str


Trigger = S3Notification | EventSourceMapping | Subscription | Rule | Destination | StateMachineTask


@dataclass(frozen=True, slots=True)
class Seed:
    """External traffic: ``by`` writes into ``to`` at a rate that may grow.

    ``by`` is an IAM user's name, or with ``role`` the session name of an assumed-role
    session of that role (a CI job, a console sign-in). Minute ``m`` of the seed (from
    ``start`` seconds after traffic start, for ``duration`` seconds) holds
    ``round(rate_per_min * growth_per_min**m)`` writes, at most ``count`` in all.
    """

    by: str
    to: Ref
    key: str | None
    op: str
    rate_per_min: float
    growth_per_min: float
    start: float
    duration: float
    count: int | None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Traffic:
    start: datetime
    duration: float
    seed: int
    max_events: int
    seeds: tuple[Seed, ...]
    configured_before_trail: bool = False
    """The configuration predates the logs: setup writes no record (DESIGN §9)."""


@dataclass(frozen=True, slots=True)
class Observe:
    invokes: bool = False
    """Lambda ``Invoke`` data events (with ``sourceArn``) for trigger-driven runs."""
    invocation_events: bool = False
    """loopwatch invocation events, written to a ``.jsonl.gz``."""


@dataclass(frozen=True, slots=True)
class ExpectedLoop:
    cycle: tuple[Ref, ...]
    status: str
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class ExpectedRunaway:
    function: Ref
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class Expect:
    """Exactly the loops and runaway functions a replay must report."""

    loops: tuple[ExpectedLoop, ...] = ()
    runaway: tuple[ExpectedRunaway, ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    description: str
    account: str
    region: str
    buckets: tuple[str, ...]
    queues: tuple[str, ...]
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    streams: tuple[str, ...]
    buses: tuple[str, ...]
    functions: tuple[Function, ...]
    triggers: tuple[Trigger, ...]
    observe: Observe
    traffic: Traffic
    expect: Expect
    """What a replay of the logs alone reports."""
    state_machines: tuple[StateMachine, ...] = ()
    expect_with_inventory: Expect | None = None
    """With ``traffic.configured_before_trail``: what a replay beside the inventory reports."""

    def arn(self, ref: Ref | str) -> str:
        """The canonical node id (DESIGN §4) of a ref; ValueError for a malformed ref.

        Does not check that the resource is declared: the loader has done that for every ref
        in the file.
        """
        r = Ref.parse(ref) if isinstance(ref, str) else ref
        acct, region = self.account, self.region
        match r.kind:
            case "s3":
                return arns.bucket_arn(r.name)
            case "sqs":
                return f"arn:aws:sqs:{region}:{acct}:{r.name}"
            case "sns":
                return f"arn:aws:sns:{region}:{acct}:{r.name}"
            case "dynamodb":
                return arns.table_arn(r.name, acct, region)
            case "kinesis":
                return arns.kinesis_stream_arn(r.name, acct, region)
            case "events":
                return arns.event_bus_arn(r.name, acct, region)
            case "states":
                return f"arn:aws:states:{region}:{acct}:stateMachine:{r.name}"
            case _:
                return arns.function_arn(r.name, acct, region)

    def queue_url(self, name: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"

    def function(self, name: str) -> Function:
        """The declared function ``name``; KeyError when there is none."""
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)

    def state_machine(self, name: str) -> StateMachine:
        """The declared state machine ``name``; KeyError when there is none."""
        for m in self.state_machines:
            if m.name == name:
                return m
        raise KeyError(name)

    def expected(self, *, inventory: bool = False) -> Expect:
        """The verdict for a replay of the logs alone, or (``inventory``) beside the
        account's inventory: the same unless the configuration predates the logs."""
        if inventory and self.expect_with_inventory is not None:
            return self.expect_with_inventory
        return self.expect

    def expected_cycles(self, *, inventory: bool = False) -> tuple[tuple[str, ...], ...]:
        """The expected loops' cycles as canonical ARNs, in traversal order."""
        loops = self.expected(inventory=inventory).loops
        return tuple(tuple(self.arn(r) for r in loop.cycle) for loop in loops)

    def expected_runaway(self, *, inventory: bool = False) -> frozenset[str]:
        """The function ARNs expected runaway (confirmed or not)."""
        runaway = self.expected(inventory=inventory).runaway
        return frozenset(self.arn(r.function) for r in runaway)

    def with_overrides(
        self, *, start: datetime | None = None, account: str | None = None
    ) -> Topology:
        """The same topology placed at another time or in another account (for mixing into
        real logs). ValueError for a naive ``start`` or a malformed account id."""
        topo = self
        if start is not None:
            if start.tzinfo is None or start.utcoffset() is None:
                raise ValueError("start must be timezone-aware (use timezone.utc)")
            topo = dataclasses.replace(topo, traffic=dataclasses.replace(topo.traffic, start=start))
        if account is not None:
            if len(account) != 12 or not account.isdigit():
                raise ValueError(f"not an AWS account id: {account!r}")
            topo = dataclasses.replace(topo, account=account)
        return topo
