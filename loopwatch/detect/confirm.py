"""Whether a cycle rests on configuration or on guesses (DESIGN §5, "Confirmed or not").

    resource ──trigger hop──► function ──write──► resource …
       configured (a configuration record, or the inventory)  → known
       observed only (invocations alone: filter unknown)      → "the … of … was never seen"
    function: execution role known                           → confirmed, else presumed

An unconfirmed cycle is never active and never throttled; the sentences say what is missing,
so a person knows what to look up (or which ``--inventory`` would settle it).
"""

from __future__ import annotations

from loopwatch.detect.cycles import hops
from loopwatch.events import arns
from loopwatch.graph import Identities, ResourceGraph


def unknowns(graph: ResourceGraph, identities: Identities, cycle: tuple[str, ...]) -> list[str]:
    """Plain sentences naming what keeps ``cycle`` unconfirmed; empty when it is confirmed."""
    missing: list[str] = []
    for node, nxt, _ in hops(cycle):
        edge = graph.edge(node, nxt)
        if arns.is_function(node):
            if not identities.confirmed(node):
                missing.append(f"the execution role of {arns.label(node)} was never seen")
            elif edge is not None and edge.writes is None and not edge.configured():
                # Anyone can send an invocation event naming any source: a hop out of a
                # function counts as confirmed only on a CloudTrail write by that function
                # (or a configured destination), never on invocation events alone.
                missing.append(
                    f"no CloudTrail record shows {arns.label(node)} writing to"
                    f" {arns.label(nxt)}: only invocation events say so"
                )
            continue
        if edge is None or not edge.configured():
            missing.append(_never_seen(node, nxt))
    return missing


def _never_seen(source: str, target: str) -> str:
    kind = arns.kind(source)
    src, dst = arns.label(source), arns.label(target)
    if kind == arns.BUCKET:
        return f"the notification configuration of {src} was never seen"
    if kind == arns.TOPIC:
        return f"the subscription of {dst} to {src} was never seen"
    if kind == arns.EVENT_BUS:
        return f"the rule on {src} that targets {dst} was never seen"
    if kind in (arns.QUEUE, arns.TABLE, arns.STREAM):
        return f"the event source mapping from {src} to {dst} was never seen"
    return f"the trigger from {src} to {dst} was never seen"
