"""Plain words for a cycle: which write closes which trigger, and what would break it."""

from __future__ import annotations

from loopwatch.detect.cycles import hops
from loopwatch.detect.measure import Measure
from loopwatch.events import arns
from loopwatch.events.facts import (
    DESTINATION,
    EVENT_SOURCE_MAPPING,
    EVENTBRIDGE_RULE,
    S3_NOTIFICATION,
    SNS_SUBSCRIPTION,
    Trigger,
)
from loopwatch.graph import Edge, ResourceGraph


def draw(cycle: tuple[str, ...]) -> str:
    """``bucket uploads → function thumb → bucket uploads``."""
    return " → ".join(arns.label(n) for n in (*cycle, cycle[0]))


def explain(
    graph: ResourceGraph, cycle: tuple[str, ...], m: Measure, window: float, guarded: bool
) -> str:
    steps = []
    for node, nxt, after in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is not None:
            steps.append(_describe_hop(edge, after))
    minutes = f"{window / 60:g} min"
    text = (
        "; ".join(steps)
        + f". When this was written: {m.traversals} traversal{'s' if m.traversals != 1 else ''} within {minutes}"
    )
    if m.gain is not None:
        text += f", loop gain {m.gain:.2f}"
    text += "."
    if guarded:
        text += (
            " The loop is guarded: only about half of the runs write back (gain below 0.9), so each"
            " chain ends by itself."
        )
    return text


def fix(graph: ResourceGraph, cycle: tuple[str, ...], guarded: bool) -> str:
    if guarded:
        return "Nothing to stop: keep the guard that makes the triggered run exit without writing."
    for node, nxt, after in hops(cycle):
        edge = graph.edge(node, nxt)
        if edge is None or edge.writes is None:
            continue
        onward = graph.edge(nxt, after)
        trigger = _first_trigger(onward)
        return _fix_for_write(edge, nxt, after, trigger)
    for node, nxt, _ in hops(cycle):
        edge = graph.edge(node, nxt)
        trigger = _first_trigger(edge)
        if trigger is not None and trigger.via == DESTINATION:
            return f"Point the destination of {arns.label(node)} somewhere that does not invoke it again."
    return "Break the chain: make one function in it write somewhere that triggers nothing in the cycle."


def _describe_hop(edge: Edge, after: str) -> str:
    source, target = arns.label(edge.source), arns.label(edge.target)
    if edge.writes is not None:
        if arns.is_function(edge.target):
            return f"{source} invokes {target}"
        verb = f"{source} writes to {target}"
        if edge.target_is_bucket and edge.last_key is not None:
            verb += f" (key `{edge.last_key}`"
            onward_closing = edge.closing.get(after)
            verb += ", which matches the next trigger's filter)" if onward_closing else ")"
        return verb
    trigger = _first_trigger(edge)
    if trigger is None:
        return (
            f"{source} invoked {target} (seen in invocations; its configuration predates the logs)"
        )
    return f"{source} triggers {target} through {_describe_trigger(trigger)}"


def _describe_trigger(trigger: Trigger) -> str:
    if trigger.via == S3_NOTIFICATION:
        events = ", ".join(trigger.events) or "every event"
        text = f"an S3 notification on {events}"
        if trigger.prefix:
            text += f", prefix `{trigger.prefix}`"
        if trigger.suffix:
            text += f", suffix `{trigger.suffix}`"
        return text
    if trigger.via == EVENT_SOURCE_MAPPING:
        text = f"event source mapping {trigger.id.rsplit(':', 1)[-1]}"
        return text + (f" ({trigger.detail})" if trigger.detail else "")
    if trigger.via == SNS_SUBSCRIPTION:
        return "a subscription"
    if trigger.via == EVENTBRIDGE_RULE:
        return f"rule {trigger.detail or trigger.id}"
    if trigger.via == DESTINATION:
        return f"an invocation destination ({trigger.detail or 'on success/failure'})"
    return trigger.via


def _first_trigger(edge: Edge | None) -> Trigger | None:
    if edge is None:
        return None
    enabled = edge.enabled_triggers()
    return min(enabled, key=lambda t: t.id) if enabled else None


def _fix_for_write(edge: Edge, resource: str, after: str, trigger: Trigger | None) -> str:
    writer, target, next_label = arns.label(edge.source), arns.label(resource), arns.label(after)
    kind = arns.kind(resource)
    if arns.is_function(resource):
        return (
            f"Stop {writer} from invoking {target} unconditionally: pass a depth counter and stop at a"
            " limit, or hand the work to a queue with a bounded retry."
        )
    if kind == arns.BUCKET:
        if trigger is not None and (trigger.prefix or trigger.suffix):
            where = f"prefix `{trigger.prefix}`" if trigger.prefix else f"suffix `{trigger.suffix}`"
            return (
                f"Have {writer} write to a different prefix than the trigger's filter {where}"
                f" (e.g. `processed/`), or to a separate bucket."
            )
        return (
            f"Have {writer} write to a separate bucket, or add a prefix filter to the notification of"
            f" {target} and write outside it."
        )
    if kind == arns.QUEUE:
        return f"Use a separate destination queue: {writer} sends to {target}, which feeds {next_label}."
    if kind == arns.TOPIC:
        return (
            f"Publish to a separate topic, or give the subscription of {next_label} a filter policy"
            f" that drops messages {writer} publishes."
        )
    if kind == arns.TABLE:
        return (
            f"Write to a separate table, or add filter criteria to the stream mapping so that"
            f" {writer}'s own changes are dropped."
        )
    if kind == arns.STREAM:
        return f"Put records to a separate stream, not {target}, which feeds {next_label}."
    if kind == arns.EVENT_BUS:
        return (
            f"Put events on a separate bus, or narrow the rule's event pattern so it does not match"
            f" the events {writer} puts on {target}."
        )
    return f"Have {writer} write somewhere other than {target}, which feeds {next_label}."
