"""A topology's configuration as an inventory snapshot, the one ``loopwatch inventory`` would
read from the account it describes: pure, no I/O.

    Topology ──model_inventory──► Snapshot (one account, one region)
      functions (execution roles)       ──► Function
      s3-notification per bucket        ──► BucketNotifications (every bucket, even quiet ones)
      event-source-mapping              ──► Mapping (the simulator's own UUID, enabled or not)
      sns-subscription                  ──► Subscription (the simulator's own ARN)
      buses, eventbridge-rule           ──► Bus, Rule + Target per target
      state-machine-task per machine    ──► StateMachine (the functions its Tasks invoke)
      destination per function          ──► Destination

Every id is the one the simulator's configuration records carry (mapping UUID, subscription
ARN, notification order, rule target id), so ``configuration_facts`` of this snapshot equals
what the CloudTrail parser takes from the setup of the same topology: a configuration record
in the logs overrides the inventory's fact, as it would with a real account.
"""

from __future__ import annotations

import random

from loopwatch.events.times import format_time
from loopwatch.inventory.snapshot import (
    VERSION,
    BucketNotifications,
    Bus,
    Destination,
    Function,
    Mapping,
    Notification,
    RegionInventory,
    Rule,
    Snapshot,
    StateMachine,
    Subscription,
    Target,
)
from loopwatch.topology import model
from loopwatch.topology.cloudtrail import EVENT_PATTERN, CloudTrail
from loopwatch.topology.ids import Ids
from loopwatch.topology.model import Ref, Topology
from loopwatch.topology.simulate import SETUP_LEAD

# Where a notification goes, by the target's kind: the snapshot's list for it.
_NOTIFIED = {"fn": "lambda_functions", "sqs": "queues", "sns": "topics"}


def model_inventory(topology: Topology) -> Snapshot:
    """The snapshot of ``topology``'s account and region, read at its traffic start."""
    topo = topology
    acct, region = topo.account, topo.region
    # Only its naming is used (stable ids, stream and rule ARNs); nothing random is drawn.
    ct = CloudTrail(topo, Ids(random.Random(0)), _setup_start(topo))
    inventory = RegionInventory(
        account=acct,
        region=region,
        functions=tuple(
            Function(topo.arn(Ref("fn", f.name)), _role_arn(acct, f.role)) for f in topo.functions
        ),
        mappings=tuple(
            Mapping(
                uuid=ct.mapping_uuid(m),
                source=ct.source_arn(m.source),
                function=topo.arn(Ref("fn", m.function)),
                enabled=m.enabled,
            )
            for m in topo.triggers
            if isinstance(m, model.EventSourceMapping)
        ),
        buckets=tuple(_bucket(topo, b) for b in topo.buckets),
        subscriptions=tuple(
            Subscription(
                arn=ct.subscription_arn(s),
                topic=topo.arn(Ref("sns", s.topic)),
                protocol="lambda" if s.endpoint.kind == "fn" else "sqs",
                endpoint=topo.arn(s.endpoint),
            )
            for s in topo.triggers
            if isinstance(s, model.Subscription)
        ),
        buses=tuple(Bus(name, topo.arn(Ref("events", name))) for name in ("default", *topo.buses)),
        rules=tuple(_rule(topo, r) for r in topo.triggers if isinstance(r, model.Rule)),
        state_machines=tuple(
            StateMachine(
                topo.arn(Ref("states", m.name)),
                tuple(
                    sorted(
                        {
                            topo.arn(Ref("fn", t.function))
                            for t in topo.triggers
                            if isinstance(t, model.StateMachineTask) and t.machine == m.name
                        }
                    )
                ),
                _role_arn(acct, m.role),
            )
            for m in topo.state_machines
        ),
        destinations=_destinations(topo),
    )
    return Snapshot(
        version=VERSION,
        read_at=format_time(topo.traffic.start.timestamp()),
        accounts=(acct,),
        regions=(region,),
        inventories=(inventory,),
    )


def _setup_start(topo: Topology) -> float:
    return topo.traffic.start.timestamp() - SETUP_LEAD


def _role_arn(account: str, role: str) -> str:
    return f"arn:aws:iam::{account}:role/{role}"


def _bucket(topo: Topology, bucket: str) -> BucketNotifications:
    groups: dict[str, list[Notification]] = {kind: [] for kind in _NOTIFIED.values()}
    notes = [t for t in topo.triggers if isinstance(t, model.S3Notification) and t.bucket == bucket]
    for i, note in enumerate(notes):
        groups[_NOTIFIED[note.target.kind]].append(
            Notification(
                target=topo.arn(note.target),
                events=note.events,
                prefix=note.prefix,
                suffix=note.suffix,
                # The Id the simulator's PutBucketNotification gives it.
                id=f"{bucket}-{note.target.kind}-{note.target.name}-{i}",
            )
        )
    return BucketNotifications(
        bucket=bucket,
        account=topo.account,
        lambda_functions=tuple(groups["lambda_functions"]),
        queues=tuple(groups["queues"]),
        topics=tuple(groups["topics"]),
    )


def _rule(topo: Topology, rule: model.Rule) -> Rule:
    return Rule(
        bus=topo.arn(Ref("events", rule.bus)),
        name=rule.name,
        state="ENABLED",
        pattern=EVENT_PATTERN,
        targets=tuple(Target(f"{x.kind}-{x.name}", topo.arn(x)) for x in rule.targets),
    )


def _destinations(topo: Topology) -> tuple[Destination, ...]:
    by_function: dict[str, dict[str, str]] = {}
    for d in topo.triggers:
        if isinstance(d, model.Destination):
            by_function.setdefault(d.function, {})[d.on] = topo.arn(d.destination)
    return tuple(
        # ListFunctionEventInvokeConfigs names the configuration by its qualified ARN.
        Destination(f"{topo.arn(Ref('fn', name))}:$LATEST", on.get("success"), on.get("failure"))
        for name, on in by_function.items()
    )
