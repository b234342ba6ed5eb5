"""The live resource → function → resource graph, on networkx.

Nodes are canonical ARNs with a ``kind`` attribute (bucket, queue, function…); each edge carries
one ``Edge`` (attribute ``hop``) holding its triggers and observed traffic. Methods that change
a hop answer whether it just *became* usable: only then can a new cycle run through it, so only
then does the engine search (DESIGN §5: per-event cost must not grow with the graph).

Expiry visits only the hops that may have something past the horizon, never the whole graph:

    observation at t ──► hop filed under slot (t + horizon) // slot width, if that is sooner
    expire(now)      ──► the slots up to now: each hop's expired observations dropped,
                         what is left filed again under its oldest observation's slot

so a hop still in use is looked at about once per horizon, not at every sweep (12 times),
and one no longer observed is never looked at again until it expires.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

import networkx as nx

from loopwatch.events import arns
from loopwatch.events.facts import Trigger
from loopwatch.events.shared import is_shared, shared_dict, shared_list, shared_number
from loopwatch.graph.activity import Activity
from loopwatch.graph.changes import Changed
from loopwatch.graph.edge import Edge


class ResourceGraph:
    __slots__ = (
        "_bucket_triggers",
        "_due",
        "_due_slots",
        "_g",
        "_slot_width",
        "_succ",
        "_trigger_hops",
        "changed",
        "changed_buckets",
        "horizon",
        "keep",
        "window",
    )

    def __init__(self, window: float, horizon: float) -> None:
        self.window = window
        self.horizon = horizon
        # Seconds of activity kept behind an edge's newest record: a record up to the horizon
        # late still falls in windows that are measured again (DESIGN §5).
        self.keep = shared_number(horizon + window)
        # The one frozen empty graph until a first hop is made (``_own_graph``): a networkx
        # graph costs ~800 bytes empty, and most of a worker's accounts never make a hop.
        self._g: nx.DiGraph[str] = _NO_HOPS
        # networkx's own successor dict: reading it directly saves a view object per lookup on
        # the hot path (``G.succ[u]`` builds an AtlasView each call).
        self._succ: dict[str, dict[str, dict[str, Any]]] = _NO_HOPS._succ  # type: ignore[attr-defined]
        # Containers shared by every graph until it needs its own (``loopwatch.events.shared``;
        # ``_own_configuration``, ``_watch``). trigger id -> (source, target):
        self._trigger_hops: dict[str, tuple[str, str]] = shared_dict()
        # bucket -> its notification trigger ids
        self._bucket_triggers: dict[str, set[str]] = shared_dict()
        self.changed: Changed[tuple[str, str]] | None = None
        """Hops that may have changed since they were last taken, kept only once someone
        sets it (the service, to save only those); None keeps nothing (replay)."""
        self.changed_buckets: Changed[str] | None = None
        """Buckets whose notification trigger ids may have changed, as ``changed``."""
        # Hops to look at for expiry, by slot of event time (see the module docstring). A slot
        # as wide as the engine's sweep interval: a sweep empties about one slot.
        self._slot_width = shared_number(horizon / 12)
        self._due: dict[float, list[Edge]] = shared_dict()
        self._due_slots: list[float] = shared_list()  # heap of the keys of ``_due``

    # -- reading -------------------------------------------------------------------------------

    @property
    def nx(self) -> nx.DiGraph[str]:
        """The underlying networkx graph (read it; change it only through this class)."""
        return self._g

    def edge(self, source: str, target: str) -> Edge | None:
        data = self._succ.get(source, {}).get(target)
        if data is None:
            return None
        hop: Edge = data["hop"]
        return hop

    def successors(self, node: str) -> Iterator[Edge]:
        for data in self._succ.get(node, {}).values():
            yield data["hop"]

    def successors_from_last(self, node: str) -> Iterator[Edge]:
        """``successors`` in reverse, the newest first: a hop made again goes to the end."""
        for data in reversed(self._succ.get(node, {}).values()):
            yield data["hop"]

    def trigger(self, trigger_id: str) -> Trigger | None:
        hop = self._trigger_hops.get(trigger_id)
        if hop is None:
            return None
        edge = self.edge(*hop)
        return None if edge is None else edge.triggers.get(trigger_id)

    def node_count(self) -> int:
        return int(self._g.number_of_nodes())

    def bucket_trigger_ids(self, bucket: str) -> list[str] | None:
        """The trigger ids of ``bucket``'s notification configuration (None: never seen)."""
        ids = self._bucket_triggers.get(bucket)
        return None if ids is None else sorted(ids)

    # -- configuration -------------------------------------------------------------------------

    def add_trigger(self, trigger: Trigger) -> bool:
        """Add or replace a trigger; True if its hop became usable by it."""
        self.remove_trigger(trigger.id)
        edge = self._edge_for(trigger.source, trigger.target)
        was = edge.configured()
        edge.triggers[trigger.id] = trigger
        self._own_configuration()
        self._trigger_hops[trigger.id] = (trigger.source, trigger.target)
        return trigger.enabled and not was

    def remove_trigger(self, trigger_id: str) -> tuple[str, str] | None:
        """Remove a trigger; the hop it was on, or None if it was unknown."""
        hop = self._trigger_hops.get(trigger_id)
        if hop is None:
            return None
        del self._trigger_hops[trigger_id]
        self._changed(hop)
        edge = self.edge(*hop)
        if edge is not None:
            edge.triggers.pop(trigger_id, None)
            self._drop_if_empty(edge)
        return hop

    def set_trigger_enabled(self, trigger_id: str, enabled: bool) -> tuple[str, str] | None:
        """Enable or disable a trigger; its hop, or None if the trigger is unknown."""
        hop = self._trigger_hops.get(trigger_id)
        edge = None if hop is None else self.edge(*hop)
        if hop is None or edge is None:
            return None
        old = edge.triggers[trigger_id]
        if old.enabled != enabled:
            edge.triggers[trigger_id] = _with_enabled(old, enabled)
            self._changed(hop)
        return hop

    def replace_bucket_triggers(self, bucket: str, triggers: tuple[Trigger, ...]) -> list[Trigger]:
        """A bucket's notification configuration becomes ``triggers``; the ones newly usable."""
        if self.changed_buckets is not None:
            self.changed_buckets.add(bucket)
        self._own_configuration()
        for old in self._bucket_triggers.pop(bucket, set()):
            self.remove_trigger(old)
        fresh = [t for t in triggers if self.add_trigger(t)]
        self._bucket_triggers[bucket] = {t.id for t in triggers}
        self.rematch(bucket)
        return fresh

    def drop_node(self, node: str) -> None:
        """A function was deleted: its hops and the triggers on them go."""
        if node not in self._g:
            return
        for source, target in [*self._g.in_edges(node), *self._g.out_edges(node)]:
            self._changed((source, target))
            for trigger_id in list(self._g.edges[source, target]["hop"].triggers):
                self._trigger_hops.pop(trigger_id, None)
        self._g.remove_node(node)

    # -- observation ---------------------------------------------------------------------------

    def record_write(
        self,
        function: str,
        target: str,
        time: float,
        count: int,
        key: str | None,
        s3_event: str | None,
    ) -> bool:
        """A function wrote to ``target``; True if the hop (or a loop-closing part of it) is new."""
        edge = self._edge_for(function, target)
        fresh = edge.writes is None or not edge.writes.live(time, self.horizon)
        if edge.writes is None:
            edge.writes = Activity(self.window, self.keep)
        edge.writes.add(time, count)
        if (time + self.horizon) // self._slot_width < edge.expiry_slot:
            self._watch(edge, time)
        if edge.target_is_bucket:
            if key is not None:
                edge.last_key = key
            edge.log_write(time, count, key, s3_event, self.keep)
            fresh = self._record_closing(edge, time, count, key, s3_event) or fresh
        return fresh

    def record_invocation(self, source: str, function: str, time: float) -> bool:
        """``source``'s trigger invoked ``function``; True if this hop was not live before."""
        edge = self._edge_for(source, function)
        fresh = not edge.live(time, self.horizon)
        invocations = edge.invocations
        if invocations is None:
            invocations = edge.invocations = Activity(self.window, self.keep)
            if not edge.triggers and arns.kind(source) == arns.BUCKET:
                # A hop known only by its invocations delivers anything: the writes into the
                # bucket seen before it was first seen firing now count as closing towards it.
                self.rematch(source)
        invocations.add(time)
        if (time + self.horizon) // self._slot_width < edge.expiry_slot:
            self._watch(edge, time)
        return fresh

    def rematch(self, bucket: str) -> None:
        """Match the remembered writes into ``bucket`` against its current triggers again.

        Called whenever what the bucket delivers onward changes (its notification configuration
        replaced, a trigger added, enabled or removed, a hop first seen firing), so that writes
        that arrived before the configuration count exactly as if it had come first.
        """
        if bucket not in self._g:
            return
        for writer in list(self._g.predecessors(bucket)):
            edge = self.edge(writer, bucket)
            if edge is None or not edge.target_is_bucket:
                continue
            self._changed((writer, bucket))
            edge.closing = {}
            for second, key, event, count in edge.written or ():
                self._record_closing(edge, float(second), count, key, event)

    def triggered_from(self, function: str, service: str) -> str | None:
        """The only resource of ``service`` (``s3.amazonaws.com``) that triggers ``function``."""
        prefix = "arn:aws:" + service.split(".", 1)[0] + ":"
        sources = (
            [u for u in self._g.predecessors(function) if u.startswith(prefix)]
            if function in self._g
            else []
        )
        return sources[0] if len(sources) == 1 else None

    def expire(self, now: float) -> None:
        """Drop observations older than the horizon, and hops left with nothing.

        Visits the hops filed under the slots that have begun by ``now`` (a second to spare
        against rounding: a visit too many changes nothing); every other hop has nothing past
        the horizon.
        """
        last_slot = (now + 1.0) // self._slot_width
        due, slots, changed = self._due, self._due_slots, self.changed
        again: list[Edge] = []
        while slots and slots[0] <= last_slot:
            slot = heapq.heappop(slots)
            for edge in due.pop(slot):
                if edge.expiry_slot != slot or self.edge(edge.source, edge.target) is not edge:
                    continue  # filed sooner since (and visited then), or dropped
                edge.expiry_slot = math.inf
                before = (edge.writes, edge.invocations, len(edge.closing))
                if edge.expire(now, self.horizon):
                    self._drop_edge(edge)  # marked changed there
                    continue
                again.append(edge)
                if changed is not None and before != (
                    edge.writes,
                    edge.invocations,
                    len(edge.closing),
                ):
                    changed.add((edge.source, edge.target))
        for edge in again:  # after the loop: a hop due again at once waits for the next sweep
            oldest = edge.oldest_observation()
            if oldest is not None:
                self._watch(edge, oldest)

    # -- serialisation ---------------------------------------------------------------------------

    def to_dict(self, now: float) -> dict[str, Any]:
        """The graph as plain JSON-ready data: nodes with kinds, hops with triggers and counts."""
        if self.changed is not None:  # counting drops seconds past the window: a change
            self.changed.update(self._g.edges())
        edges = []
        for source, target, data in self._g.edges(data=True):
            edge: Edge = data["hop"]
            edges.append(
                {
                    "source": source,
                    "target": target,
                    "triggers": [
                        {
                            "id": t.id,
                            "via": t.via,
                            "enabled": t.enabled,
                            "events": list(t.events),
                            "prefix": t.prefix,
                            "suffix": t.suffix,
                        }
                        for t in edge.triggers.values()
                    ],
                    "writes": _activity_dict(edge.writes, now),
                    "invocations": _activity_dict(edge.invocations, now),
                }
            )
        nodes = [{"id": n, "kind": k} for n, k in self._g.nodes(data="kind")]
        return {"nodes": nodes, "edges": edges}

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume: hops (with triggers and activity) and bucket configs."""
        return {
            "edges": [data["hop"].to_state() for _, _, data in self._g.edges(data=True)],
            "bucket_triggers": {
                bucket: sorted(ids) for bucket, ids in self._bucket_triggers.items()
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], window: float, horizon: float) -> ResourceGraph:
        graph = cls(window, horizon)
        if state["edges"]:
            graph._own_graph()
        for edge_state in state["edges"]:
            edge = Edge.from_state(edge_state, window, graph.keep)
            for node in (edge.source, edge.target):
                if node not in graph._g:
                    graph._g.add_node(node, kind=arns.kind(node))
            graph._g.add_edge(edge.source, edge.target, hop=edge)
            for trigger_id in edge.triggers:
                graph._own_configuration()
                graph._trigger_hops[trigger_id] = (edge.source, edge.target)
            oldest = edge.oldest_observation()
            if oldest is not None:
                graph._watch(edge, oldest)
        if state["bucket_triggers"]:
            graph._own_configuration()
            graph._bucket_triggers.update(
                (bucket, set(ids)) for bucket, ids in state["bucket_triggers"].items()
            )
        return graph

    # -- internals -----------------------------------------------------------------------------

    def _changed(self, hop: tuple[str, str]) -> None:
        if self.changed is not None:
            self.changed.add(hop)

    def _edge_for(self, source: str, target: str) -> Edge:
        """The hop, made if new; every caller changes it, so it is marked changed here."""
        changed = self.changed
        if changed is not None:
            changed.add((source, target))
        data = self._succ.get(source, {}).get(target)
        if data is not None:
            hop: Edge = data["hop"]
            return hop
        self._own_graph()
        for node in (source, target):
            if node not in self._g:
                self._g.add_node(node, kind=arns.kind(node))
        edge = Edge(source, target, target_is_bucket=arns.kind(target) == arns.BUCKET)
        self._g.add_edge(source, target, hop=edge)
        return edge

    def _own_graph(self) -> None:
        """Make hops in a graph of this one's own, not the shared empty one."""
        if self._g is _NO_HOPS:
            self._g = nx.DiGraph()
            self._succ = self._g._succ  # type: ignore[attr-defined]

    def _own_configuration(self) -> None:
        """Keep triggers in dicts of this graph's own, not the shared empty ones."""
        if is_shared(self._trigger_hops):
            self._trigger_hops, self._bucket_triggers = {}, {}

    def _watch(self, edge: Edge, time: float) -> None:
        """File ``edge`` to be visited by ``expire`` once an observation at ``time`` may have
        passed the horizon, unless it is filed for a sooner slot already."""
        slot = (time + self.horizon) // self._slot_width
        if slot >= edge.expiry_slot:
            return
        if is_shared(self._due):
            self._due, self._due_slots = {}, []
        edge.expiry_slot = slot
        bucket = self._due.get(slot)
        if bucket is None:
            bucket = self._due[slot] = []
            heapq.heappush(self._due_slots, slot)
        bucket.append(edge)

    def _record_closing(
        self, edge: Edge, time: float, count: int, key: str | None, s3_event: str | None
    ) -> bool:
        fresh = added = False
        for data in self._succ.get(edge.target, {}).values():
            onward: Edge = data["hop"]
            if not _delivers(onward, key, s3_event):
                continue
            activity = edge.closing.get(onward.target)
            if activity is None or not activity.live(time, self.horizon):
                fresh = True
            if activity is None:
                activity = edge.closing[onward.target] = Activity(self.window, self.keep)
            activity.add(time, count)
            added = True
        if added and (time + self.horizon) // self._slot_width < edge.expiry_slot:
            self._watch(edge, time)
        return fresh

    def _drop_if_empty(self, edge: Edge) -> None:
        if not edge.triggers and edge.writes is None and edge.invocations is None:
            self._drop_edge(edge)

    def _drop_edge(self, edge: Edge) -> None:
        self._changed((edge.source, edge.target))
        self._g.remove_edge(edge.source, edge.target)
        for node in (edge.source, edge.target):
            if node in self._g and self._g.degree(node) == 0:
                self._g.remove_node(node)


