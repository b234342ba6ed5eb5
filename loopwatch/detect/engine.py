"""The engine: facts in, findings out, on event time only.

    Fact ──► identities / graph ──► cycles through the changed hop ──► measure ──► incidents
                                └─► rates ─────────────────────────────────────► runaway

The same engine runs in ``loopwatch replay`` and in the live service; it does no I/O and never
reads the clock. Its "now" is the latest event time seen; it moves timers (quiet incidents,
expiry), never measurement.

A cycle is measured at the event times of the records on its hops ("points"), each time over
the window that ends there: what it says at a point depends on the records, not on the order
they came in (DESIGN §5, "Verdicts depend on the set of records only"). A record that arrives
late is counted in its own second, and the points of the cycle in the window after it — the
windows it falls in — are measured again; a point that was active and is no longer revises the
incident (``revised``). The work is bounded: only cycles through the record's hop, only points
within one window after it.

CloudTrail times are whole seconds, and records of one second come in any order: a loop's next
invocation may sort before the write that caused it. So a point is measured once its second is
over (when a fact of a later second comes, or on ``flush()``), with every record of the second
counted; measuring after each fact would make loop gain a coin toss at small counts.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from math import inf
from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import cycles as cycle_search
from loopwatch.detect.confirm import unknowns
from loopwatch.detect.explain import explain, fix
from loopwatch.detect.findings import Finding, LoopFinding, RunawayFinding
from loopwatch.detect.incidents import Incident, IncidentBook, incident_id
from loopwatch.detect.measure import measure
from loopwatch.detect.rates import RateDetector
from loopwatch.events import arns
from loopwatch.events.facts import (
    BucketTriggersReplaced,
    Fact,
    FunctionDeclared,
    FunctionDeleted,
    FunctionsListed,
    Invoked,
    StateMachineDeclared,
    TriggerAdded,
    TriggerEnabled,
    TriggerRemoved,
    Write,
)
from loopwatch.events.shared import is_shared, shared_dict, shared_list, shared_number
from loopwatch.graph import Identities, ResourceGraph
from loopwatch.graph.activity import Activity

_NOTHING: tuple[Finding, ...] = ()
STATE_VERSION = 2
# Event-time interval at which quiet incidents are resolved.
_TICK = 60.0
_NEVER = float("-inf")  # one float for "not yet" in every engine, not four of each's own


class Engine:
    # Slots: a worker holds an engine for each of thousands of accounts.
    __slots__ = (
        "_by_hop",
        "_by_node",
        "_cycles",
        "_next_sweep",
        "_next_tick",
        "_out",
        "_pending",
        "_pending_second",
        "_pending_seconds",
        "_sweep_every",
        "config",
        "graph",
        "identities",
        "incidents",
        "now",
        "rates",
    )

    def __init__(self, config: DetectionConfig | None = None) -> None:
        self.config = config or DetectionConfig()
        self.graph = ResourceGraph(self.config.window, self.config.horizon)
        self.identities = Identities()
        self.rates = RateDetector(self.config)
        self.incidents = IncidentBook(self.config.quiet, self.graph.keep)  # horizon + window
        self.now = _NEVER
        # Containers shared by every engine until it needs its own (``loopwatch.events.shared``):
        # a worker holds an engine per account, and most never find a cycle or a finding.
        self._cycles: dict[str, tuple[str, ...]] = shared_dict()  # incident id -> cycle
        # hop -> ids of cycles through it
        self._by_hop: dict[tuple[str, str], set[str]] = shared_dict()
        # node -> ids of the cycles through it, in the order of ``_cycles`` (a dict as an
        # ordered set). Most facts touch no cycle's node, and checking this first spares them
        # building a (source, target) key, a tuple the garbage collector would track.
        self._by_node: dict[str, dict[str, None]] = shared_dict()
        self._out: list[Finding] = shared_list()  # findings not handed out yet (``_emit``)
        # Points to measure: second -> the cycles to measure then (a dict as an ordered set),
        # and a heap of those seconds, so that a settle looks only at the seconds due (late
        # input keeps points of later seconds pending while its own seconds go by).
        self._pending: dict[int, dict[str, None]] = shared_dict()
        self._pending_seconds: list[int] = shared_list()
        self._pending_second = self._next_tick = self._next_sweep = _NEVER
        self._sweep_every = shared_number(self.config.horizon / 12)

    # -- public --------------------------------------------------------------------------------

    def apply(self, fact: Fact) -> Sequence[Finding]:
        """Take one fact; the findings it causes (most facts cause none).

        Cycle measurements of a second are settled when the next second starts, so a finding
        can come out with the first fact of the following second (its ``time`` is still the
        event time of the fact that completed it).
        """
        time = fact.time
        # Points of seconds before this fact's are over (input is fed in event-time order);
        # a point at or after it waits for its second to pass, or for ``flush()``.
        if self._pending and int(time) != self._pending_second:
            self._settle(before=int(time))
        if time > self.now:
            self.now = time
            if time >= self._next_tick:
                self._maintain(time)
        _HANDLERS[type(fact)](self, fact)
        if not self._out:
            return _NOTHING
        out, self._out = self._out, shared_list()
        return out

    def flush(self) -> Sequence[Finding]:
        """Settle the open second now: the end of a replay, or a live stream gone quiet."""
        self._settle()
        out, self._out = self._out, shared_list()
        return out

    def advance(self, now: float) -> Sequence[Finding]:
        """Move event time forward with no fact (e.g. a live stream went quiet)."""
        self._settle()
        if now > self.now:
            self.now = now
            self._maintain(now)
        out, self._out = self._out, shared_list()
        return out

    @property
    def waiting(self) -> bool:
        """Whether event time passing with no fact can still find something: points wait to be
        measured, or an incident is open (it resolves once quiet). Otherwise ``advance`` only
        moves the clock and expires what went unused, which a later ``advance`` does as well."""
        return bool(self._pending) or self.incidents.any_open

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents.incidents.values() if i.open]

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume detection elsewhere, as JSON-ready data.

        ``Engine.from_state(engine.to_state(), config)`` continues exactly as ``engine`` would:
        the service keeps this, split into parts (``loopwatch.service.state``), in a
        changelogged table so a restarted worker neither forgets a running loop nor opens its
        incident twice.
        """
        return {
            "version": STATE_VERSION,
            "graph": self.graph.to_state(),
            "identities": self.identities.to_state(),
            "rates": self.rates.to_state(),
            "incidents": self.incidents.to_state(),
            "cycles": {key: list(cycle) for key, cycle in self._cycles.items()},
            **self.clock_state(),
        }

    def clock_state(self) -> dict[str, Any]:
        """The part of ``to_state`` that is the engine's own, small whatever the graph: its
        clock, timers and the measurements pending for the open second."""
        return {
            "now": _finite(self.now),
            "pending": self._pending_by_cycle(),
            "pending_second": _finite(self._pending_second),
            "next_tick": _finite(self._next_tick),
            "next_sweep": _finite(self._next_sweep),
        }

    @property
    def cycles(self) -> Mapping[str, tuple[str, ...]]:
        """The cycles known, by incident id, in the order they were found (read only)."""
        return self._cycles

    @classmethod
    def from_state(cls, state: dict[str, Any], config: DetectionConfig | None = None) -> Engine:
        """Rebuild an engine from ``to_state``; ValueError for state of another version."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"engine state version {state.get('version')!r}, expected {STATE_VERSION}"
            )
        engine = cls(config)
        c = engine.config
        engine.now = _infinite(state["now"])
        engine.graph = ResourceGraph.from_state(state["graph"], c.window, c.horizon)
        engine.identities = Identities.from_state(state["identities"])
        engine.rates = RateDetector.from_state(state["rates"], c)
        engine.incidents = IncidentBook.from_state(state["incidents"], c.quiet, engine.graph.keep)
        for key, nodes in state["cycles"].items():
            engine._remember(key, tuple(nodes))
        for key, seconds in state["pending"].items():
            for second in seconds:
                engine._pend(key, int(second))
        engine._pending_second = _infinite(state["pending_second"])
        engine._next_tick = _infinite(state["next_tick"])
        engine._next_sweep = _infinite(state["next_sweep"])
        return engine

    # -- handlers ------------------------------------------------------------------------------

    def _write(self, fact: Write) -> None:
        function = self.identities.function_of(fact.caller)
        if function is None:
            return
        time = fact.time
        runaway = self.rates.wrote(function, time)
        if runaway is not None:
            self._emit(self._runaway(runaway))
        target = fact.target
        if self.graph.record_write(function, target, time, fact.count, fact.key, fact.s3_event):
            self._search(function, target, time)
        self._update(function, target, time)

    def _invoked(self, fact: Invoked) -> None:
        function, time = fact.function, fact.time
        if not self.identities.knows(function):
            self.identities.learn(function)
        runaway = self.rates.invoked(function, time)
        if runaway is not None:
            self._emit(self._runaway(runaway))
        source = fact.source
        if source is None and fact.role is not None:  # Step Functions names only a role
            source = self.identities.invoker_of(fact.service, fact.role)
        if source is None and fact.service is not None:
            source = self.graph.triggered_from(function, fact.service)
        if source is None:
            return
        if self.graph.record_invocation(source, function, time):
            self._search(source, function, time)
        self._update(source, function, time)

    def _declared(self, fact: FunctionDeclared) -> None:
        self.identities.learn(fact.function, fact.role)
        keys = self._by_node.get(fact.function)
        if keys:  # its loops may be confirmed now
            self._remeasure(list(keys), fact.time)

    def _functions_listed(self, fact: FunctionsListed) -> None:
        # An inventory listed all the account's functions: a session name that is none of
        # them is no function (DESIGN §4).
        self.identities.know_all_functions(fact.account, ())

    def _machine_declared(self, fact: StateMachineDeclared) -> None:
        self.identities.learn_state_machine(fact.machine, fact.role)

    def _deleted(self, fact: FunctionDeleted) -> None:
        self.identities.forget(fact.function)
        self.graph.drop_node(fact.function)
        self._recheck(list(self._cycles), fact.time, f"{arns.label(fact.function)} was deleted")

    def _trigger_added(self, fact: TriggerAdded) -> None:
        trigger = fact.trigger
        for node in (trigger.source, trigger.target):
            if arns.is_function(node) and not self.identities.knows(node):
                self.identities.learn(node)
        self.graph.add_trigger(trigger)
        hop = (trigger.source, trigger.target)
        self._recheck(self._by_hop.get(hop, ()), fact.time, "its trigger changed")
        self._remeasure(self._by_hop.get(hop, ()), fact.time)
        # A late configuration: look for cycles as of everything seen so far, not as of its own
        # time, when observed hops it now completes had not been seen yet.
        self._search(*hop, self.now, since=fact.time)

    def _bucket_replaced(self, fact: BucketTriggersReplaced) -> None:
        bucket, time = fact.bucket, fact.time
        graph = self.graph
        for trigger in fact.triggers:
            if arns.is_function(trigger.target) and not self.identities.knows(trigger.target):
                self.identities.learn(trigger.target)
        # The writes remembered inside the window are matched against the new filters.
        graph.replace_bucket_triggers(bucket, fact.triggers)
        touched = set(self._by_node.get(bucket, ()))
        self._recheck(
            touched, time, f"the notification configuration of {arns.label(bucket)} changed"
        )
        self._remeasure(touched, time)
        for trigger in fact.triggers:
            self._search(trigger.source, trigger.target, self.now, since=time)

    def _trigger_enabled(self, fact: TriggerEnabled) -> None:
        hop = self.graph.set_trigger_enabled(fact.trigger_id, fact.enabled)
        if hop is None:
            return
        if fact.enabled:
            self._search(*hop, self.now, since=fact.time)
        else:
            self._recheck(
                self._by_hop.get(hop, ()), fact.time, "its event source mapping was disabled"
            )

    def _trigger_removed(self, fact: TriggerRemoved) -> None:
        hop = self.graph.remove_trigger(fact.trigger_id)
        if hop is not None:
            self._recheck(self._by_hop.get(hop, ()), fact.time, "its trigger was removed")

    # -- cycles --------------------------------------------------------------------------------

    def _search(self, source: str, target: str, time: float, *, since: float | None = None) -> None:
        """Find the new cycles through hop (source, target) as of ``time``; measure each at
        ``time`` or, ``since`` a configuration of that time made it a cycle, at that time and
        every point kept after it (everything seen so far counts)."""
        found = cycle_search.cycles_through(
            self.graph, source, target, time, self.config.max_cycle_length
        )
        for raw in found:
            cycle = cycle_search.canonical_rotation(raw)
            key = incident_id(cycle)
            if key in self._cycles:
                continue
            self._remember(key, cycle)
            if since is not None:
                self._touch(key, since, through=inf)
            else:
                self._touch(key, time)

    def _remember(self, key: str, cycle: tuple[str, ...]) -> None:
        if is_shared(self._cycles):  # the first cycle: indexes of its own
            self._cycles, self._by_hop, self._by_node = {}, {}, {}
        self._cycles[key] = cycle
        for node, nxt, _ in cycle_search.hops(cycle):
            self._by_hop.setdefault((node, nxt), set()).add(key)
        for node in cycle:
            self._by_node.setdefault(node, {})[key] = None

    def _forget(self, key: str, cycle: tuple[str, ...]) -> None:
        del self._cycles[key]
        for node, nxt, _ in cycle_search.hops(cycle):
            ids = self._by_hop.get((node, nxt))
            if ids is not None:
                ids.discard(key)
                if not ids:
                    del self._by_hop[(node, nxt)]
        for node in cycle:
            keys = self._by_node.get(node)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del self._by_node[node]

    def _remeasure(self, keys: Any, time: float) -> None:
        """Measure again the cycles among ``keys`` that still hold: their configuration changed,
        and a late configuration must count everything seen so far (DESIGN §5)."""
        for key in list(keys):
            if key in self._cycles:
                self._touch(key, time, through=inf)

    def _update(self, source: str, target: str, time: float) -> None:
        if source not in self._by_node:
            return
        ids = self._by_hop.get((source, target))
        if ids:
            for key in ids:
                self._touch(key, time)

    def _touch(self, key: str, time: float, *, through: float | None = None) -> None:
        """Measure cycle ``key`` at the point of ``time`` once its second is settled, and at
        its later points up to ``through``.

        A late fact (from a second before the newest one seen) is measured at its own second,
        as if it had come in order, and so is every later point of the cycle whose window holds
        it: those were measured without it. A configuration that changed at ``time`` measures
        every point after it (``through=inf``): what came after is measured in its light,
        whatever order it arrived in.
        """
        second = int(time)
        self._pend(key, second)
        if through is None and second + 1 <= self.now:  # a second before the newest: late
            through = second + self.config.window
        if through is not None:
            cycle = self._cycles.get(key)
            if cycle is not None:
                for later in self._points(cycle, second, through):
                    self._pend(key, later)
        self._pending_second = float(second)

    def _pend(self, key: str, second: int) -> None:
        if is_shared(self._pending):
            self._pending, self._pending_seconds = {}, []
        keys = self._pending.get(second)
        if keys is None:
            keys = self._pending[second] = {}
            heapq.heappush(self._pending_seconds, second)
        keys[key] = None

    def _pending_by_cycle(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for second in sorted(self._pending):
            for key in self._pending[second]:
                out.setdefault(key, []).append(second)
        return out

    def _points(self, cycle: tuple[str, ...], after: float, until: float) -> set[int]:
        """The seconds in (``after``, ``until``] at which something on ``cycle``'s hops
        happened: where a measurement of it can differ from the one before."""
        points: set[int] = set()
        for activity in self._observed(cycle):
            points.update(activity.seconds_in(after, until))
        return points

    def _observed(self, cycle: tuple[str, ...]) -> Iterator[Activity]:
        """What is observed on ``cycle``'s hops: each hop's writes and invocations."""
        graph = self.graph
        for node, nxt, _ in cycle_search.hops(cycle):
            edge = graph.edge(node, nxt)
            if edge is None:
                continue
            if edge.writes is not None:
                yield edge.writes
            if edge.invocations is not None:
                yield edge.invocations

    def _settle(self, before: int | None = None) -> None:
        """Measure the points pending (those of seconds before ``before``: all when None),
        each as of its second.

        Findings carry the whole second: CloudTrail states no finer time, and invocation
        events' milliseconds would otherwise place a catch after the records that made it.
        """
        heap, pending = self._pending_seconds, self._pending
        while heap and (before is None or heap[0] < before):
            second = heapq.heappop(heap)
            for key in pending.pop(second):
                cycle = self._cycles.get(key)
                if cycle is not None:  # it may have broken since it was touched
                    self._evaluate(cycle, float(second))

    def _evaluate(self, cycle: tuple[str, ...], time: float) -> None:
        config = self.config
        changed = self.graph.changed
        if changed is not None:  # counting drops seconds past the window: a change to save
            changed.update(zip(cycle, (*cycle[1:], cycle[0]), strict=True))
        m = measure(self.graph, cycle, time)
        if not m.traversals and self._runs_later(cycle, time):
            return  # a configuration's time before the cycle first ran: nothing to open yet
        enough = m.traversals >= config.active_after
        gain = m.gain_allowing_in_flight
        guarded = enough and gain is not None and gain < config.min_gain
        unknown = tuple(unknowns(self.graph, self.identities, cycle))
        # An unconfirmed loop is never active (DESIGN §5): it stays latent, saying what is missing.
        active = enough and not guarded and not unknown

        def describe(guard: bool) -> tuple[str, str]:
            return (
                explain(self.graph, cycle, m, config.window, guard),
                fix(self.graph, cycle, guard),
            )

        finding = self.incidents.observe(
            cycle, time, active, m.traversals, m.gain, guarded, unknown, describe
        )
        if finding is not None:
            self._emit(self._evidence(finding))

    def _emit(self, finding: Finding) -> None:
        if is_shared(self._out):
            self._out = []
        self._out.append(finding)

    def _runs_later(self, cycle: tuple[str, ...], time: float) -> bool:
        """No incident of ``cycle`` is open and its observed hops all first fired after ``time``
        (a late configuration measured at its own time must not date the incident before the
        records that made it, whichever arrived first)."""
        incident = self.incidents.incidents.get(incident_id(cycle))
        if incident is not None and incident.open:
            return False
        first = min((activity.first for activity in self._observed(cycle)), default=inf)
        return first != inf and int(time) < int(first)

    def _evidence(self, finding: LoopFinding) -> LoopFinding:
        """The finding with what acting on it needs (DESIGN §6): its mappings and rates."""
        rates = self.rates
        return replace(
            finding,
            mappings=cycle_search.cycle_mappings(self.graph, finding.cycle),
            rates=tuple((fn, rates.rate_per_min(fn)) for fn in finding.functions),
        )

    def _runaway(self, finding: RunawayFinding) -> RunawayFinding:
        if self.identities.confirmed(finding.function):
            return finding
        unknown = (f"the execution role of {arns.label(finding.function)} was never seen",)
        return replace(finding, unknown=unknown)

    def _recheck(self, keys: Any, time: float, why: str, *, configured: bool = True) -> None:
        """Forget the cycles among ``keys`` that no longer hold, resolving their incidents.

        ``configured``: a configuration fact of event time ``time`` broke them (not expiry)."""
        for key in list(keys):
            cycle = self._cycles.get(key)
            if cycle is None or cycle_search.holds(self.graph, cycle, time):
                continue
            self._forget(key, cycle)
            finding = self.incidents.resolve_broken(
                cycle, time, why, configured_at=time if configured else None
            )
            if finding is not None:
                self._emit(self._evidence(finding))

    def _maintain(self, now: float) -> None:
        self._settle(before=int(now))
        self._next_tick = now + _TICK
        for finding in self.incidents.resolve_quiet(now):
            self._emit(self._evidence(finding))
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every
            self.graph.expire(now)
            self._recheck(
                list(self._cycles), now, "its hops went unused past the horizon", configured=False
            )


# The handler of each kind of fact. One table for every engine, not bound methods per engine:
# those would make each engine a reference cycle, freed only by the cyclic collector (which a
# worker runs rarely: ``fast_faust.tune_gc``), not as soon as a worker evicts its account.
_HANDLERS: dict[type[Any], Callable[[Engine, Any], None]] = {
    Write: Engine._write,
    Invoked: Engine._invoked,
    FunctionDeclared: Engine._declared,
    StateMachineDeclared: Engine._machine_declared,
    FunctionDeleted: Engine._deleted,
    FunctionsListed: Engine._functions_listed,
    TriggerAdded: Engine._trigger_added,
    BucketTriggersReplaced: Engine._bucket_replaced,
    TriggerEnabled: Engine._trigger_enabled,
    TriggerRemoved: Engine._trigger_removed,
}


def _finite(value: float) -> float | None:
    """JSON has no infinity: "not yet" (-inf) is stored as null."""
    return None if value == float("-inf") else value


def _infinite(value: float | None) -> float:
    return float("-inf") if value is None else float(value)
