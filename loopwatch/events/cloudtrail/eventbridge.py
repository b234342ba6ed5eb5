"""EventBridge: rule targets (trigger edges) and PutEvents (write edges).

    PutTargets      bus ──eventbridge-rule──► target    id ``events:<bus ARN>/<rule>/<target id>``
    RemoveTargets   those edges go
    PutEvents       caller ──write──► bus, one write per bus named by the entries
PutRule is not read: a rule leads nowhere until it has targets, and its pattern is not
modelled (an edge is assumed to fire on any event of the bus).

Real shapes (EventBridge user guide's CloudTrail examples): PutRule carries ``name``,
``eventPattern`` and ``responseElements.ruleArn`` (no bus when it is the default one);
PutEvents is a data event with ``entries[].eventBusName`` (``"default"`` spelled out) and the
bus in ``resources[]``; through a global endpoint it adds ``endpointId`` and an
``AWS::Events::Endpoint`` resource, the bus written being the same. When EventBridge then
invokes a target function, the Invoke names the rule, not the bus (``lambda_.invoked``).
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    account,
    caller,
    capped,
    conf_items,
    conf_request,
    conf_text,
    conf_texts,
    event_time,
    facts_of,
    handles,
    need,
    objects,
    per_target,
    region,
    request,
    text,
)
from loopwatch.events.facts import (
    EVENTBRIDGE_RULE,
    Fact,
    Trigger,
    TriggerAdded,
    TriggerRemoved,
    Write,
)

EVENTS = "events.amazonaws.com"


def target_id(bus: str, rule: str, target: str) -> str:
    return f"events:{bus}/{rule}/{target}"


def _bus(rec: JSON, params: JSON) -> str:
    name = conf_text(params, "eventBusName", "requestParameters")
    if name is not None and name.startswith("arn:"):
        return name
    return arns.event_bus_arn(name, account(rec), region(rec))


@handles(EVENTS, "PutTargets")
def targets_put(rec: JSON) -> tuple[Fact, ...]:
    """One edge per target (the first ``target_limit``); ``targets`` of the wrong type (or
    holding a non-object) is MalformedRecord."""
    params = conf_request(rec)
    rule = need(params, "rule", "requestParameters")
    bus, time = _bus(rec, params), event_time(rec)

    def added(target: JSON) -> Fact:
        tid, arn = need(target, "id", "targets[]"), need(target, "arn", "targets[]")
        trigger = Trigger(
            target_id(bus, rule, tid),
            bus,
            arns.canonical(arn),
            EVENTBRIDGE_RULE,
            detail=f"rule {rule}",
        )
        return TriggerAdded(time, trigger)

    targets = conf_items(params, "targets", "requestParameters")
    return per_target(rec, targets, "targets", added)


@handles(EVENTS, "RemoveTargets")
def targets_removed(rec: JSON) -> tuple[Fact, ...]:
    params = conf_request(rec)
    rule = need(params, "rule", "requestParameters")
    bus, time = _bus(rec, params), event_time(rec)
    ids = conf_texts(params, "ids", "requestParameters")
    return per_target(
        rec, ids, "target ids", lambda i: TriggerRemoved(time, target_id(bus, rule, i))
    )


@handles(EVENTS, "PutEvents")
def events_put(rec: JSON) -> tuple[Fact, ...]:
    """Entries grouped by bus (a name or an ARN; the default bus when absent), for the first
    ``target_limit`` buses named."""
    who = caller(rec)
    if who is None:
        return ()
    named: dict[str | None, int] = {}
    for entry in objects(request(rec).get("entries")) or [{}]:
        name = text(entry, "eventBusName")
        named[name] = named.get(name, 0) + 1
    buses, truncation = capped(rec, named.items(), "event buses")
    counts: dict[str, int] = {}  # a bus named by name and by ARN is one bus
    for name, n in buses:
        bus = arns.event_bus_arn(name, who.account, who.region)
        counts[bus] = counts.get(bus, 0) + n
    time = event_time(rec)
    return facts_of((Write(time, who, bus, count=n) for bus, n in counts.items()), truncation)
