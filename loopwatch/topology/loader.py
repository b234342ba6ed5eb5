"""Load a topology YAML file: parse, validate (schema, then cross references), freeze.

Every failure is a ``TopologyError`` whose message starts with the file and the field:
``topologies/x.yaml: triggers[2].target: fn:nope is not a declared function``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from loopwatch.topology import schema as s
from loopwatch.topology.model import (
    Destination,
    EventSourceMapping,
    Expect,
    ExpectedLoop,
    ExpectedRunaway,
    Function,
    Observe,
    Ref,
    Rule,
    S3Notification,
    Seed,
    StateMachine,
    StateMachineTask,
    Subscription,
    Topology,
    Traffic,
    Trigger,
    WriteSpec,
)

KEY_FIELDS = frozenset({"seq", "i", "function"})
"""Placeholders a key template may use: a global item counter, the index within the run or
seed, the writing function's name (``"user"`` for seeds)."""


class TopologyError(ValueError):
    """A topology file that cannot be used; the message names the file and the field."""


def load_topology(path: str | Path) -> Topology:
    """Read, validate and freeze one topology file.

    Raises TopologyError (naming the file and the offending field) for unreadable files,
    bad YAML, schema violations and refs to undeclared resources.
    """
    p = Path(path)
    try:
        raw: Any = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise TopologyError(f"{p}: cannot read: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise TopologyError(f"{p}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise TopologyError(f"{p}: top level must be a mapping, got {type(raw).__name__}")
    try:
        doc = s.TopologyDoc.model_validate(raw)
    except ValidationError as e:
        lines = [f"{_loc(err['loc'])}: {err['msg']}" for err in e.errors()]
        raise TopologyError(f"{p}: " + f"\n{p}: ".join(lines)) from None
    return _Builder(p, doc).build()


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TRIGGER_KINDS:
            continue  # the discriminator tag pydantic inserts says nothing the file does not
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_TRIGGER_KINDS = frozenset(
    {
        "s3-notification",
        "event-source-mapping",
        "sns-subscription",
        "eventbridge-rule",
        "destination",
        "state-machine-task",
    }
)


class _Builder:
    """Cross-checks a schema-valid document and turns it into the domain model."""

    def __init__(self, path: Path, doc: s.TopologyDoc) -> None:
        self.path = path
        self.doc = doc
        r = doc.resources
        self.declared: dict[str, list[str]] = {
            "s3": r.buckets,
            "sqs": r.queues,
            "sns": r.topics,
            "dynamodb": r.tables,
            "kinesis": r.streams,
            "events": [*r.buses, "default"],
            "states": list(r.state_machines),
            "fn": list(r.functions),
        }

    def fail(self, where: str, msg: str) -> TopologyError:
        return TopologyError(f"{self.path}: {where}: {msg}")

    def ref(self, text: str, where: str, kinds: Iterable[str] | None = None) -> Ref:
        ref = Ref.parse(text)  # the schema's pattern guarantees the shape
        allowed = tuple(kinds) if kinds is not None else tuple(self.declared)
        if ref.kind not in allowed:
            raise self.fail(where, f"{text} must be one of the kinds {', '.join(allowed)}")
        if ref.name not in self.declared[ref.kind]:
            known = ", ".join(self.declared[ref.kind]) or "none"
            raise self.fail(where, f"{text} is not declared (declared {ref.kind}: {known})")
        return ref

    def named(self, kind: str, name: str, where: str) -> str:
        return self.ref(f"{kind}:{name}", where).name

    def key(self, ref: Ref, key: str | None, where: str) -> str | None:
        if ref.kind != "s3":
            if key is not None:
                raise self.fail(f"{where}.key", "only S3 writes take a key")
            return None
        if key is None:
            raise self.fail(f"{where}.key", "an S3 write needs a key template")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(key) if f is not None}
        except ValueError as e:
            raise self.fail(f"{where}.key", f"bad template {key!r}: {e}") from None
        if not fields <= KEY_FIELDS:
            bad = ", ".join(sorted(fields - KEY_FIELDS))
            raise self.fail(f"{where}.key", f"unknown placeholder {bad} (use {sorted(KEY_FIELDS)})")
        return key

    def build(self) -> Topology:
        d = self.doc
        r = d.resources
        for kind, names in self.declared.items():
            dup = {n for n in names if names.count(n) > 1} - {"default"}
            if dup:
                raise self.fail("resources", f"{kind} declared twice: {', '.join(sorted(dup))}")
        functions = tuple(self.function(n, f) for n, f in r.functions.items())
        machines = tuple(
            StateMachine(n, m.role or f"{n}-role") for n, m in r.state_machines.items()
        )
        triggers = tuple(self.trigger(t, f"triggers[{i}]") for i, t in enumerate(d.triggers))
        traffic = self.traffic(d.traffic)
        predates = traffic.configured_before_trail
        if predates and d.expect_with_inventory is None:
            raise self.fail(
                "expect_with_inventory",
                "required with traffic.configured_before_trail: true (the verdict beside the"
                " account's inventory; expect is the verdict of the logs alone)",
            )
        if not predates and d.expect_with_inventory is not None:
            raise self.fail(
                "expect_with_inventory",
                "only with traffic.configured_before_trail: true (otherwise the logs carry"
                " the configuration, and expect is the verdict either way)",
            )
        with_inventory = None
        if d.expect_with_inventory is not None:
            with_inventory = self.expect(d.expect_with_inventory, "expect_with_inventory")
        return Topology(
            name=d.name,
            description=d.description.strip(),
            account=d.account,
            region=d.region,
            buckets=tuple(r.buckets),
            queues=tuple(r.queues),
            topics=tuple(r.topics),
            tables=tuple(r.tables),
            streams=tuple(r.streams),
            buses=tuple(r.buses),
            functions=functions,
            triggers=triggers,
            observe=Observe(d.observe.invokes, d.observe.invocation_events),
            traffic=traffic,
            expect=self.expect(d.expect, "expect", logs_confirm_nothing=predates),
            state_machines=machines,
            expect_with_inventory=with_inventory,
        )

    def function(self, name: str, f: s.FunctionDoc) -> Function:
        writes = []
        for i, w in enumerate(f.writes):
            where = f"resources.functions.{name}.writes[{i}]"
            to = self.ref(w.to, f"{where}.to")
            writes.append(
                WriteSpec(
                    to=to,
                    items=w.items,
                    key=self.key(to, w.key, where),
                    op=w.op,
                    marker=w.marker,
                    guard=w.guard == "marker",
                )
            )
        return Function(name=name, role=f.role or f"{name}-role", writes=tuple(writes))

    def trigger(self, t: s.TriggerDoc, where: str) -> Trigger:
        match t:
            case s.S3NotificationDoc():
                return S3Notification(
                    bucket=self.named("s3", t.bucket, f"{where}.bucket"),
                    target=self.ref(t.target, f"{where}.target", ("fn", "sqs", "sns")),
                    events=tuple(self.s3_event(e, f"{where}.events") for e in t.events),
                    prefix=t.prefix,
                    suffix=t.suffix,
                )
            case s.MappingDoc():
                return EventSourceMapping(
                    source=self.ref(t.source, f"{where}.source", ("sqs", "dynamodb", "kinesis")),
                    function=self.named("fn", t.function, f"{where}.function"),
                    enabled=t.enabled,
                )
            case s.SubscriptionDoc():
                return Subscription(
                    topic=self.named("sns", t.topic, f"{where}.topic"),
                    endpoint=self.ref(t.endpoint, f"{where}.endpoint", ("fn", "sqs")),
                )
            case s.RuleDoc():
                return Rule(
                    bus=self.named("events", t.bus, f"{where}.bus"),
                    name=t.rule,
                    targets=tuple(
                        self.ref(x, f"{where}.targets[{i}]", ("fn", "sqs", "sns"))
                        for i, x in enumerate(t.targets)
                    ),
                )
            case s.StateMachineTaskDoc():
                return StateMachineTask(
                    machine=self.named("states", t.machine, f"{where}.machine"),
                    function=self.named("fn", t.function, f"{where}.function"),
                )
            case s.DestinationDoc():
                return Destination(
                    function=self.named("fn", t.function, f"{where}.function"),
                    on=t.when,
                    destination=self.ref(
                        t.destination, f"{where}.destination", ("fn", "sqs", "sns", "events")
                    ),
                )
        raise AssertionError(f"unhandled trigger {t!r}")  # pragma: no cover

    def s3_event(self, event: str, where: str) -> str:
        if not event.startswith(("s3:ObjectCreated:", "s3:ObjectRemoved:")):
            raise self.fail(where, f"{event!r} is not an s3:ObjectCreated:* / ObjectRemoved event")
        return event

    def traffic(self, t: s.TrafficDoc) -> Traffic:
        if t.start.tzinfo is None or t.start.utcoffset() is None:
            raise self.fail("traffic.start", "must carry a timezone (end it with Z)")
        seeds = []
        for i, sd in enumerate(t.seeds):
            where = f"traffic.seeds[{i}]"
            to = self.ref(sd.to, f"{where}.to")
            seeds.append(
                Seed(
                    by=sd.by,
                    to=to,
                    key=self.key(to, sd.key, where),
                    op=sd.op,
                    rate_per_min=sd.rate_per_min,
                    growth_per_min=sd.growth_per_min,
                    start=sd.start,
                    duration=sd.duration,
                    count=sd.count,
                    role=sd.role,
                )
            )
        return Traffic(
            t.start, t.duration, t.seed, t.max_events, tuple(seeds), t.configured_before_trail
        )

    def expect(self, e: s.ExpectDoc, block: str, *, logs_confirm_nothing: bool = False) -> Expect:
        """``logs_confirm_nothing``: the block is the verdict of logs without configuration
        records, where no trigger is configured and no execution role known (DESIGN §5)."""
        loops = []
        for i, loop in enumerate(e.loops):
            where = f"{block}.loops[{i}]"
            cycle = tuple(self.ref(x, f"{where}.cycle[{j}]") for j, x in enumerate(loop.cycle))
            if not any(c.kind == "fn" for c in cycle):
                raise self.fail(f"{where}.cycle", "a loop passes through at least one function")
            if len(set(cycle)) != len(cycle):
                raise self.fail(f"{where}.cycle", "a cycle lists each node once")
            if loop.confirmed and logs_confirm_nothing:
                raise self.fail(f"{where}.confirmed", _CONFIRM_NOTHING)
            if loop.status == "active" and not loop.confirmed:
                raise self.fail(f"{where}.status", "an unconfirmed loop is never active")
            loops.append(ExpectedLoop(cycle, loop.status, loop.confirmed))
        runaway = []
        for i, x in enumerate(e.runaway):
            where = f"{block}.runaway[{i}]"
            if isinstance(x, str):
                x = s.ExpectedRunawayDoc(function=x)
            if x.confirmed and logs_confirm_nothing:
                raise self.fail(where, _CONFIRM_NOTHING)
            runaway.append(ExpectedRunaway(self.ref(x.function, where, ("fn",)), x.confirmed))
        return Expect(tuple(loops), tuple(runaway))


_CONFIRM_NOTHING = (
    "logs without configuration records confirm nothing (traffic.configured_before_trail):"
    " say confirmed: false"
)
