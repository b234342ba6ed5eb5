"""How hard a cycle is running: traversals and loop gain inside the activity window."""

from __future__ import annotations

from dataclasses import dataclass

from loopwatch.detect.cycles import hops
from loopwatch.events import arns
from loopwatch.graph import ResourceGraph


@dataclass(frozen=True, slots=True)
class Measure:
    traversals: int
    """Times every observed hop of the cycle fired in the window: the smallest hop count."""
    gain: float | None
    """Loop-closing writes ÷ invocations the cycle's triggers caused; None where unobserved."""
    gain_allowing_in_flight: float | None
    """The same with one run per hop still in flight (not yet written): what decides active."""


def measure(graph: ResourceGraph, cycle: tuple[str, ...], now: float) -> Measure:
    """Count a cycle's traversals and gain at event time ``now`` (DESIGN §5).

    A hop that is configuration only (a mapping nobody observes firing) does not bound the
    count; a cycle made only of such hops has zero traversals: it can exist, never run.
    """
    counts: list[int] = []
    for node, nxt, after in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is None:
            return Measure(0, None, None)
        activity = edge.counted(after)
        if activity is not None:
            counts.append(activity.count(now))
    gain, in_flight = _gain(graph, cycle, now)
    return Measure(min(counts) if counts else 0, gain, in_flight)


def _gain(
    graph: ResourceGraph, cycle: tuple[str, ...], now: float
) -> tuple[float | None, float | None]:
    """Product over the cycle's functions of writes onward ÷ invocations through the trigger
    (less the one that may still be running).

    Only functions whose incoming trigger is seen firing (Invoke with a sourceArn, invocation
    events with a source) contribute; an Invoke by another function is itself the write.
    """
    n = len(cycle)
    gain: float | None = None
    in_flight: float | None = None
    for i, node in enumerate(cycle):
        if not arns.is_function(node) or n < 2:
            continue
        arriving = graph.edge(cycle[i - 1], node)
        leaving = graph.edge(node, cycle[(i + 1) % n])
        if arriving is None or leaving is None:
            continue
        if arriving.writes is not None or arriving.invocations is None:
            continue
        invocations = arriving.invocations.count(now)
        onward = leaving.counted(cycle[(i + 2) % n])
        if invocations == 0 or onward is None:
            continue
        writes = onward.count(now)
        # One run may still be in flight: its invocation is logged, its write not yet. A
        # runaway caught at its 3rd traversal would read 3/4 there and look guarded.
        settled = writes / max(invocations - 1, 1)
        gain = writes / invocations * (1.0 if gain is None else gain)
        in_flight = settled * (1.0 if in_flight is None else in_flight)
    return gain, in_flight