_NO_HOPS: nx.DiGraph[str] = nx.freeze(nx.DiGraph())
"""The graph of every ResourceGraph that has made no hop yet: frozen, so that nothing is
ever added to it (``_own_graph`` replaces it first)."""


def _delivers(onward: Edge, key: str | None, s3_event: str | None) -> bool:
    """S3 sends this object event along ``onward``: some enabled trigger's filter matches it.

    A hop seen only through invocations (its configuration predates the logs) may deliver
    anything: an unknown filter cannot rule a loop out.
    """
    if not onward.triggers:
        return onward.invocations is not None
    return any(t.enabled and _matches(t, key, s3_event) for t in onward.triggers.values())


def _matches(trigger: Trigger, key: str | None, s3_event: str | None) -> bool:
    filtered = trigger.prefix or trigger.suffix
    if filtered and (
        key is None or not (key.startswith(trigger.prefix) and key.endswith(trigger.suffix))
    ):
        return False
    if not trigger.events or s3_event is None:
        return True
    event = "s3:" + s3_event
    for wanted in trigger.events:
        configured = wanted if wanted.startswith("s3:") else "s3:" + wanted
        if configured == event or (configured.endswith("*") and event.startswith(configured[:-1])):
            return True
    return False


def _with_enabled(trigger: Trigger, enabled: bool) -> Trigger:
    from dataclasses import replace

    return replace(trigger, enabled=enabled)


def _activity_dict(activity: Activity | None, now: float) -> dict[str, Any] | None:
    if activity is None:
        return None
    return {
        "total": activity.total,
        "in_window": activity.count(now),
        "first": activity.first,
        "last": activity.last,
    }
