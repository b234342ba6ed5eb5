"""A topology's inventory, built from the model and read from the AWS emulator, and the logs
of a configuration that predates its trail (DESIGN §5, §9).

The model's snapshot must give the engine exactly the facts the simulator's own setup
records give (same trigger ids, so a later record overrides it); the emulator's must give
the same graph whatever ids AWS chose; and logs ``configured_before_trail`` must hold no
configuration at all, with the records a real trail holds for what remains.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from loopwatch.events.facts import (
    STATE_MACHINE,
    BucketTriggersReplaced,
    Fact,
    FunctionDeclared,
    Invoked,
    StateMachineDeclared,
    Trigger,
    TriggerAdded,
    TriggerEnabled,
    TriggerRemoved,
    Write,
)
from loopwatch.events.records import parse
from loopwatch.inventory import configuration_facts
from loopwatch.testing.aws import moto_server
from loopwatch.testing.topology_estate import (
    MOTO_ACCOUNT,
    configured_graph,
    topology_inventory,
)
from loopwatch.topology import Ref, Topology, builtin_topologies, load_topology, simulate
from loopwatch.topology.builtin import builtin_topologies_dir
from loopwatch.topology.inventory import model_inventory
from loopwatch.topology.model import StateMachineTask

TOPOLOGIES = builtin_topologies_dir()

# One of every trigger kind the format has, with filters, a disabled mapping, two buses,
# both destinations and a state machine with two Tasks; a quiet bucket with none.
EVERY_KIND = """\
name: every-kind
description: One trigger of each kind.
resources:
  buckets: [uploads, quiet]
  queues: [jobs, spare]
  topics: [news]
  tables: [items]
  streams: [clicks]
  buses: [orders]
  state_machines:
    flow: {role: flow-exec}
  functions:
    thumbnailer: {role: thumb-exec}
    worker: {}
    helper: {}
triggers:
  - {kind: s3-notification, bucket: uploads, target: fn:thumbnailer, prefix: in/, suffix: .jpg}
  - {kind: s3-notification, bucket: uploads, target: sqs:jobs, events: ["s3:ObjectRemoved:*"]}
  - kind: s3-notification
    bucket: uploads
    target: sns:news
    events: ["s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"]
    suffix: .png
  - {kind: event-source-mapping, source: sqs:jobs, function: worker}
  - {kind: event-source-mapping, source: sqs:spare, function: worker, enabled: false}
  - {kind: event-source-mapping, source: dynamodb:items, function: worker}
  - {kind: event-source-mapping, source: kinesis:clicks, function: helper}
  - {kind: sns-subscription, topic: news, endpoint: fn:thumbnailer}
  - {kind: sns-subscription, topic: news, endpoint: sqs:jobs}
  - {kind: eventbridge-rule, rule: to-worker, targets: [fn:worker]}
  - {kind: eventbridge-rule, bus: orders, rule: audit, targets: [sqs:jobs, sns:news]}
  - {kind: state-machine-task, machine: flow, function: helper}
  - {kind: state-machine-task, machine: flow, function: worker}
  - {kind: destination, function: worker, when: success, destination: sqs:jobs}
  - {kind: destination, function: worker, when: failure, destination: sns:news}
traffic:
  seeds:
    - {by: alice, to: s3:uploads, key: "in/{seq}.jpg", count: 2}
    - {by: ci-job, role: ci-deploy, to: sqs:jobs, count: 1}
    - {by: bob, to: states:flow, count: 1}
expect:
  loops: []
