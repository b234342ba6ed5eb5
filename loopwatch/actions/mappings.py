"""The event source mappings that drive a cycle's functions, read from the live graph.

Findings name nodes, not mappings; the graph knows each mapping's UUID (the trigger id), so
the service asks here before throttling with ``throttle_disable_mappings`` on.
"""

from __future__ import annotations

from loopwatch.detect.cycles import hops
from loopwatch.events.facts import EVENT_SOURCE_MAPPING
from loopwatch.graph import ResourceGraph


def cycle_mappings(graph: ResourceGraph, cycle: tuple[str, ...]) -> dict[str, list[str]]:
    """Function ARN → UUIDs of the enabled mappings on the cycle's hops into it."""
    found: dict[str, list[str]] = {}
    for node, nxt, _ in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is None:
            continue
        for trigger in edge.enabled_triggers():
            if trigger.via == EVENT_SOURCE_MAPPING:
                found.setdefault(nxt, []).append(trigger.id)
    return found
