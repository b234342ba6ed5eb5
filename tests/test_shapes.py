"""records.parse on the shapes real CloudTrail writes (loopwatch.testing.shapes builds them)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.events import arns
from loopwatch.events.cloudtrail.partiql import UnreadableStatement, written_table
from loopwatch.events.facts import (
    Caller,
    Fact,
    Invoked,
    StateMachineDeclared,
    TriggerEnabled,
    Write,
)
from loopwatch.events.records import MalformedRecord, parse
from loopwatch.testing import shapes
from loopwatch.testing.records import (
    ACCOUNT,
    DYNAMODB,
    LAMBDA,
    REGION,
    S3,
    STATES,
    assumed_role,
    eventbridge,
    function_arn,
    iam_user,
    record,
)
from loopwatch.testing.records import paths as value_paths

T0 = 1_791_208_800.0  # 2026-10-05T14:00:00Z
FN = function_arn("router")
ROLE = assumed_role("router-role", "router")
CALLER = Caller(ACCOUNT, REGION, "router-role", "router")
OTHER = "444455556666"


def facts(obj: object) -> tuple[Fact, ...]:
    return parse(obj)[1]


# --- Lambda Invoke: who invoked ---------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "bus"),
    [
        (shapes.rule_arn("on-order"), "default"),
        (shapes.rule_arn("on-order", bus="orders"), "orders"),
        (
            shapes.rule_arn("on-sale", bus="aws.partner/saas.example/acme"),
            "aws.partner/saas.example/acme",
        ),
    ],
)
def test_eventbridge_invoke_names_the_rule_whose_bus_is_the_trigger(rule: str, bus: str) -> None:
    rec = shapes.eventbridge_invoke(f"{FN}:live", rule)
    expected_bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"
    assert facts(rec) == (Invoked(T0, FN, expected_bus, "events.amazonaws.com"),)


def test_stepfunctions_invoke_is_an_invocation_by_a_state_machine_not_a_write() -> None:
    rec = shapes.stepfunctions_invoke(FN, role="checkout-sfn-role")
    role = f"arn:aws:iam::{ACCOUNT}:role/checkout-sfn-role"
    assert facts(rec) == (Invoked(T0, FN, None, STATES, role),)


def test_a_persons_invoke_is_no_trigger_even_naming_a_source() -> None:
    """Only a service's sourceArn is a trigger; anyone calling Invoke picks their own."""
    request = {"functionName": FN, "sourceArn": FN, "invocationType": "Event"}
    by_user = record(LAMBDA, "Invoke", request, identity=iam_user("mallory"))
    assert facts(by_user) == (Invoked(T0, FN),)
    by_role = record(LAMBDA, "Invoke", request, identity=ROLE)
    assert facts(by_role) == (Invoked(T0, FN), Write(T0, CALLER, FN))
    console = record(LAMBDA, "Invoke", request, identity=ROLE, sessionCredentialFromConsole="true")
    assert facts(console) == (Invoked(T0, FN),)


def test_a_role_used_by_a_service_keeps_invoked_by_on_its_caller() -> None:
    poller = shapes.service_role(
        "mapping-role", "awslambda_702_20261005140000123", "sqs.amazonaws.com"
    )
    rec = record(DYNAMODB, "PutItem", {"tableName": "orders"}, identity=poller)
    (write,) = facts(rec)
    assert isinstance(write, Write)
    assert write.caller.invoked_by == "sqs.amazonaws.com"


# --- LambdaESMDisabled --------------------------------------------------------------

MAPPING = "5f0c2b7e-1d3a-4e6f-9a8b-7c6d5e4f3a21"


def test_lambda_disabling_a_mapping_disables_its_edge() -> None:
    assert facts(shapes.esm_disabled(MAPPING)) == (TriggerEnabled(T0, MAPPING, False),)


def test_esm_disabled_reads_a_uuid_wherever_the_record_has_one() -> None:
    rec = shapes.esm_disabled(MAPPING)
    del rec["resources"]
    rec["serviceEventDetails"] = {"ESMDisableReason": "permissions", "UUID": MAPPING}
    assert facts(rec) == (TriggerEnabled(T0, MAPPING, False),)
    del rec["serviceEventDetails"]["UUID"]
    with pytest.raises(MalformedRecord, match="names no event source mapping"):
        parse(rec)


# --- DynamoDB -----------------------------------------------------------------------

ORDERS = shapes.table_arn("orders")
ORDERS_ELSEWHERE = shapes.table_arn("orders", account=OTHER, region="us-west-2")


