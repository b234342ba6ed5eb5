"""Real record shapes through the engine: the loops they must close, and the ones they must not."""

from __future__ import annotations

import dataclasses

from loopwatch.detect import Engine
from loopwatch.detect.incidents import Incident
from loopwatch.events.facts import STATE_MACHINE, Trigger, TriggerAdded
from loopwatch.testing import shapes
from loopwatch.testing.records import (
    ACCOUNT,
    EVENTS,
    LAMBDA,
    REGION,
    S3,
    JSONObject,
    assumed_role,
    at,
    function_arn,
    iam_user,
    queue_url,
    record,
)
from loopwatch.topology import resolve_topology, simulate
from loopwatch.topology.model import Observe

F = function_arn("checkout")
F_ROLE = f"arn:aws:iam::{ACCOUNT}:role/checkout-role"
AS_F = assumed_role("checkout-role", "checkout")
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orders-flow"
SFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/orders-flow-role"


def create_function(name: str, role: str, time: str = at(0)) -> JSONObject:
    arn = function_arn(name)
    return record(
        LAMBDA,
        "CreateFunction20150331",
        {"functionName": name, "runtime": "python3.12", "role": role, "handler": "app.h"},
        {"functionName": name, "functionArn": arn, "role": role, "version": "$LATEST"},
        time=time,
    )


def incidents(engine: Engine) -> dict[frozenset[str], Incident]:
    return {frozenset(i.cycle): i for i in engine.open_incidents()}


# --- Step Functions ---------------------------------------------------------------------


def state_machine_traffic(turns: int = 4) -> list[JSONObject]:
    """checkout starts orders-flow, whose Task invokes checkout again."""
    out: list[JSONObject] = []
    for i in range(turns):
        out.append(shapes.start_execution(MACHINE, identity=AS_F, time=at(10 + 2 * i)))
        out.append(shapes.stepfunctions_invoke(F, role="orders-flow-role", time=at(11 + 2 * i)))
    return out


def test_state_machine_loop_closes_through_its_role() -> None:
    setup = [
        create_function("checkout", F_ROLE),
        shapes.create_state_machine("orders-flow", SFN_ROLE),
    ]
    engine, _ = shapes.run_records([*setup, *state_machine_traffic()])
    loop = incidents(engine)[frozenset({MACHINE, F})]
    assert loop.traversals >= 3
    hop = engine.graph.edge(MACHINE, F)
    assert hop is not None and hop.invocations is not None and hop.invocations.total == 4
    # The random session of Step Functions never became a function.
    assert not any(shapes.SFN_SESSION in node for node in engine.graph.nx.nodes)


def test_state_machine_loop_closes_through_the_inventorys_edge() -> None:
    """No CreateStateMachine in the logs: the state machine → function edge (inventory)."""
    engine = Engine()
    edge = Trigger(f"states:{MACHINE}:Charge", MACHINE, F, STATE_MACHINE, detail="state Charge")
    engine.apply(TriggerAdded(0, edge))
    engine, _ = shapes.run_records(
        [create_function("checkout", F_ROLE), *state_machine_traffic()], engine
    )
    assert frozenset({MACHINE, F}) in incidents(engine)


def test_state_machine_invocations_of_unknown_origin_close_nothing() -> None:
    engine, _ = shapes.run_records([create_function("checkout", F_ROLE), *state_machine_traffic()])
    assert incidents(engine) == {}
    assert engine.graph.edge(MACHINE, F) is None
    assert not any(shapes.SFN_SESSION in node for node in engine.graph.nx.nodes)


# --- EventBridge --------------------------------------------------------------------------

BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
ROUTER = function_arn("router")
AS_ROUTER = assumed_role("router-role", "router")


def test_gain_is_measured_on_the_bus_hop_from_the_rules_invokes() -> None:
    setup = [
        create_function("router", f"arn:aws:iam::{ACCOUNT}:role/router-role"),
        record(
            EVENTS,
            "PutTargets",
            {"rule": "route", "eventBusName": "orders", "targets": [{"id": "1", "arn": ROUTER}]},
            time=at(1),
        ),
    ]
    rule = shapes.rule_arn("route", bus="orders")
    traffic: list[JSONObject] = []
    for i in range(4):
        traffic.append(shapes.eventbridge_invoke(f"{ROUTER}:live", rule, time=at(10 + 2 * i)))
        put = {"entries": [{"source": "shop", "detailType": "Routed", "eventBusName": "orders"}]}
        traffic.append(record(EVENTS, "PutEvents", put, identity=AS_ROUTER, time=at(11 + 2 * i)))
    engine, _ = shapes.run_records([*setup, *traffic])
    hop = engine.graph.edge(BUS, ROUTER)
    assert hop is not None and hop.invocations is not None and hop.invocations.total == 4
    loop = incidents(engine)[frozenset({BUS, ROUTER})]
    assert loop.gain == 1.0
    # The rule itself never became a node.
    assert not any(":rule/" in node for node in engine.graph.nx.nodes)


# --- Lambda disables a mapping ----------------------------------------------------------

QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
MAPPING = "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"


