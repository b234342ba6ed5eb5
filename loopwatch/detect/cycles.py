"""Finding the cycles through one hop, within a bounded search.

A cycle is a list of nodes ``(n0, n1, …, nk-1)`` with hops ``ni → ni+1`` and ``nk-1 → n0``.
It holds when every hop is live and every hop into a bucket delivers onwards (the write's key
matches the next trigger's filter), and it passes through at least one function.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.facts import EVENT_SOURCE_MAPPING
from loopwatch.graph import Edge, ResourceGraph

# Hops examined by one search at the most: a hub (a default event bus with hundreds of rules)
# must not turn one event into a graph-wide walk.
SEARCH_BUDGET = 5000


def cycles_through(
    graph: ResourceGraph, source: str, target: str, now: float, max_length: int
) -> list[tuple[str, ...]]:
    """The cycles that use the hop ``source → target``, each starting at ``source``.

    Walks forward from ``target`` over live hops looking for ``source``, at most ``max_length``
    hops in all: the cost depends on the neighbourhood of the hop, not on the graph's size.
    """
    first = graph.edge(source, target)
    if first is None or not first.live(now, graph.horizon):
        return []
    if source == target:  # a function whose destination is itself
        return [(source,)] if arns.is_function(source) else []
    search = _Search(graph, source, target, now, max_length)
    search.walk(first)
    return search.found


class _Search:
    """One bounded depth-first walk. A class rather than a closure that calls itself: such a
    closure is a reference cycle, garbage only the cyclic collector frees, made every search."""

    __slots__ = ("budget", "found", "graph", "horizon", "max_length", "now", "on_path", "path")

    def __init__(
        self, graph: ResourceGraph, source: str, target: str, now: float, max_length: int
    ) -> None:
        self.graph = graph
        self.now = now
        self.horizon = graph.horizon
        self.max_length = max_length
        self.path = [source, target]
        self.on_path = {source, target}
        self.budget = SEARCH_BUDGET
        self.found: list[tuple[str, ...]] = []

    def walk(self, arrived_by: Edge) -> None:
        path, now, horizon = self.path, self.now, self.horizon
        source, target = path[0], path[1]
        for hop in self.graph.successors(path[-1]):
            self.budget -= 1
            if self.budget < 0:
                return
            nxt = hop.target
            if not hop.live(now, horizon) or not arrived_by.closes_towards(nxt, now, horizon):
                continue
            if nxt == source:
                if hop.closes_towards(target, now, horizon) and any(map(arns.is_function, path)):
                    self.found.append(tuple(path))
                continue
            if nxt in self.on_path or len(path) >= self.max_length:
                continue
            path.append(nxt)
            self.on_path.add(nxt)
            self.walk(hop)
            path.pop()
            self.on_path.discard(nxt)


def hops(cycle: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(node, next, after next)`` for every hop of the cycle, wrapping around."""
    n = len(cycle)
    return [(cycle[i], cycle[(i + 1) % n], cycle[(i + 2) % n]) for i in range(n)]


def holds(graph: ResourceGraph, cycle: tuple[str, ...], now: float) -> bool:
    """Every hop of the cycle is still live and delivers onwards."""
    for node, nxt, after in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is None or not edge.live(now, graph.horizon):
            return False
        if not edge.closes_towards(after, now, graph.horizon):
            return False
    return True


def canonical_rotation(cycle: tuple[str, ...]) -> tuple[str, ...]:
    """One fixed rotation of a cycle: starting at its smallest resource (or node)."""
    resources = [n for n in cycle if not arns.is_function(n)] or list(cycle)
    start = cycle.index(min(resources))
    return cycle[start:] + cycle[:start]


def cycle_mappings(
    graph: ResourceGraph, cycle: tuple[str, ...]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(function, UUIDs of the enabled event source mappings on the cycle's hops into it):
    what a throttle may disable, carried by the finding so actions need no graph."""
    found: dict[str, list[str]] = {}
    for node, nxt, _ in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is None:
            continue
        for trigger in edge.enabled_triggers():
            if trigger.via == EVENT_SOURCE_MAPPING:
                found.setdefault(nxt, []).append(trigger.id)
    return tuple((fn, tuple(uuids)) for fn, uuids in sorted(found.items()))