def test_put_item_table_account_comes_from_resources() -> None:
    rec = record(
        DYNAMODB,
        "PutItem",
        {"tableName": "orders", "key": {"pk": "1"}},
        identity=ROLE,
        resources=[shapes.table_resource(ORDERS_ELSEWHERE)],
    )
    assert facts(rec) == (Write(T0, CALLER, ORDERS_ELSEWHERE),)
    unlisted = record(DYNAMODB, "PutItem", {"tableName": "orders"}, identity=ROLE)
    assert facts(unlisted) == (Write(T0, CALLER, ORDERS),)


def test_transact_write_items_real_shape_every_table_both_spellings() -> None:
    audit = shapes.table_arn("audit")
    rec = shapes.transact_write(
        ("Put", "tableName", "orders"),
        ("Update", "tableName", "orders"),
        ("Delete", "TableName", "audit"),
        ("ConditionCheck", "TableName", "stock"),
        identity=ROLE,
        resources=[
            shapes.table_resource(ORDERS_ELSEWHERE),
            shapes.table_resource(audit),
            shapes.table_resource(shapes.table_arn("stock")),
        ],
    )
    assert facts(rec) == (
        Write(T0, CALLER, ORDERS_ELSEWHERE, count=2),
        Write(T0, CALLER, audit, count=1),
    )


def test_transaction_of_condition_checks_writes_nothing() -> None:
    rec = shapes.transact_write(
        ("ConditionCheck", "TableName", "orders"),
        identity=ROLE,
        resources=[shapes.table_resource(ORDERS)],
    )
    assert facts(rec) == ()


@pytest.mark.parametrize(
    "statement",
    [
        f"INSERT INTO orders VALUE {{'pk' : {shapes.REDACTED}, 'total' : {shapes.REDACTED}}}",
        f"UPDATE orders SET total = {shapes.REDACTED} WHERE pk = 'A-1'",
        "DELETE FROM orders WHERE pk = 'A-1'",
        'update "orders" set total = 1 where pk = 2',
        "-- retry\n/* worker */ delete   from orders where pk = 'x'",
    ],
)
def test_partiql_writes_name_their_table(statement: str) -> None:
    rec = shapes.execute_statement(
        statement, identity=ROLE, resources=[shapes.table_resource(ORDERS)]
    )
    assert facts(rec) == (Write(T0, CALLER, ORDERS),)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM orders WHERE pk = 'A-1' AND note = ***(Redacted)",
        'SELECT total FROM "orders"."by-date" WHERE day = 3',
        "EXISTS(SELECT * FROM orders WHERE pk = 'A-1')",
        "selectX INTO orders",
        "",
    ],
)
def test_partiql_reads_write_nothing(statement: str) -> None:
    rec = shapes.execute_statement(
        statement, identity=ROLE, resources=[shapes.table_resource(ORDERS)]
    )
    assert facts(rec) == ()


def test_batch_execute_and_transaction_count_writes_per_table() -> None:
    audit = shapes.table_arn("audit")
    resources = [shapes.table_resource(ORDERS_ELSEWHERE), shapes.table_resource(audit)]
    batch = shapes.batch_execute_statement(
        f"UPDATE orders SET a = {shapes.REDACTED} WHERE pk = 'x'",
        f"INSERT INTO orders VALUE {{'pk' : {shapes.REDACTED}}}",
        "SELECT * FROM audit",
        identity=ROLE,
        resources=resources,
    )
    assert facts(batch) == (Write(T0, CALLER, ORDERS_ELSEWHERE, count=2),)
    transaction = shapes.execute_transaction(
        "DELETE FROM audit WHERE pk = 'x'",
        "EXISTS(SELECT * FROM orders WHERE pk = 'y')",
        identity=ROLE,
        resources=resources,
    )
    assert facts(transaction) == (Write(T0, CALLER, audit),)


def test_partiql_write_whose_table_is_unreadable_takes_the_records_one_table() -> None:
    statement = f"UPDATE {shapes.REDACTED} SET a = 1"
    one = shapes.execute_statement(
        statement, identity=ROLE, resources=[shapes.table_resource(ORDERS)]
    )
    assert facts(one) == (Write(T0, CALLER, ORDERS),)
    with pytest.raises(MalformedRecord, match="exactly one"):
        parse(shapes.execute_statement(statement, identity=ROLE))


def test_written_table_cases() -> None:
    assert written_table('INSERT INTO "arn:aws:dynamodb:us-east-1:1:table/t" VALUE {}') == (
        "arn:aws:dynamodb:us-east-1:1:table/t"
    )
    assert written_table("UPDATE t SET a=1") == "t"
    assert written_table("UPDATES t SET a=1") is None
    assert written_table("/* never closed") is None
    with pytest.raises(UnreadableStatement):
        written_table("DELETE FROM ")


_TABLE_NAMES = st.text(
    alphabet=st.sampled_from("abcXYZ019_-."), min_size=3, max_size=40
)  # DynamoDB's table name alphabet


