"""Ground truth for expected loops: when did the n-th traversal complete (DESIGN §5)?

    cycle  n0 ──e0──► n1 ──e1──► … ──► n0
    observed edges: function → resource writes that match the next trigger,
                    and resource → function triggers whose invocations were observed
    n-th traversal complete at  max over observed edges of (edge's n-th firing time)

Times are as the records state them (CloudTrail ``eventTime`` has whole seconds), so a
detector that reads those records can be held to them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from loopwatch.events import arns
from loopwatch.topology.model import Ref, S3Notification, Topology


@dataclass(frozen=True, slots=True)
class Route:
    """A trigger edge as the simulator uses it: source and target node ids, and its filter."""

    source: str
    target: str
    target_ref: Ref
    notification: S3Notification | None = None
    enabled: bool = True
    consumes: bool = False

    def matches(self, key: str | None, s3_event: str | None) -> bool:
        return self.notification is None or self.notification.matches(key, s3_event)


@dataclass(frozen=True, slots=True)
class Firing:
    """One observed use of edge ``source → target`` at stated time ``time``."""

    source: str
    target: str
    time: float
    key: str | None = None
    s3_event: str | None = None


@dataclass(frozen=True, slots=True)
class LoopTruth:
    cycle: tuple[str, ...]
    """Node ids in traversal order, as the topology's ``expect`` lists them."""
    status: str
    traversals: int
    """Complete traversals over the whole run (the smallest observed edge count)."""
    third_traversal_at: float | None
    """Epoch seconds by which the 3rd traversal completed; None if it never did."""
    observed_edges: tuple[tuple[str, str], ...]


def traversal_times(
    cycle: tuple[str, ...],
    routes: dict[str, list[Route]],
    firings: list[Firing],
    invocations_observed: bool,
) -> tuple[tuple[tuple[str, str], ...], list[list[float]]]:
    """The cycle's observed edges and, for each, the sorted times it fired.

    ``invocations_observed``: whether trigger-driven invocations leave a record (Invoke data
    events or invocation events); without, resource → function edges are not observed.
    """
    edges: list[tuple[str, str]] = []
    times: list[list[float]] = []
    n = len(cycle)
    for i, (u, v) in enumerate(zip(cycle, cycle[1:] + cycle[:1], strict=True)):
        w = cycle[(i + 2) % n]
        if arns.is_function(u):
            onward = [r for r in routes.get(v, ()) if r.target == w and r.enabled]

            def closes(f: Firing, onward: list[Route] = onward, v: str = v) -> bool:
                if arns.is_function(v):
                    return True
                return any(r.matches(f.key, f.s3_event) for r in onward)

            hits = [f.time for f in firings if f.source == u and f.target == v and closes(f)]
        elif arns.is_function(v):
            if not invocations_observed:
                continue  # nothing records these invocations: the edge does not count
            hits = [f.time for f in firings if f.source == u and f.target == v]
        else:
            continue  # resource → resource (bucket → queue…): nothing records it
        edges.append((u, v))
        times.append(sorted(hits))
    return tuple(edges), times


def loop_truths(
    topo: Topology, routes: dict[str, list[Route]], firings: list[Firing]
) -> tuple[LoopTruth, ...]:
    """Ground truth for each loop the configuration really makes: the loops expected beside
    the inventory (``Topology.expected(inventory=True)``), which for a topology whose logs
    carry their configuration are those of ``expect``. The logs alone of a configuration
    that predates them may show a loop that does not exist (a filter they cannot see): it
    has no truth."""
    out = []
    expected = topo.expected(inventory=True)
    for loop, cycle in zip(expected.loops, topo.expected_cycles(inventory=True), strict=True):
        observed = topo.observe.invokes or topo.observe.invocation_events
        edges, times = traversal_times(cycle, routes, firings, observed)
        traversals = min((len(t) for t in times), default=0)
        third = max(t[2] for t in times) if edges and traversals >= 3 else None
        out.append(LoopTruth(cycle, loop.status, traversals, third, edges))
    return tuple(out)
