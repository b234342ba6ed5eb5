"""A deterministic discrete-event simulation of a topology, in event time.

    setup (the minute before traffic.start): create resources, functions, triggers
             (nothing at all when the configuration predates the trail)
    seeds ──write──► resource ──trigger──► invocation ──run──► writes ──► resource …

Everything random (latencies, ids) comes from one ``random.Random(traffic.seed)``; there is no
wall clock. A run is bounded by ``traffic.duration`` and ``traffic.max_events`` (CloudTrail
records plus invocation events), so a loop stops where the bound cuts it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from loopwatch.topology.cloudtrail import CloudTrail, Principal, Record, millis_time
from loopwatch.topology.ids import Ids
from loopwatch.topology.model import (
    Destination,
    EventSourceMapping,
    Ref,
    Rule,
    S3Notification,
    Seed,
    StateMachineTask,
    Subscription,
    Topology,
)
from loopwatch.topology.truth import Firing, LoopTruth, Route, loop_truths

SETUP_LEAD = 60.0
"""Seconds before ``traffic.start`` at which setup begins."""

RUN_SECONDS = (0.05, 0.5)
"""How long a run takes; its writes are spread over it."""

# Delivery latency of each trigger kind (seconds, uniform): S3 notifications are the slowest
# to arrive, SNS the quickest; streams are polled.
_LATENCY = {
    "s3": (0.2, 0.8),
    "sqs": (0.05, 0.5),
    "dynamodb": (0.3, 1.0),
    "kinesis": (0.3, 1.0),
    "sns": (0.05, 0.3),
    "events": (0.1, 0.5),
    "states": (0.05, 0.3),
    "fn": (0.02, 0.1),
}
_SERVICE = {
    "s3": "s3.amazonaws.com",
    "sqs": "sqs.amazonaws.com",
    "dynamodb": "dynamodb.amazonaws.com",
    "kinesis": "kinesis.amazonaws.com",
    "sns": "sns.amazonaws.com",
    "events": "events.amazonaws.com",
    "states": "states.amazonaws.com",
    "fn": "lambda.amazonaws.com",
}


@dataclass(frozen=True, slots=True)
class Item:
    """Something written into ``ref``: an object (with key and S3 event), message, record."""

    seq: int
    ref: Ref
    key: str | None
    s3_event: str | None
    marker: bool
    trace: str


@dataclass(frozen=True, slots=True)
class TimedRecord:
    time: float
    """Event time (epoch seconds) as the record states it (whole seconds for CloudTrail)."""
    record: Record


@dataclass(frozen=True, slots=True)
class Simulation:
    """What a simulation produced, before anything is written to disk."""

    topology: Topology
    records: tuple[TimedRecord, ...]
    """CloudTrail records in the order they happened."""
    invocation_events: tuple[TimedRecord, ...]
    invocations: dict[str, int]
    """Runs per function ARN."""
    truth: tuple[LoopTruth, ...]
    """Ground truth for each loop the configuration makes (``truth.loop_truths``), in order."""
    truncated: bool
    """True when ``max_events`` stopped the run before ``traffic.duration``."""


_S3_EVENT = {
    "put": "ObjectCreated:Put",
    "copy": "ObjectCreated:Copy",
    "delete": "ObjectRemoved:Delete",
}


def simulate(topology: Topology) -> Simulation:
    """Run ``topology`` from its setup to the end of its traffic (or ``max_events``).

    Pure and deterministic: the same topology (seed included) gives the same records.
    """
    return _Sim(topology).run()


@dataclass(order=True)
class _Pending:
    time: float
    order: int
    action: Callable[[], None] = field(compare=False)


class _Sim:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.t0 = topo.traffic.start.timestamp()
        self.end = self.t0 + topo.traffic.duration
        self.rng = random.Random(topo.traffic.seed)
        self.ids = Ids(self.rng)
        self.ct = CloudTrail(topo, self.ids, self.t0 - SETUP_LEAD)
        self.heap: list[_Pending] = []
        self.order = itertools.count()
        self.seq = itertools.count(1)
        self.records: list[TimedRecord] = []
        self.inv_events: list[TimedRecord] = []
        self.firings: list[Firing] = []
        self.invocations: Counter[str] = Counter()
        self.budget = topo.traffic.max_events
        self.truncated = False
        self.routes = _routes(topo)
        self.destinations: dict[str, list[Destination]] = {}
        for trig in topo.triggers:
            if isinstance(trig, Destination) and trig.on == "success":
                self.destinations.setdefault(trig.function, []).append(trig)
        self.deployer = self.ct.user("deployer")

    # ---- bookkeeping ---------------------------------------------------------------------

    def at(self, t: float, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(t, *args)`` at event time ``t`` (dropped past the end of traffic)."""
        if t <= self.end:
            heapq.heappush(self.heap, _Pending(t, next(self.order), partial(action, t, *args)))

    def spend(self) -> bool:
        """Take one event from the budget; False (and stop) when it is spent."""
        if self.budget <= 0:
            self.truncated = True
            return False
        self.budget -= 1
        return True

    def emit(self, rec: Record, t: float) -> float:
        stated = float(math.floor(t))
        self.records.append(TimedRecord(stated, rec))
        return stated

    def uniform(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    # ---- the run ---------------------------------------------------------------------------

    def run(self) -> Simulation:
        self.setup()
        self.schedule_seeds()
        while self.heap and not self.truncated:
            heapq.heappop(self.heap).action()
        return Simulation(
            topology=self.topo,
            records=tuple(self.records),
            invocation_events=tuple(self.inv_events),
            invocations=dict(self.invocations),
            truth=loop_truths(self.topo, self.routes, self.firings),
            truncated=self.truncated,
        )

    def setup(self) -> None:
        if self.topo.traffic.configured_before_trail:
            return  # the trail began long after: none of this is in the logs
        topo, ct, who = self.topo, self.ct, self.deployer
        steps: list[Callable[[float], Record]] = []
        kinds = (
            ("s3", topo.buckets),
            ("sqs", topo.queues),
            ("sns", topo.topics),
            ("dynamodb", topo.tables),
            ("kinesis", topo.streams),
            ("events", topo.buses),
        )
        for kind, names in kinds:
            steps += [partial(ct.create_resource, who=who, ref=Ref(kind, n)) for n in names]
        steps += [partial(ct.create_function, who=who, name=f.name) for f in topo.functions]
        steps += [partial(ct.create_state_machine, who=who, machine=m) for m in topo.state_machines]
        notes: dict[str, list[S3Notification]] = {}
        for trig in topo.triggers:
            if isinstance(trig, S3Notification):
                notes.setdefault(trig.bucket, []).append(trig)
        for bucket, group in notes.items():
            steps.append(partial(ct.put_bucket_notification, who=who, bucket=bucket, notes=group))
        for trig in topo.triggers:
            match trig:
                case EventSourceMapping():
                    # The UUID is stable now (the model's inventory names it too); the draw
                    # that once made it stays, so every seed still gives the same logs.
                    self.ids.uuid4()
                    steps.append(partial(ct.create_event_source_mapping, who=who, m=trig))
                case Subscription():
                    steps.append(partial(ct.subscribe, who=who, sub=trig))
                case Rule():
                    steps.append(partial(ct.put_rule, who=who, rule=trig))
                    steps.append(partial(ct.put_targets, who=who, rule=trig))
        dests: dict[str, list[Destination]] = {}
        for trig in topo.triggers:
            if isinstance(trig, Destination):
                dests.setdefault(trig.function, []).append(trig)
        for fn, ds in dests.items():
            steps.append(
                partial(ct.put_function_event_invoke_config, who=who, function=fn, dests=ds)
            )
        # Setup fits in the lead minute, in order, at least a second apart when there is room.
        spacing = min(2.0, (SETUP_LEAD - 5) / max(1, len(steps)))
        for i, step in enumerate(steps):
            self.budget -= 1  # setup is never cut: a bound that cut it would change the topology
            t = self.t0 - SETUP_LEAD + i * spacing
            self.emit(step(t), t)

    def schedule_seeds(self) -> None:
        principals: dict[tuple[str, str | None], Principal] = {}
        for seed in self.topo.traffic.seeds:
            who = principals.get((seed.by, seed.role))
            if who is None:
                who = principals[seed.by, seed.role] = (
                    self.ct.user(seed.by)
                    if seed.role is None
                    else self.ct.role_session(seed.role, seed.by)
                )
            for i, offset in enumerate(seed_offsets(seed)):
                self.at(self.t0 + offset, self.seed_write, seed.to, seed.key, seed.op, who, i)

    def seed_write(
        self, t: float, ref: Ref, key: str | None, op: str, who: Principal, i: int
    ) -> None:
        trace = f"1-{math.floor(t):08x}-{self.ids.hex(24)}"
        self.write(t, ref, key, op, who, None, i, False, trace)

    def write(
        self,
        t: float,
        ref: Ref,
        key_template: str | None,
        op: str,
        who: Principal,
        function: str | None,
        i: int,
        marker: bool,
        trace: str,
    ) -> None:
        """One write by a user (``function`` None) or a function: record it, then deliver it."""
        if not self.spend():
            return
        seq = next(self.seq)
        key = None
        if key_template is not None:
            key = key_template.format(seq=seq, i=i, function=function or "user")
        s3_event = _S3_EVENT[op] if ref.kind == "s3" else None
        item = Item(seq, ref, key, s3_event, marker, trace)
        stated = self.emit(self.ct.write(t, who, ref, key, op), t)
        if function is not None:
            caller = self.topo.arn(Ref("fn", function))
            self.firings.append(Firing(caller, self.topo.arn(ref), stated, key, s3_event))
        if ref.kind == "fn":  # an Invoke: the call itself starts the run
            source = self.topo.arn(Ref("fn", function)) if function else None
            lat = self.uniform(_LATENCY["fn"])
            self.at(t + lat, self.invoke, ref.name, source, None, item, True)
        else:
            self.deliver(t, item)

    def deliver(self, t: float, item: Item) -> None:
        """``item`` has landed in its resource: fire every trigger it matches."""
        consumed = False
        for route in self.routes.get(self.topo.arn(item.ref), ()):
            if not route.enabled or not route.matches(item.key, item.s3_event):
                continue
            if route.consumes:
                if consumed:  # a queue message goes to one consumer
                    continue
                consumed = True
            lat = self.uniform(_LATENCY[item.ref.kind])
            target = route.target_ref
            if target.kind == "fn":
                service = _SERVICE[item.ref.kind]
                self.at(t + lat, self.invoke, target.name, route.source, service, item, False)
            else:
                moved = Item(item.seq, target, None, None, item.marker, item.trace)
                self.at(t + lat, self.deliver, moved)

    def invoke(
        self,
        t: float,
        function: str,
        source: str | None,
        service: str | None,
        cause: Item,
        by_caller: bool,
    ) -> None:
        """A run of ``function`` starts at ``t`` because ``cause`` reached it from ``source``."""
        fn_arn = self.topo.arn(Ref("fn", function))
        seen: list[float] = []
        if service is not None and self.topo.observe.invokes:
            if not self.spend():
                return
            src_ref = _ref_of(self.topo, source) if source else None
            if src_ref is not None and src_ref.kind == "states":
                rec = self.ct.states_invoke(t, src_ref.name, function)
            else:
                src_arn = self.ct.invoke_source_arn(src_ref, function) if src_ref else source
                rec = self.ct.invoke(t, self.ct.service(service), function, src_arn)
            seen.append(self.emit(rec, t))
        if self.topo.observe.invocation_events:
            if not self.spend():
                return
            stated = math.floor(t * 1000) / 1000
            event: dict[str, Any] = {
                "kind": "lambda.invocation",
                "time": millis_time(t),
                "function": fn_arn,
                "request_id": self.ids.uuid4(),
                "source": source,
                "trace": f"Root={cause.trace};Parent={self.ids.hex(16)};Sampled=0",
            }
            self.inv_events.append(TimedRecord(stated, event))
            seen.append(stated)
        self.invocations[fn_arn] += 1
        if seen and source is not None and not by_caller:
            self.firings.append(Firing(source, fn_arn, min(seen), None, None))
        self.run_function(t, function, cause)

    def run_function(self, t: float, name: str, cause: Item) -> None:
        fn = self.topo.function(name)
        who = self.ct.function(name)
        took = self.uniform(RUN_SECONDS)
        writes = [
            (w, i) for w in fn.writes if not (w.guard and cause.marker) for i in range(w.items)
        ]
        for k, (w, i) in enumerate(writes):
            tw = t + took * (k + 1) / (len(writes) + 1)
            self.at(tw, self.write, w.to, w.key, w.op, who, name, i, w.marker, cause.trace)
        for d in self.destinations.get(name, ()):
            moved = Item(next(self.seq), d.destination, None, None, False, cause.trace)
            lat = self.uniform(_LATENCY["fn"])
            src = self.topo.arn(Ref("fn", name))
            if d.destination.kind == "fn":
                service = _SERVICE["fn"]
                self.at(t + took + lat, self.invoke, moved.ref.name, src, service, moved, False)
            else:
                self.at(t + took + lat, self.deliver, moved)


def seed_offsets(seed: Seed) -> list[float]:
    """Seconds after traffic start of each write of ``seed`` (see ``model.Seed``).

    The writes of a minute fall in its first 59 s, so the runs they cause (well under a
    second later) count in the same one-minute rate window.
    """
    out: list[float] = []
    minute = 0
    while minute * 60 < seed.duration:
        span = min(60.0, seed.duration - minute * 60)
        n = round(seed.rate_per_min * seed.growth_per_min**minute * span / 60)
        out.extend(seed.start + minute * 60 + j * (span * 59 / 60) / n for j in range(n))
        minute += 1
    return out[: seed.count] if seed.count is not None else out


def _ref_of(topo: Topology, arn: str) -> Ref | None:
    """The table, bus or state machine ref an ARN names, so that a service's Invoke can be
    shaped as real ones are (a table's stream, a bus's rule, a Task state's role); None
    otherwise."""
    machines = tuple(m.name for m in topo.state_machines)
    for kind, names in (("dynamodb", topo.tables), ("events", topo.buses), ("states", machines)):
        for name in names:
            if topo.arn(Ref(kind, name)) == arn:
                return Ref(kind, name)
    return None


def _routes(topo: Topology) -> dict[str, list[Route]]:
    """Trigger edges by source node id, in the order the file declares them."""
    out: dict[str, list[Route]] = {}

    def add(source: Ref, target: Ref, **kw: Any) -> None:
        src = topo.arn(source)
        out.setdefault(src, []).append(Route(src, topo.arn(target), target, **kw))

    for t in topo.triggers:
        match t:
            case S3Notification():
                add(Ref("s3", t.bucket), t.target, notification=t)
            case EventSourceMapping():
                add(t.source, Ref("fn", t.function), enabled=t.enabled, consumes=True)
            case Subscription():
                add(Ref("sns", t.topic), t.endpoint)
            case Rule():
                for target in t.targets:
                    add(Ref("events", t.bus), target)
            case StateMachineTask():
                add(Ref("states", t.machine), Ref("fn", t.function))
            case Destination():
                pass  # fires when a run ends, not when something is written
    return out
