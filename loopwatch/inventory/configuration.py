"""A snapshot as the engine's configuration facts: pure, no I/O, no clock.

    Function            ──► FunctionDeclared(function, role)
    StateMachine        ──► StateMachineDeclared(machine, role)          when its role was read
    BucketNotifications ──► BucketTriggersReplaced(bucket, triggers)     bucket → function/queue/topic/bus
    Mapping             ──► TriggerAdded + TriggerEnabled                queue/stream/table → function
    Subscription        ──► TriggerAdded                                 topic → function/queue
    Rule, per target    ──► TriggerAdded                                 bus → target
    Destination         ──► TriggerAdded per outcome                     function → destination
    StateMachine        ──► TriggerAdded per function                    state machine → function

Every trigger id, node id, ``via`` and filter field is exactly what the CloudTrail parser
(``loopwatch.events.cloudtrail``) gives for the record that made the same configuration, so
a configuration record in the input replaces the inventory's fact from its event time on.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.eventbridge import target_id
from loopwatch.events.cloudtrail.lambda_ import destination_id, filter_summary
from loopwatch.events.cloudtrail.s3 import notification_id
from loopwatch.events.facts import (
    DESTINATION,
    EVENT_SOURCE_MAPPING,
    EVENTBRIDGE_RULE,
    S3_NOTIFICATION,
    SNS_SUBSCRIPTION,
    STATE_MACHINE,
    BucketTriggersReplaced,
    Fact,
    FunctionDeclared,
    StateMachineDeclared,
    Trigger,
    TriggerAdded,
    TriggerEnabled,
)
from loopwatch.inventory.snapshot import (
    BucketNotifications,
    Mapping,
    Notification,
    RegionInventory,
    Rule,
    Snapshot,
    Subscription,
)

# SNS delivers to these inside AWS; email, http(s), sms… leave the resource graph.
_SUBSCRIBED = ("lambda", "sqs")
_OUTCOMES = (("on_success", "on-success"), ("on_failure", "on-failure"))


def configuration_facts(snapshot: Snapshot, time: float) -> list[Fact]:
    """The snapshot's configuration as facts dated ``time`` (epoch seconds), in an order the
    engine can apply directly: every function, and every state machine whose role was read,
    is declared before any trigger names it."""
    facts: list[Fact] = []
    for inventory in snapshot.inventories:
        facts.extend(
            FunctionDeclared(time, arns.canonical(f.arn), f.role) for f in inventory.functions
        )
        facts.extend(
            StateMachineDeclared(time, arns.canonical(m.arn), m.role)
            for m in inventory.state_machines
            if m.role is not None
        )
    for inventory in snapshot.inventories:
        facts.extend(_triggers(inventory, time))
    return facts


def _triggers(inventory: RegionInventory, time: float) -> list[Fact]:
    account, region = inventory.account, inventory.region
    facts: list[Fact] = []
    for bucket in inventory.buckets:
        facts.append(_bucket(bucket, account, region, time))
    for mapping in inventory.mappings:
        facts.extend(_mapping(mapping, time))
    for subscription in inventory.subscriptions:
        trigger = _subscription(subscription, account, region)
        if trigger is not None:
            facts.append(TriggerAdded(time, trigger))
    for rule in inventory.rules:
        facts.extend(TriggerAdded(time, t) for t in _rule(rule))
    for destination in inventory.destinations:
        function = arns.function_arn(destination.function, account, region)
        for field, outcome in _OUTCOMES:
            target = getattr(destination, field)
            if target:
                trigger_id = destination_id(function, outcome)
                trigger = Trigger(
                    trigger_id, function, arns.canonical(target), DESTINATION, detail=outcome
                )
                facts.append(TriggerAdded(time, trigger))
    for machine in inventory.state_machines:
        node = arns.canonical(machine.arn)
        for function in machine.functions:
            trigger = Trigger(
                state_machine_trigger_id(node, function),
                node,
                arns.canonical(function),
                STATE_MACHINE,
                detail="Task state",
            )
            facts.append(TriggerAdded(time, trigger))
    return facts


def listed_accounts(snapshot: Snapshot) -> list[str]:
    """Accounts read in some region whose ListFunctions no region refused: every function of
    theirs is in the snapshot."""
    refused = {
        r.account for r in snapshot.refused if r.service == "lambda" and r.call == "ListFunctions"
    }
    refused |= {r.account for r in snapshot.refused if r.service == "sts"}
    read = dict.fromkeys(inventory.account for inventory in snapshot.inventories)
    return [account for account in read if account not in refused]


def state_machine_trigger_id(machine: str, function: str) -> str:
    """``states:<state machine ARN>|<function ARN>``: one edge however many states invoke it."""
    return f"states:{machine}|{function}"


def _bucket(
    bucket: BucketNotifications, account: str, region: str, time: float
) -> BucketTriggersReplaced:
    # Counted in the parser's order (Lambda, queue, topic, EventBridge), so the ids match
    # those of the PutBucketNotification record that made this configuration.
    node = arns.bucket_arn(bucket.bucket)
    triggers: list[Trigger] = []
    for notification in (*bucket.lambda_functions, *bucket.queues, *bucket.topics):
        triggers.append(_notification(notification, bucket.bucket, node, len(triggers)))
    if bucket.eventbridge:
        # EventBridge delivery sends every event of the bucket to the default bus of its
        # region, in the bucket owner's account.
        bus = arns.event_bus_arn(None, bucket.account or account, region)
        triggers.append(
            Trigger(notification_id(bucket.bucket, len(triggers)), node, bus, S3_NOTIFICATION)
        )
    return BucketTriggersReplaced(time, node, tuple(triggers))


def _notification(notification: Notification, name: str, node: str, n: int) -> Trigger:
    return Trigger(
        id=notification_id(name, n),
        source=node,
        target=arns.canonical(notification.target),
        via=S3_NOTIFICATION,
        events=notification.events,
        prefix=notification.prefix,
        suffix=notification.suffix,
        detail=notification.id or "",
    )


def _mapping(mapping: Mapping, time: float) -> list[Fact]:
    if mapping.source is None:  # self-managed Kafka, MQ: no node of the graph
        return []
    criteria = {"filters": [{"pattern": pattern} for pattern in mapping.filter]}
    trigger = Trigger(
        id=mapping.uuid,
        source=arns.canonical(mapping.source),
        target=arns.canonical(mapping.function),
        via=EVENT_SOURCE_MAPPING,
        enabled=mapping.enabled,
        detail=filter_summary(criteria),
    )
    # The state as a fact of its own too: a later UpdateEventSourceMapping record toggles it
    # the same way, whichever of the two the engine saw first.
    return [TriggerAdded(time, trigger), TriggerEnabled(time, mapping.uuid, mapping.enabled)]


def _subscription(subscription: Subscription, account: str, region: str) -> Trigger | None:
    protocol = subscription.protocol.lower()
    if protocol not in _SUBSCRIBED or not subscription.arn.startswith("arn:"):
        return None  # another protocol, or still PendingConfirmation: nothing is delivered
    topic = arns.canonical(subscription.topic)
    endpoint = subscription.endpoint
    if protocol == "lambda":
        target = arns.function_arn(endpoint, account, region)
    else:
        target = arns.canonical(endpoint)
    detail = f"filter policy: {subscription.filter}" if subscription.filter else ""
    return Trigger(subscription.arn, topic, target, SNS_SUBSCRIPTION, detail=detail)


def _rule(rule: Rule) -> list[Trigger]:
    if rule.pattern is None and rule.schedule is not None:
        # A scheduled rule fires on the clock: what is written to its bus never runs it.
        return []
    enabled = rule.state != "DISABLED"
    return [
        Trigger(
            target_id(rule.bus, rule.name, target.id),
            rule.bus,
            arns.canonical(target.arn),
            EVENTBRIDGE_RULE,
            enabled=enabled,
            detail=f"rule {rule.name}",
        )
        for target in rule.targets
    ]