@given(
    verb=st.sampled_from(["INSERT INTO", "insert  into", "UPDATE", "Delete From"]),
    name=_TABLE_NAMES,
    quoted=st.booleans(),
    rest=st.text(max_size=30),
)
def test_written_table_finds_any_table_name(verb: str, name: str, quoted: bool, rest: str) -> None:
    table = f'"{name}"' if quoted else name
    assert written_table(f"{verb} {table} {rest}") == name


@given(st.text(max_size=200))
def test_written_table_raises_only_unreadable(statement: str) -> None:
    with contextlib.suppress(UnreadableStatement):
        result = written_table(statement)
        assert result is None or result


# --- S3 -------------------------------------------------------------------------------


def test_delete_objects_real_shape_is_one_write_of_unknown_key() -> None:
    bucket = "arn:aws:s3:::uploads"
    assert facts(shapes.delete_objects("uploads", identity=ROLE)) == (
        Write(T0, CALLER, bucket, key=None, s3_event="ObjectRemoved:Delete"),
    )


def test_object_key_falls_back_to_the_object_resource() -> None:
    rec = record(
        S3,
        "PutObject",
        {"bucketName": "uploads", "Host": "uploads.s3.us-east-1.amazonaws.com"},
        identity=ROLE,
        resources=[
            {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::uploads/in/a.jpg"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::uploads"},
        ],
    )
    assert facts(rec) == (
        Write(T0, CALLER, "arn:aws:s3:::uploads", key="in/a.jpg", s3_event="ObjectCreated:Put"),
    )


# --- Step Functions -------------------------------------------------------------------


def test_create_state_machine_declares_its_role() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/checkout-sfn-role"
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:checkout"
    assert facts(shapes.create_state_machine("checkout", role)) == (
        StateMachineDeclared(T0, machine, role),
    )
    update = record(STATES, "UpdateStateMachine", {"stateMachineArn": machine, "definition": "x"})
    assert facts(update) == ()  # the role did not change
    started = shapes.start_execution(f"{machine}:3", identity=ROLE)
    assert facts(started) == (Write(T0, CALLER, machine),)  # a version runs the same machine


def test_arns_rule_and_state_machine_canon() -> None:
    assert arns.canonical("arn:aws:events:eu-west-1:1:rule/r") == (
        "arn:aws:events:eu-west-1:1:event-bus/default"
    )
    assert arns.canonical("arn:aws:events:eu-west-1:1:rule/b/r") == (
        "arn:aws:events:eu-west-1:1:event-bus/b"
    )
    bus = "arn:aws:events:eu-west-1:1:event-bus/b"
    assert arns.canonical(bus) == bus
    assert arns.canonical("arn:aws:states:eu-west-1:1:stateMachine:m:prod") == (
        "arn:aws:states:eu-west-1:1:stateMachine:m"
    )


# --- robustness -----------------------------------------------------------------------

SHAPES: list[dict[str, Any]] = [
    shapes.eventbridge_invoke(f"{FN}:live", shapes.rule_arn("r", bus="b")),
    shapes.stepfunctions_invoke(FN),
    shapes.service_invoke(FN, "s3.amazonaws.com", "arn:aws:s3:::uploads"),
    shapes.esm_disabled(MAPPING),
    shapes.transact_write(
        ("Put", "tableName", "orders"),
        ("Delete", "TableName", "audit"),
        identity=ROLE,
        resources=[shapes.table_resource(ORDERS_ELSEWHERE)],
    ),
    shapes.execute_statement("UPDATE orders SET a = 1", identity=ROLE),
    shapes.batch_execute_statement(
        "INSERT INTO orders VALUE {}",
        "DELETE FROM audit",
        identity=ROLE,
        resources=[shapes.table_resource(ORDERS)],
    ),
    shapes.execute_transaction("UPDATE orders SET a = 1", identity=ROLE),
    shapes.delete_objects("uploads", identity=ROLE),
    shapes.create_state_machine("m", f"arn:aws:iam::{ACCOUNT}:role/r"),
    shapes.start_execution(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m", identity=ROLE),
    record(
        DYNAMODB,
        "PutItem",
        {"tableName": "orders"},
        identity=ROLE,
        resources=[shapes.table_resource(ORDERS_ELSEWHERE)],
    ),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def test_every_shape_gives_facts() -> None:
    for rec in SHAPES:
        assert facts(rec), rec


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_shapes_raise_only_malformed(data: st.DataObject) -> None:
    rec = copy.deepcopy(data.draw(st.sampled_from(SHAPES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(value_paths(rec)[1:]))
        parent: Any = rec
        try:
            for step in path[:-1]:
                parent = parent[step]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            break  # an earlier mutation removed or replaced this path
    with contextlib.suppress(MalformedRecord):
        parse(rec)
    with contextlib.suppress(MalformedRecord):
        parse(eventbridge(rec))
