"""The inventory's pure parts: state machine definitions (ASL), the snapshot file and its loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.events import arns
from loopwatch.events.facts import STATE_MACHINE, StateMachineDeclared, TriggerAdded
from loopwatch.inventory import (
    BucketNotifications,
    Bus,
    DefinitionError,
    Destination,
    Function,
    Mapping,
    Notification,
    Refusal,
    RegionInventory,
    Rule,
    Snapshot,
    SnapshotError,
    StateMachine,
    Subscription,
    Target,
    configuration_facts,
    dump_snapshot,
    invoked_functions,
    load_snapshot,
    parse_snapshot,
    write_snapshot,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
INVOKE = "arn:aws:states:::lambda:invoke"


def fn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "End": True, **fields}


def machine(states: dict[str, Any]) -> str:
    return json.dumps({"StartAt": next(iter(states), "A"), "States": states})


# --- ASL -------------------------------------------------------------------------------------


def test_a_task_resource_naming_a_function_in_any_form() -> None:
    definition = machine(
        {
            "Plain": task(Resource=fn("a")),
            "Alias": task(Resource=f"{fn('b')}:live"),
            "Other": task(Resource=fn("c", "444455556666", "eu-west-1")),
        }
    )
    assert invoked_functions(definition, ACCOUNT, REGION) == tuple(
        sorted((fn("a"), fn("b"), fn("c", "444455556666", "eu-west-1")))
    )


def test_lambda_invoke_with_a_fixed_function_name() -> None:
    definition = machine(
        {
            "Name": task(Resource=INVOKE, Parameters={"FunctionName": "by-name"}),
            "Qualified": task(Resource=INVOKE, Parameters={"FunctionName": "qual:prod"}),
            "Partial": task(
                Resource=INVOKE, Parameters={"FunctionName": "444455556666:function:p"}
            ),
            "Arn": task(
                Resource=f"{INVOKE}.waitForTaskToken", Parameters={"FunctionName": fn("t")}
            ),
            "Jsonata": task(Resource=INVOKE, Arguments={"FunctionName": "by-arguments"}),
        }
    )
    assert invoked_functions(definition, ACCOUNT, REGION) == tuple(
        sorted(
            (
                fn("by-name"),
                fn("qual"),
                f"arn:aws:lambda:{REGION}:444455556666:function:p",
                fn("t"),
                fn("by-arguments"),
            )
        )
    )


def test_a_function_chosen_at_run_time_is_unknowable_and_left_out() -> None:
    definition = machine(
        {
            "Path": task(Resource=INVOKE, Parameters={"FunctionName.$": "$.target"}),
            "Jsonata": task(Resource=INVOKE, Arguments={"FunctionName": "{% $states.input.f %}"}),
            "Nothing": task(Resource=INVOKE, Parameters={"Payload.$": "$"}),
            "NotLambda": task(
                Resource="arn:aws:states:::sqs:sendMessage", Parameters={"FunctionName": "x"}
            ),
            "Activity": task(Resource=f"arn:aws:states:{REGION}:{ACCOUNT}:activity:a"),
            "Pass": {"Type": "Pass", "Resource": fn("not-a-task"), "End": True},
        }
    )
    assert invoked_functions(definition, ACCOUNT, REGION) == ()


def test_parallel_branches_and_map_iterators_and_item_processors_nest() -> None:
    inner_map = {
        "Type": "Map",
        "Iterator": {"StartAt": "Deep", "States": {"Deep": task(Resource=fn("deep"))}},
        "End": True,
    }
    definition = machine(
        {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "B1", "States": {"B1": task(Resource=fn("b1"))}},
                    {"StartAt": "M", "States": {"M": inner_map}},
                ],
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": task(Resource=INVOKE, Parameters={"FunctionName": "p"})},
                },
                "End": True,
            },
        }
    )
    assert invoked_functions(definition, ACCOUNT, REGION) == (fn("b1"), fn("deep"), fn("p"))


def test_one_function_invoked_twice_is_one_function() -> None:
    definition = machine({"A": task(Resource=fn("a")), "B": task(Resource=f"{fn('a')}:2")})
    assert invoked_functions(definition, ACCOUNT, REGION) == (fn("a"),)


@pytest.mark.parametrize("definition", ["", "{", "[]", '"text"', "null"])
def test_a_definition_that_is_not_a_json_object_is_an_error(definition: str) -> None:
    with pytest.raises(DefinitionError):
        invoked_functions(definition, ACCOUNT, REGION)


names = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=8)


@st.composite
def state_trees(draw: st.DrawFn, depth: int = 0) -> tuple[dict[str, Any], set[str]]:
    """States with Task states invoking known functions, nested in Parallel and Map states,
    mixed with states that invoke nothing knowable; and the functions they invoke."""
    states: dict[str, Any] = {}
    invoked: set[str] = set()
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["arn", "invoke", "dynamic", "pass", "parallel", "map"]))
        if kind in ("parallel", "map") and depth >= 3:
            kind = "pass"
        name = draw(names)
        if kind == "arn":
            states[f"s{i}"] = task(Resource=fn(name) + draw(st.sampled_from(["", ":1", ":live"])))
            invoked.add(fn(name))
        elif kind == "invoke":
            resource = INVOKE + draw(st.sampled_from(["", ".waitForTaskToken"]))
            key = draw(st.sampled_from(["Parameters", "Arguments"]))
            states[f"s{i}"] = task(Resource=resource, **{key: {"FunctionName": name}})
            invoked.add(fn(name))
        elif kind == "dynamic":
            states[f"s{i}"] = task(Resource=INVOKE, Parameters={"FunctionName.$": f"$.{name}"})
        elif kind == "pass":
            states[f"s{i}"] = {"Type": "Pass", "End": True}
        else:
            inner, found = draw(state_trees(depth + 1))
            invoked |= found
            body = {"StartAt": next(iter(inner), "x"), "States": inner}
            if kind == "parallel":
                states[f"s{i}"] = {"Type": "Parallel", "Branches": [body], "End": True}
            else:
                key = draw(st.sampled_from(["Iterator", "ItemProcessor"]))
                states[f"s{i}"] = {"Type": "Map", key: body, "End": True}
    return states, invoked


@given(state_trees())
def test_every_fixed_function_is_found_and_nothing_else(
    tree: tuple[dict[str, Any], set[str]],
) -> None:
    states, invoked = tree
    assert invoked_functions(machine(states), ACCOUNT, REGION) == tuple(sorted(invoked))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["States", "StartAt", "Comment", "x"]), json_values))
def test_any_json_object_gives_functions_or_none_never_a_crash(document: dict[str, Any]) -> None:
    found = invoked_functions(json.dumps(document), ACCOUNT, REGION)
    assert all(arns.is_function(f) for f in found)


# --- the snapshot file -----------------------------------------------------------------------


def full_snapshot() -> Snapshot:
    """One of everything a snapshot holds."""
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    inventory = RegionInventory(
        account=ACCOUNT,
        region=REGION,
        functions=(Function(fn("a"), f"arn:aws:iam::{ACCOUNT}:role/a"), Function(fn("b"), None)),
        mappings=(
            Mapping(
                "uuid-1", "arn:aws:sqs:us-east-1:111122223333:q", fn("a"), True, ('{"x":[1]}',)
            ),
        ),
        buckets=(
            BucketNotifications(
                "uploads",
                ACCOUNT,
                lambda_functions=(
                    Notification(fn("a"), ("s3:ObjectCreated:*",), "in/", ".jpg", "t"),
                ),
                eventbridge=True,
            ),
        ),
        subscriptions=(
            Subscription(
                "arn:aws:sns:us-east-1:111122223333:t:1",
                "arn:aws:sns:us-east-1:111122223333:t",
                "lambda",
                fn("b"),
                '{"k":["v"]}',
            ),
        ),
        buses=(Bus("default", bus),),
        rules=(Rule(bus, "r", "ENABLED", '{"source":["s"]}', None, (Target("1", fn("a")),)),),
        state_machines=(
            StateMachine(
                f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m",
                (fn("a"),),
                f"arn:aws:iam::{ACCOUNT}:role/m-role",
            ),
        ),
        destinations=(Destination(fn("a"), None, "arn:aws:sqs:us-east-1:111122223333:dlq"),),
    )
    refusal = Refusal(
        "444455556666",
        None,
        "sts",
        "AssumeRole",
        "AccessDenied",
        "no",
        "arn:aws:iam::444455556666:role/x",
    )
    return Snapshot(
        1, "2026-10-05T14:00:00Z", (ACCOUNT, "444455556666"), (REGION,), (refusal,), (inventory,)
    )


def test_a_snapshot_round_trips_through_its_file(tmp_path: Path) -> None:
    snapshot = full_snapshot()
    path = tmp_path / "inventory.json"
    write_snapshot(snapshot, path)
    assert load_snapshot(path) == snapshot
    assert list(tmp_path.iterdir()) == [path]  # the temporary file is gone


def test_the_file_is_versioned_json_in_the_documented_shape() -> None:
    document = orjson.loads(dump_snapshot(full_snapshot()))
    assert list(document) == ["version", "read_at", "accounts", "regions", "refused", "inventories"]
    assert document["version"] == 1
    (inventory,) = document["inventories"]
    assert list(inventory) == [
        "account",
        "region",
        "functions",
        "mappings",
        "buckets",
        "subscriptions",
        "buses",
        "rules",
        "state_machines",
        "destinations",
    ]
    assert document["refused"][0]["region"] is None
    assert inventory["buckets"][0]["lambda_functions"][0]["prefix"] == "in/"


def test_a_snapshot_written_before_state_machine_roles_were_read_still_loads() -> None:
    document = orjson.loads(dump_snapshot(full_snapshot()))
    (machine,) = document["inventories"][0]["state_machines"]
    assert machine.pop("role") == f"arn:aws:iam::{ACCOUNT}:role/m-role"
    (inventory,) = parse_snapshot(orjson.dumps(document)).inventories
    assert [m.role for m in inventory.state_machines] == [None]
    # ... and its state machine is not declared (no role known), its Task still a trigger.
    facts = configuration_facts(parse_snapshot(orjson.dumps(document)), 0.0)
    assert not any(isinstance(f, StateMachineDeclared) for f in facts)
    assert any(isinstance(f, TriggerAdded) and f.trigger.via == STATE_MACHINE for f in facts)


def damaged(change: dict[str, Any] | None = None, drop: str | None = None) -> bytes:
    document = orjson.loads(dump_snapshot(full_snapshot()))
    document.update(change or {})
    if drop:
        del document[drop]
    return orjson.dumps(document)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (damaged({"version": 2}), "inventory snapshot version 2; this loopwatch reads version 1"),
        (damaged({"version": "1"}), "inventory snapshot version '1'"),
        (damaged(drop="version"), "not a loopwatch inventory snapshot (no version)"),
        (b"[1, 2]", "not a loopwatch inventory snapshot"),
        (dump_snapshot(full_snapshot())[:200], "damaged inventory snapshot: not JSON"),
        (b"", "damaged inventory snapshot: not JSON"),
        (damaged(drop="accounts"), "damaged inventory snapshot: accounts: Field required"),
        (damaged({"regions": "us-east-1"}), "damaged inventory snapshot: regions:"),
        (damaged({"surprise": 1}), "damaged inventory snapshot: surprise:"),
        (damaged({"read_at": "yesterday"}), "read_at is not an ISO-8601 time"),
        (damaged({"accounts": ["999999999999"]}), "an inventory of 111122223333/us-east-1"),
    ],
)
def test_another_version_or_a_damaged_file_is_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(SnapshotError) as error:
        parse_snapshot(data, "inventory.json")
    assert str(error.value).startswith("inventory.json: ")
    assert reason in str(error.value)


def test_a_wrong_type_deep_inside_is_named_by_its_place() -> None:
    document = orjson.loads(dump_snapshot(full_snapshot()))
    document["inventories"][0]["mappings"][0]["enabled"] = "yes"
    with pytest.raises(SnapshotError) as error:
        parse_snapshot(orjson.dumps(document), "f")
    assert "inventories.0.mappings.0.enabled" in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"nothing\.json: cannot read: No such file"):
        load_snapshot(tmp_path / "nothing.json")


arn_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
optional = st.none() | arn_text
snapshots = st.builds(
    Snapshot,
    version=st.just(1),
    read_at=st.just("2026-10-05T14:00:00Z"),
    accounts=st.just((ACCOUNT,)),
    regions=st.just((REGION,)),
    refused=st.lists(
        st.builds(
            Refusal,
            st.just(ACCOUNT),
            st.none() | st.just(REGION),
            arn_text,
            arn_text,
            arn_text,
            arn_text,
            optional,
        ),
        max_size=2,
    ).map(tuple),
    inventories=st.lists(
        st.builds(
            RegionInventory,
            account=st.just(ACCOUNT),
            region=st.just(REGION),
            functions=st.lists(st.builds(Function, arn_text, optional), max_size=3).map(tuple),
            mappings=st.lists(
                st.builds(
                    Mapping,
                    arn_text,
                    optional,
                    arn_text,
                    st.booleans(),
                    st.lists(arn_text, max_size=2).map(tuple),
                ),
                max_size=2,
            ).map(tuple),
            buckets=st.lists(
                st.builds(
                    BucketNotifications,
                    arn_text,
                    optional,
                    st.lists(
                        st.builds(
                            Notification,
                            arn_text,
                            st.lists(arn_text, max_size=2).map(tuple),
                            arn_text,
                            arn_text,
                            optional,
                        ),
                        max_size=2,
                    ).map(tuple),
                    eventbridge=st.booleans(),
                ),
                max_size=2,
            ).map(tuple),
            rules=st.lists(
                st.builds(
                    Rule,
                    arn_text,
                    arn_text,
                    arn_text,
                    optional,
                    optional,
                    st.lists(st.builds(Target, arn_text, arn_text), max_size=2).map(tuple),
                ),
                max_size=2,
            ).map(tuple),
            state_machines=st.lists(
                st.builds(
                    StateMachine,
                    arn_text,
                    st.lists(arn_text, max_size=2).map(tuple),
                    st.none() | arn_text,
                ),
                max_size=2,
            ).map(tuple),
            destinations=st.lists(
                st.builds(Destination, arn_text, optional, optional), max_size=2
            ).map(tuple),
        ),
        max_size=1,
    ).map(tuple),
)


@settings(max_examples=60)
@given(snapshots)
def test_any_snapshot_round_trips(snapshot: Snapshot) -> None:
    assert parse_snapshot(dump_snapshot(snapshot)) == snapshot


VALID = dump_snapshot(full_snapshot())


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """The valid file with one byte changed: a typo, a flipped bit, a truncation."""
    at = draw(st.integers(0, len(VALID) - 1))
    return VALID[:at] + bytes([draw(st.integers(0, 255))]) + VALID[at + 1 :]


@given(corrupted() | st.binary(max_size=200) | json_values.map(orjson.dumps))
def test_any_bytes_load_or_raise_snapshot_error_only(data: bytes) -> None:
    try:
        snapshot = parse_snapshot(data)
    except SnapshotError:
        return
    assert snapshot.version == 1  # a change that kept it valid (a letter inside a name)
