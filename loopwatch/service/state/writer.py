"""What one account's snapshot sends to the ``account-state`` changelog: the parts that changed.

A snapshot of generation G+1 sends, in this order, on the account's one partition:

    1. tombstones for what a torn snapshot left behind (parts newer than the core)
    2. the parts that changed since G, as generation G+1 (a deleted part: a ``null`` marker)
    3. the core of generation G+1: the commit
    4. tombstones for the versions these replaced (deletion markers last)

``restore.py`` takes, for each part, its newest version at or below the core's generation. So
a worker killed while a snapshot is on its way restores the previous one whole, never a mix of
two, and a version is deleted only once the core of its successor is out. This asks of Kafka
only the order within a partition, and of Faust's recovery the last value per key (a
tombstone deletes it); not compaction, which Tansu in memory mode lacks.

Bytes follow change: a part is sent only when its bytes differ from the last ones sent, and
only the hops, functions and buckets the engine marked changed are encoded at all (cycles,
incidents and state machines, few, are compared each time). Work follows change too: a node's
successors are looked at from its newest hop back to its last unchanged one, so a snapshot of
a function that writes to thousands of targets costs the hops that changed, not all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from loopwatch.detect import Engine
from loopwatch.detect.incidents import Incident
from loopwatch.events.dedupe import RecentIds
from loopwatch.graph.changes import Changed, K
from loopwatch.graph.edge import Edge
from loopwatch.graph.resource_graph import ResourceGraph
from loopwatch.service.accounts import AccountState
from loopwatch.service.state.parts import (
    BUCKET,
    CYCLE,
    FUNCTION,
    HOP,
    INCIDENT,
    MACHINE,
    SEP,
    Entry,
    bucket_name,
    core_payload,
    cycle_name,
    function_name,
    function_payload,
    hop_name,
    hop_payload,
    ids_name,
    incident_name,
    incident_payload,
    kind,
    machine_name,
    recent_entries,
    subject,
)
from loopwatch.service.state.table import (
    MARKER,
    PIECE_BYTES,
    Holdings,
    StoredPart,
    core_key,
    part_key,
)

Write = tuple[bytes, bytes | None]
"""One changelog message: key, and value (None: a tombstone, the key is deleted)."""

IDS_PER_CHUNK = 4096
"""The most recent event ids a chunk holds (~250 KB): a snapshot sends the ids taken since
the last one as chunks of their own, never again."""


@dataclass(slots=True)
class _Batch:
    """The parts one snapshot sends, and the versions they replace."""

    account: str
    generation: int
    parts: dict[str, StoredPart]
    writes: list[Write] = field(default_factory=list)
    replaced: list[bytes] = field(default_factory=list)

    def put(self, name: str, payload: Any, serial: int = 0) -> None:
        """Send ``payload`` as part ``name``, unless its bytes are the ones the table holds."""
        data = orjson.dumps(payload)
        digest = hash(data)
        old = self.parts.get(name)
        if old is not None and old.digest == digest:
            return
        assert old is None or old.generation != self.generation, f"{name!r} sent twice"
        pieces = max(1, -(-len(data) // PIECE_BYTES))
        for k in range(pieces):
            key = part_key(self.account, self.generation, k, pieces, name)
            self.writes.append((key, data[k * PIECE_BYTES : (k + 1) * PIECE_BYTES]))
        if old is not None:
            self.replaced.extend(old.keys(self.account, name))
        self.parts[name] = StoredPart(self.generation, pieces, digest, serial)

    def drop(self, name: str) -> None:
        """Delete part ``name``: a marker now, its tombstones once the core is out."""
        old = self.parts.pop(name, None)
        if old is None:
            return
        marker = part_key(self.account, self.generation, 0, 1, name)
        self.writes.append((marker, MARKER))
        self.replaced.extend([*old.keys(self.account, name), marker])

    def retire(self, name: str) -> None:
        """Delete part ``name``, which the core being sent makes obsolete: no marker needed."""
        old = self.parts.pop(name, None)
        if old is not None:
            self.replaced.extend(old.keys(self.account, name))


class StateWriter:
    """One account's changelog: what each snapshot sends, from what the table holds.

    ``attach(state)`` first (it has the engine note what changes); each ``write(state)`` then
    sends what changed since the last one and takes the engine's changes. A worker holds one
    for each of thousands of accounts: what it keeps is empty, not made, until used.
    """

    __slots__ = ("_boundary", "_incidents", "_names", "_tracked", "account", "held", "partition")

    def __init__(self, account: str, partition: int, held: Holdings | None = None) -> None:
        self.account = account
        self.partition = partition
        """The changelog partition of every key of the account: where its first message came
        from (an account whose messages move partition keeps its state where it was)."""
        self.held = held if held is not None else Holdings()
        # The names of the cycles, incidents and state machines the table holds, by kind (a
        # kind with none has no entry).
        self._names: dict[str, set[str]] = {}
        for name in self.held.parts:
            if kind(name) in _LISTED:
                self._names.setdefault(kind(name), set()).add(name)
        self._incidents: dict[str, Incident] = {}  # as last sent, to compare without encoding
        self._boundary: object = None  # the newest recent-id entry sent (by identity)
        self._tracked: Engine | None = None

    def attach(self, state: AccountState) -> None:
        """Take ``state`` as the one the table holds (restored from it, or new and empty)."""
        self.track(state.engine)
        self._incidents = {
            key: replace(incident) for key, incident in state.engine.incidents.incidents.items()
        }
        order = recent_entries(state.intake.recent)
        self._boundary = order[-1] if order else None

    def track(self, engine: Engine) -> bool:
        """Have ``engine`` note what changes from now on; True if it was not doing so for this
        writer (then the next write looks at everything)."""
        graph = engine.graph
        if self._tracked is engine and graph.changed is not None:
            return False
        graph.changed, graph.changed_buckets = Changed(), Changed()
        # Both note functions, read together (``_functions``): one will do.
        engine.rates.changed = engine.identities.changed = Changed()
        self._tracked = engine
        return True

    def write(self, state: AccountState) -> list[Write]:
        """The messages of one snapshot of ``state``, in the order of the module docstring."""
        engine, held = state.engine, self.held
        everything = self.track(engine)
        generation = held.generation + 1
        batch = _Batch(self.account, generation, held.parts)
        self._hops(engine, batch, everything)
        self._functions(engine, batch, everything)
        self._cycles(engine, batch)
        self._incidents_of(engine, batch)
        self._machines(engine, batch)
        self._buckets(engine, batch, everything)
        self._ids(state.intake.recent, batch)
        core = {
            **core_payload(state),
            "generation": generation,
            "serial": held.serial,
            "partition": self.partition,
            "skip": held.skip,
            "ids_from": held.chunks[0][0] if held.chunks else held.serial + 1,
        }
        writes: list[Write] = [(key, None) for key in held.before]
        writes += batch.writes
        writes.append((core_key(self.account), orjson.dumps(core)))
        writes += [(key, None) for key in (*held.after, *batch.replaced)]
        held.before, held.after = [], []
        held.generation = generation
        return writes

    # -- the parts ---------------------------------------------------------------------------

    def _next_serial(self) -> int:
        self.held.serial += 1
        return self.held.serial

    def _serial_after(self, name: str, last: int) -> int:
        """The part's serial; a new one when it is new or now follows a later part."""
        stored = self.held.parts.get(name)
        if stored is not None and stored.serial > last:
            return stored.serial
        return self._next_serial()

    def _hops(self, engine: Engine, batch: _Batch, everything: bool) -> None:
        graph, parts = engine.graph, self.held.parts
        changed = _taken(graph.changed)
        if everything:
            changed |= set(graph.nx.edges())
            changed |= {_hop_of(n) for n in parts if kind(n) == HOP}
        # Serials rise along each node's successors, the order the cycle search follows: a hop
        # new, or removed and made again (it went to the end), takes the next serial.
        serials: dict[tuple[str, str], int] = {}
        for source in {source for source, _ in changed}:
            tail, last = self._changed_tail(graph, source, changed)
            for edge in tail:
                hop = (source, edge.target)
                serials[hop] = serial = self._serial_after(hop_name(*hop), last)
                stored = parts.get(hop_name(*hop))
                if stored is None or stored.serial != serial:
                    changed.add(hop)
                last = serial
        for hop in changed:
            name = hop_name(*hop)
            if hop in serials:
                serial = serials[hop]
            else:  # before its source's changed tail: it keeps its place
                stored = parts.get(name)
                serial = -1 if stored is None else stored.serial
            payload = hop_payload(engine, *hop, serial)
            if payload is None:
                batch.drop(name)
            else:
                batch.put(name, payload, payload[0])

    def _changed_tail(
        self, graph: ResourceGraph, source: str, changed: set[tuple[str, str]]
    ) -> tuple[list[Edge], int]:
        """The successors of ``source`` whose serials may change, in order, and the serial of
        the hop before them (-1: none): those after its last hop that did not change.

        A hop is added at the end (made again too) and nothing else moves, so every hop up to
        the last unchanged one keeps its serial. Walking only the changed tail makes a snapshot
        cost what changed, not the whole fan-out of a function that writes to thousands of
        targets (one hop more would walk them all).
        """
        tail: list[Edge] = []
        for edge in graph.successors_from_last(source):
            if (source, edge.target) not in changed:
                stored = self.held.parts.get(hop_name(source, edge.target))
                if stored is None:  # never sent, so no anchor: walk them all
                    return list(graph.successors(source)), -1
                tail.reverse()
                return tail, stored.serial
            tail.append(edge)
        tail.reverse()
        return tail, -1

    def _functions(self, engine: Engine, batch: _Batch, everything: bool) -> None:
        rates, identities = engine.rates, engine.identities
        changed = _taken(rates.changed) | _taken(identities.changed)
        if everything:
            changed |= set(identities.to_state()["functions"]) | set(rates.to_state())
            changed |= {subject(n) for n in self.held.parts if kind(n) == FUNCTION}
        for function in changed:
            payload = function_payload(engine, function)
            if payload is None:
                batch.drop(function_name(function))
            else:
                batch.put(function_name(function), payload)

    def _cycles(self, engine: Engine, batch: _Batch) -> None:
        names, last = set(), -1
        for key, cycle in engine.cycles.items():
            name = cycle_name(key)
            last = self._serial_after(name, last)
            batch.put(name, [last, list(cycle)], last)
            names.add(name)
        self._keep_only(CYCLE, names, batch)

    def _incidents_of(self, engine: Engine, batch: _Batch) -> None:
        names, last = set(), -1
        for key, incident in engine.incidents.incidents.items():
            name = incident_name(key)
            stored = self.held.parts.get(name)
            last = self._serial_after(name, last)
            if stored is None or stored.serial != last or self._incidents.get(key) != incident:
                batch.put(name, incident_payload(incident, last), last)
                self._incidents[key] = replace(incident)
            names.add(name)
        for gone in self._names.get(INCIDENT, _NONE) - names:
            self._incidents.pop(subject(gone), None)
        self._keep_only(INCIDENT, names, batch)

    def _machines(self, engine: Engine, batch: _Batch) -> None:
        names = set()
        for machine, role in engine.identities.state_machines().items():
            batch.put(machine_name(machine), role)
            names.add(machine_name(machine))
        self._keep_only(MACHINE, names, batch)

    def _buckets(self, engine: Engine, batch: _Batch, everything: bool) -> None:
        graph = engine.graph
        changed = _taken(graph.changed_buckets)
        if everything:
            changed |= set(graph.to_state()["bucket_triggers"])
            changed |= {subject(n) for n in self.held.parts if kind(n) == BUCKET}
        for bucket in changed:
            ids = graph.bucket_trigger_ids(bucket)
            if ids is None:
                batch.drop(bucket_name(bucket))
            else:
                batch.put(bucket_name(bucket), ids)

    def _ids(self, recent: RecentIds, batch: _Batch) -> None:
        """The ids the intake took since the last write, as chunks of their own; the chunks
        whose every id the intake has dropped since, deleted."""
        held, order = self.held, recent_entries(recent)
        new: list[Entry] = []
        for entry in reversed(order):  # the ids after the newest one sent
            if entry is self._boundary:
                break
            new.append(entry)
        new.reverse()
        sent = sum(count for _, count in held.chunks) - held.skip
        # The intake drops its oldest ids first: the ones sent and since dropped lead the chunks.
        held.skip += sent - (len(order) - len(new))
        while held.chunks and held.skip >= held.chunks[0][1]:
            serial, count = held.chunks.pop(0)
            held.skip -= count
            batch.retire(ids_name(serial))
        for start in range(0, len(new), IDS_PER_CHUNK):
            chunk = new[start : start + IDS_PER_CHUNK]
            serial = self._next_serial()
            held.chunks.append((serial, len(chunk)))
            batch.put(ids_name(serial), [serial, chunk], serial)
        self._boundary = order[-1] if order else None

    def _keep_only(self, part_kind: str, names: set[str], batch: _Batch) -> None:
        for gone in self._names.get(part_kind, _NONE) - names:
            batch.drop(gone)
        if names:
            self._names[part_kind] = names
        else:
            self._names.pop(part_kind, None)


_LISTED = frozenset({CYCLE, INCIDENT, MACHINE})
"""Kinds whose parts are compared whole at each write (few), by name."""
_NONE: frozenset[str] = frozenset()


def _taken(changed: Changed[K] | None) -> set[K]:
    """What ``changed`` holds, taken (a new set when it is None: not tracking yet)."""
    return set() if changed is None else changed.take()


def _hop_of(name: str) -> tuple[str, str]:
    source, target = subject(name).split(SEP, 1)
    return source, target