def test_lambda_disabling_the_mapping_breaks_the_loop() -> None:
    worker_role = f"arn:aws:iam::{ACCOUNT}:role/worker-role"
    setup = [
        create_function("worker", worker_role),
        record(
            LAMBDA,
            "CreateEventSourceMapping20150331",
            {"eventSourceArn": QUEUE, "functionName": "worker", "enabled": True},
            {"uUID": MAPPING, "eventSourceArn": QUEUE, "state": "Creating"},
            time=at(1),
        ),
    ]
    sends = [
        record(
            "sqs.amazonaws.com",
            "SendMessage",
            {"queueUrl": queue_url("jobs")},
            identity=assumed_role("worker-role", "worker"),
            time=at(10 + i),
        )
        for i in range(3)
    ]
    engine, _ = shapes.run_records([*setup, *sends])
    assert frozenset({QUEUE, function_arn("worker")}) in incidents(engine)
    engine, _ = shapes.run_records([shapes.esm_disabled(MAPPING, time=at(20))], engine)
    assert incidents(engine) == {}


# --- DeleteObjects --------------------------------------------------------------------------

BUCKET = "arn:aws:s3:::uploads"
CLEANER = function_arn("cleaner")


def delete_loop(events: str, prefix: str | None) -> Engine:
    rule = {"Name": "Prefix", "Value": prefix} if prefix is not None else None
    config: dict[str, object] = {"CloudFunction": CLEANER, "Event": events}
    if rule is not None:
        config["Filter"] = {"S3Key": {"FilterRule": rule}}
    notify = record(
        S3,
        "PutBucketNotification",
        {
            "bucketName": "uploads",
            "NotificationConfiguration": {"CloudFunctionConfiguration": config},
        },
        time=at(1),
    )
    who = assumed_role("cleaner-role", "cleaner")
    deletes = [shapes.delete_objects("uploads", identity=who, time=at(10 + i)) for i in range(4)]
    engine, _ = shapes.run_records(
        [create_function("cleaner", f"arn:aws:iam::{ACCOUNT}:role/cleaner-role"), notify, *deletes]
    )
    return engine


def test_delete_objects_closes_only_an_unfiltered_object_removed_trigger() -> None:
    assert frozenset({BUCKET, CLEANER}) in incidents(delete_loop("s3:ObjectRemoved:*", None))
    assert incidents(delete_loop("s3:ObjectRemoved:*", "tmp/")) == {}
    assert incidents(delete_loop("s3:ObjectCreated:*", None)) == {}


# --- who counts as a trigger or a function ------------------------------------------------


def test_a_users_invoke_naming_the_function_as_source_is_no_self_loop() -> None:
    request = {"functionName": F, "sourceArn": F, "invocationType": "Event"}
    invokes = [
        record(LAMBDA, "Invoke", request, identity=iam_user("mallory"), time=at(10 + i))
        for i in range(4)
    ]
    engine, _ = shapes.run_records([create_function("checkout", F_ROLE), *invokes])
    assert engine.graph.edge(F, F) is None and incidents(engine) == {}


def test_people_are_dropped_once_the_accounts_functions_are_known() -> None:
    """bob writes to the table a real function's stream triggers: no loop through 'bob'."""
    table = shapes.table_arn("orders")
    bob_fn = function_arn("bob")
    mapping = record(
        LAMBDA,
        "CreateEventSourceMapping20150331",
        {"eventSourceArn": f"{table}/stream/2026-10-05T00:00:00.000", "functionName": "bob"},
        {"uUID": MAPPING},
        time=at(1),
    )
    bob = assumed_role("users", "bob")
    writes = [
        record(
            "dynamodb.amazonaws.com",
            "PutItem",
            {"tableName": "orders"},
            identity=bob,
            time=at(10 + i),
        )
        for i in range(4)
    ]
    # Without the inventory, bob looks like the mapping's function: a (presumed) loop.
    presumed, _ = shapes.run_records([mapping, *writes])
    assert frozenset({table, bob_fn}) in incidents(presumed)
    # The inventory lists the account's functions; bob is one (the mapping's target), but
    # its execution role is bob-role, not "users": the session is not that function.
    engine = Engine()
    engine.identities.know_all_functions(
        ACCOUNT, [bob_fn], {bob_fn: f"arn:aws:iam::{ACCOUNT}:role/bob-role"}
    )
    engine, _ = shapes.run_records([mapping, *writes], engine)
    assert incidents(engine) == {}
    assert engine.graph.edge(bob_fn, table) is None


def test_simulated_eventbridge_invokes_name_the_rule_and_measure_gain() -> None:
    """The simulator writes EventBridge Invokes as real ones are: the rule as sourceArn."""
    topo = resolve_topology("eventbridge-loop")
    topo = dataclasses.replace(topo, observe=Observe(invokes=True))
    sim = simulate(topo)
    sources = {
        r.record["requestParameters"]["sourceArn"]
        for r in sim.records
        if r.record["eventName"] == "Invoke"
    }
    rule = f"arn:aws:events:{topo.region}:{topo.account}:rule/orders-bus/route-orders"
    assert sources == {rule}
    ordered = sorted(sim.records, key=lambda r: r.time)
    engine, _ = shapes.run_records([r.record for r in ordered])
    bus = f"arn:aws:events:{topo.region}:{topo.account}:event-bus/orders-bus"
    router = f"arn:aws:lambda:{topo.region}:{topo.account}:function:router"
    hop = engine.graph.edge(bus, router)
    assert hop is not None and hop.invocations is not None and hop.invocations.total >= 3
    loop = incidents(engine)[frozenset({bus, router})]
    assert loop.gain is not None and loop.gain >= 0.9
