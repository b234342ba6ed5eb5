"""Lambda: functions, event source mappings, destinations and invocations.

CreateEventSourceMapping             queue / stream / table ──event-source-mapping──► function
Put/UpdateFunctionEventInvokeConfig  function ──destination──► queue / topic / bus / function
Invoke (data event)                  an invocation; by a function, also function ──write──► function
CreateFunction, UpdateFunctionConfiguration, DeleteFunction: which functions exist, with which role
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    account,
    as_obj,
    caller,
    event_time,
    handles,
    need,
    obj,
    objects,
    region,
    request,
    response,
    text,
    versioned,
)
from loopwatch.events.facts import (
    DESTINATION,
    EVENT_SOURCE_MAPPING,
    Fact,
    FunctionDeclared,
    FunctionDeleted,
    Invoked,
    Trigger,
    TriggerAdded,
    TriggerEnabled,
    TriggerRemoved,
    Write,
)

LAMBDA = "lambda.amazonaws.com"


def function_node(rec: JSON, name_or_arn: str) -> str:
    """The function's node id; a bare name takes the record's account and region."""
    if name_or_arn.startswith("arn:"):
        return arns.function_arn(name_or_arn, "", "")
    return arns.function_arn(name_or_arn, account(rec), region(rec))


# --- functions ---------------------------------------------------------------------


@handles(LAMBDA, *versioned("CreateFunction", "UpdateFunctionConfiguration"))
def function_declared(rec: JSON) -> tuple[Fact, ...]:
    params, resp = request(rec), response(rec)
    name = text(resp, "functionArn") or need(params, "functionName", "requestParameters")
    role = text(params, "role") or text(resp, "role")
    return (FunctionDeclared(event_time(rec), function_node(rec, name), role),)


@handles(LAMBDA, *versioned("DeleteFunction"))
def function_deleted(rec: JSON) -> tuple[Fact, ...]:
    params = request(rec)
    name = need(params, "functionName", "requestParameters")
    # With a qualifier only that version goes; the function itself stays.
    if text(params, "qualifier") is not None:
        return ()
    return (FunctionDeleted(event_time(rec), function_node(rec, name)),)


# --- event source mappings ---------------------------------------------------------


@handles(LAMBDA, *versioned("CreateEventSourceMapping"))
def mapping_created(rec: JSON) -> tuple[Fact, ...]:
    """A mapping from a queue, stream or table to a function, keyed by its UUID.

    A mapping without ``eventSourceArn`` (self-managed Kafka, MQ brokers) reads from
    outside AWS's resource graph and yields nothing.
    """
    params, resp = request(rec), response(rec)
    source = text(params, "eventSourceArn") or text(resp, "eventSourceArn")
    if source is None:
        return ()
    uuid = text(resp, "uUID") or need(resp, "UUID", "responseElements")
    name = text(params, "functionName") or need(resp, "functionArn", "responseElements")
    enabled = params.get("enabled")
    trigger = Trigger(
        id=uuid,
        source=arns.canonical(source),
        target=function_node(rec, name),
        via=EVENT_SOURCE_MAPPING,
        enabled=enabled if isinstance(enabled, bool) else True,
        detail=filter_summary(params.get("filterCriteria") or resp.get("filterCriteria")),
    )
    return (TriggerAdded(event_time(rec), trigger),)


@handles(LAMBDA, *versioned("UpdateEventSourceMapping"))
def mapping_updated(rec: JSON) -> tuple[Fact, ...]:
    """``enabled`` switches the edge; a new ``functionName`` re-points it (same id)."""
    params, resp = request(rec), response(rec)
    uuid = text(params, "uUID") or text(params, "UUID") or need(resp, "uUID", "responseElements")
    enabled = params.get("enabled")
    time = event_time(rec)
    facts: list[Fact] = []
    source, function = text(resp, "eventSourceArn"), text(resp, "functionArn")
    if text(params, "functionName") and source and function:
        state = text(resp, "state") or ""
        trigger = Trigger(
            id=uuid,
            source=arns.canonical(source),
            target=arns.canonical(function),
            via=EVENT_SOURCE_MAPPING,
            enabled=enabled if isinstance(enabled, bool) else state not in _DISABLED,
            detail=filter_summary(params.get("filterCriteria") or resp.get("filterCriteria")),
        )
        facts.append(TriggerAdded(time, trigger))
    if isinstance(enabled, bool):
        facts.append(TriggerEnabled(time, uuid, enabled))
    return tuple(facts)


_DISABLED = frozenset({"Disabled", "Disabling"})


@handles(LAMBDA, *versioned("DeleteEventSourceMapping"))
def mapping_deleted(rec: JSON) -> tuple[Fact, ...]:
    params, resp = request(rec), response(rec)
    uuid = text(params, "uUID") or text(params, "UUID") or need(resp, "uUID", "responseElements")
    return (TriggerRemoved(event_time(rec), uuid),)


def filter_summary(criteria: object) -> str:
    """``filter: <pattern> | <pattern>`` for explanations: a filtered mapping may not loop."""
    patterns = [p for f in objects(as_obj(criteria).get("filters")) if (p := text(f, "pattern"))]
    if not patterns:
        return ""
    summary = "filter: " + " | ".join(patterns)
    return summary if len(summary) <= 200 else summary[:199] + "…"


# --- destinations ------------------------------------------------------------------

_OUTCOMES = (("onSuccess", "on-success"), ("onFailure", "on-failure"))


def destination_id(function: str, outcome: str) -> str:
    """``destination:<function ARN>:on-success`` (or ``on-failure``)."""
    return f"destination:{function}:{outcome}"


@handles(LAMBDA, *versioned("PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig"))
def destinations_set(rec: JSON) -> tuple[Fact, ...]:
    """Destinations as edges function → destination.

    Put replaces the whole configuration, so an outcome it leaves out loses its edge;
    Update changes only the outcomes it names (an empty destination removes one).
    """
    params = request(rec)
    function = function_node(rec, need(params, "functionName", "requestParameters"))
    config = obj(params, "destinationConfig")
    replace = str(rec["eventName"]).startswith("Put")
    time = event_time(rec)
    facts: list[Fact] = []
    for key, outcome in _OUTCOMES:
        trigger_id = destination_id(function, outcome)
        destination = text(obj(config, key), "destination")
        if destination is not None:
            trigger = Trigger(
                trigger_id, function, arns.canonical(destination), DESTINATION, detail=outcome
            )
            facts.append(TriggerAdded(time, trigger))
        elif replace or key in config:
            facts.append(TriggerRemoved(time, trigger_id))
    return tuple(facts)


@handles(LAMBDA, *versioned("DeleteFunctionEventInvokeConfig"))
def destinations_deleted(rec: JSON) -> tuple[Fact, ...]:
    function = function_node(rec, need(request(rec), "functionName", "requestParameters"))
    time = event_time(rec)
    return tuple(TriggerRemoved(time, destination_id(function, o)) for _, o in _OUTCOMES)


# --- invocations -------------------------------------------------------------------


@handles(LAMBDA, *versioned("Invoke"))
def invoked(rec: JSON) -> tuple[Fact, ...]:
    """One invocation; when a role (a function, maybe) made it, also a write to the function."""
    params = request(rec)
    name = next(
        (
            arn
            for r in objects(rec.get("resources"))
            if r.get("type") == "AWS::Lambda::Function" and (arn := text(r, "ARN"))
        ),
        None,
    ) or need(params, "functionName", "requestParameters")
    function = function_node(rec, name)
    source = text(params, "sourceArn")
    service = text(obj(rec, "userIdentity"), "invokedBy")
    time = event_time(rec)
    invocation = Invoked(time, function, arns.canonical(source) if source else None, service)
    who = caller(rec)
    if who is None:
        return (invocation,)
    return (invocation, Write(time, who, function))