"""
CONFIGURATION = (
    FunctionDeclared,
    StateMachineDeclared,
    TriggerAdded,
    BucketTriggersReplaced,
    TriggerEnabled,
    TriggerRemoved,
)

# What a topology's setup writes: a trail begun after it holds none of these.
SETUP_EVENTS = frozenset(
    {
        "CreateBucket",
        "CreateQueue",
        "CreateTopic",
        "CreateTable",
        "CreateStream",
        "CreateEventBus",
        "CreateFunction20150331",
        "CreateStateMachine",
        "PutBucketNotification",
        "CreateEventSourceMapping20150331",
        "Subscribe",
        "PutRule",
        "PutTargets",
        "PutFunctionEventInvokeConfig",
    }
)


@pytest.fixture
def every_kind(tmp_path: Path) -> Topology:
    path = tmp_path / "every-kind.yaml"
    path.write_text(EVERY_KIND)
    return load_topology(path)


def setup_facts(topo: Topology) -> list[Fact]:
    """The configuration facts the parser takes from the simulated logs."""
    sim = simulate(topo)
    return [f for r in sim.records for f in parse(r.record)[1] if isinstance(f, CONFIGURATION)]


Known = tuple[dict[str, str | None], dict[str, Trigger], dict[str, tuple[Trigger, ...]]]


def known(facts: Iterable[Fact]) -> Known:
    """Roles by function and by state machine, triggers by id, each bucket's notification
    triggers."""
    roles: dict[str, str | None] = {}
    triggers: dict[str, Trigger] = {}
    buckets: dict[str, tuple[Trigger, ...]] = {}
    for fact in facts:
        if isinstance(fact, FunctionDeclared):
            roles[fact.function] = fact.role
        elif isinstance(fact, StateMachineDeclared):
            roles[fact.machine] = fact.role
        elif isinstance(fact, TriggerAdded):
            triggers[fact.trigger.id] = fact.trigger
        elif isinstance(fact, BucketTriggersReplaced):
            buckets[fact.bucket] = fact.triggers
    return roles, triggers, buckets


def configured(topo: Topology) -> Topology:
    """The same topology with its setup in the logs."""
    return dataclasses.replace(
        topo, traffic=dataclasses.replace(topo.traffic, configured_before_trail=False)
    )


@pytest.mark.parametrize(
    "path", [*builtin_topologies(), None], ids=lambda p: p.stem if p else "every-kind"
)
def test_the_model_inventory_gives_the_facts_the_setup_records_give(
    path: Path | None, every_kind: Topology
) -> None:
    topo = every_kind if path is None else configured(load_topology(path))
    roles, triggers, buckets = known(setup_facts(topo))
    i_roles, i_triggers, i_buckets = known(configuration_facts(model_inventory(topo), 0.0))

    assert roles and i_roles == roles
    machines = {topo.arn(Ref("states", m.name)) for m in topo.state_machines}
    assert machines <= set(roles)  # each state machine's role, as CreateStateMachine states it
    # CloudTrail hides state machine definitions: their Tasks are the inventory's alone.
    tasks = {k: t for k, t in i_triggers.items() if t.via == STATE_MACHINE}
    assert {k: t for k, t in i_triggers.items() if k not in tasks} == triggers
    assert {(t.source, t.target) for t in tasks.values()} == {
        (topo.arn(Ref("states", t.machine)), topo.arn(Ref("fn", t.function)))
        for t in topo.triggers
        if isinstance(t, StateMachineTask)
    }
    # Every bucket is listed; those without a notification trigger nothing.
    assert {b: ts for b, ts in i_buckets.items() if ts} == buckets
    assert set(i_buckets) == {topo.arn(Ref("s3", b)) for b in topo.buckets}


def test_the_emulator_holds_the_model_configuration_of_every_kind(every_kind: Topology) -> None:
    with moto_server() as aws:
        snapshot = topology_inventory(aws, every_kind)
    model = model_inventory(every_kind.with_overrides(account=MOTO_ACCOUNT))

    assert snapshot.refused == ()
    assert configured_graph(snapshot) == configured_graph(model)
    edges, _ = configured_graph(snapshot)
    # 3 notifications, 4 mappings, 2 subscriptions, 3 rule targets, 2 Tasks, 2 destinations
    assert len(edges) == 16
    assert snapshot.counts() == model.counts()
    roles = {(m.arn, m.role) for m in model.inventories[0].state_machines}
    assert {(m.arn, m.role) for m in snapshot.inventories[0].state_machines} == roles
    assert all(role for _, role in roles)
    # AWS's own ids, not the simulator's: what a trail begun after setup cannot know.
    (read,), (made,) = snapshot.inventories, model.inventories
    assert {m.uuid for m in read.mappings}.isdisjoint(m.uuid for m in made.mappings)


def test_logs_configured_before_the_trail_hold_no_configuration(every_kind: Topology) -> None:
    before = dataclasses.replace(
        every_kind,
        traffic=dataclasses.replace(every_kind.traffic, configured_before_trail=True),
    )
    assert setup_facts(every_kind)  # the same topology's own setup is in its logs
    assert setup_facts(before) == []
    names = {r.record["eventName"] for r in simulate(before).records}
    assert names  # the traffic is still there …
    assert not names & SETUP_EVENTS  # … and none of the setup
    assert {r.record["eventName"] for r in simulate(every_kind).records} >= SETUP_EVENTS


def test_a_task_state_invokes_with_the_real_step_functions_shape() -> None:
    topo = load_topology(TOPOLOGIES / "before-trail-step-functions-loop.yaml")
    machine, function = topo.arn("states:order-flow"), topo.arn("fn:dispatcher")
    records = [r.record for r in simulate(topo).records]
    invokes = [r for r in records if r["eventName"] == "Invoke"]
    starts = [r for r in records if r["eventName"] == "StartExecution"]
    assert len(invokes) >= 3 and len(starts) >= 3
    for rec in invokes:
        who = rec["userIdentity"]
        role, session = who["arn"].split("/")[1:]
        assert who["type"] == "AssumedRole" and who["invokedBy"] == "states.amazonaws.com"
        assert role == "order-flow-exec" and re.fullmatch("[A-Za-z]{32}", session)
        assert rec["requestParameters"] is None  # nothing names the state machine
        assert rec["resources"] == [
            {"accountId": topo.account, "type": "AWS::Lambda::Function", "ARN": function}
        ]
        assert "tlsDetails" not in rec and rec["sourceIPAddress"] == "states.amazonaws.com"
        (fact,) = parse(rec)[1]  # an invocation known by the role only, and no write
        role_arn = f"arn:aws:iam::{topo.account}:role/order-flow-exec"
        assert fact == Invoked(fact.time, function, None, "states.amazonaws.com", role_arn)
    sessions = {r["userIdentity"]["arn"] for r in invokes}
    assert len(sessions) == len(invokes)  # a new random session each time
    by_function = [r for r in starts if r["userIdentity"]["arn"].endswith("/dispatcher")]
    assert by_function
    for rec in by_function:
        (fact,) = parse(rec)[1]
        assert isinstance(fact, Write) and fact.target == machine


def test_a_seed_with_a_role_is_a_session_named_as_its_owner_chose() -> None:
    topo = load_topology(TOPOLOGIES / "before-trail-spoofed-session.yaml")
    records = [r.record for r in simulate(topo).records]
    puts = [r for r in records if r["eventName"] == "PutObject"]
    assert puts
    for rec in puts:
        assert rec["userIdentity"]["arn"] == (
            f"arn:aws:sts::{topo.account}:assumed-role/ci-deploy/packager"
        )
        (fact,) = parse(rec)[1]
        assert isinstance(fact, Write)
        assert (fact.caller.role, fact.caller.session) == ("ci-deploy", "packager")
    # the packager itself writes only to its table
    own = [r for r in records if "/packager-exec/" in r["userIdentity"].get("arn", "")]
    assert own and {r["eventName"] for r in own} == {"PutItem"}
