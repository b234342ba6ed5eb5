"""loopwatch inventory against the moto emulator: real resources made through boto3, read back
through boto3, turned into the facts the CloudTrail parser gives for the same configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from loopwatch.cli import main
from loopwatch.detect import Engine
from loopwatch.detect.findings import ACTIVE, LoopFinding
from loopwatch.events import arns
from loopwatch.events.facts import (
    STATE_MACHINE,
    BucketTriggersReplaced,
    Fact,
    FunctionDeclared,
    StateMachineDeclared,
    Trigger,
    TriggerAdded,
    TriggerEnabled,
    Write,
)
from loopwatch.events.records import parse
from loopwatch.inventory import (
    RegionReader,
    Snapshot,
    configuration_facts,
    load_snapshot,
    read_inventory,
    write_snapshot,
)
from loopwatch.net import free_port
from loopwatch.testing.aws import DUMMY, REGION, MotoServer, moto_server
from loopwatch.testing.inventory import (
    JOBS_FILTER,
    NEWS_FILTER,
    ORDERS_PATTERN,
    Estate,
    build_estate,
    emulator_session,
    refusing,
)
from loopwatch.testing.lambdas import create_function
from loopwatch.testing.records import (
    DYNAMODB,
    EVENTS,
    LAMBDA,
    S3,
    SNS,
    STATES,
    assumed_role,
    at,
    record,
)

T = 1_000.0
OTHER = "222233334444"
DUMMY_ACCOUNT = "123456789012"  # moto's default account
TEMPLATE = "arn:aws:iam::{account}:role/loopwatch-throttle"


@pytest.fixture(scope="module")
def read() -> tuple[Estate, Snapshot]:
    """The estate, read with pages of one item wherever the API takes a page size. The
    snapshot is plain data, so the emulator is stopped before any test looks at it."""
    with moto_server() as aws:
        estate = build_estate(aws)
        snapshot = read_inventory(
            [REGION], session=emulator_session(aws), endpoint_url=aws.endpoint_url, page_size=1
        )
    return estate, snapshot


@pytest.fixture
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def only(snapshot: Snapshot) -> Any:
    (inventory,) = snapshot.inventories
    return inventory


def facts_of(rec: dict[str, Any]) -> tuple[Fact, ...]:
    _, found = parse(rec)
    return found


def at_t(fact: Fact) -> Fact:
    """The fact as if it happened at T (a record's time is its own)."""
    return replace(fact, time=T)


# --- what the snapshot holds ------------------------------------------------------------


def test_the_snapshot_names_what_was_read(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    assert snapshot.version == 1
    assert snapshot.read_at.endswith("Z")
    assert snapshot.accounts == (estate.account,)
    assert snapshot.regions == (REGION,)
    assert snapshot.refused == ()
    assert (only(snapshot).account, only(snapshot).region) == (estate.account, REGION)


def test_functions_with_their_execution_roles(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    functions = {(f.arn, f.role) for f in only(snapshot).functions}
    assert functions == {
        (estate.thumbnailer, estate.role),
        (estate.worker, estate.role),
        (estate.helper, estate.role),
    }


def test_mappings_enabled_disabled_filtered_and_from_a_stream(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    mappings = {m.uuid: m for m in only(snapshot).mappings}
    assert set(mappings) == {estate.jobs_mapping, estate.spare_mapping, estate.stream_mapping}
    jobs, spare, stream = (
        mappings[estate.jobs_mapping],
        mappings[estate.spare_mapping],
        mappings[estate.stream_mapping],
    )
    assert (jobs.source, jobs.function, jobs.enabled, jobs.filter) == (
        estate.jobs,
        estate.worker,
        True,
        (JOBS_FILTER,),
    )
    assert (spare.source, spare.enabled, spare.filter) == (estate.spare, False, ())
    assert (stream.source, stream.enabled) == (estate.stream, True)


def test_bucket_notifications_with_events_prefix_and_suffix(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    buckets = {b.bucket: b for b in only(snapshot).buckets}
    uploads, quiet = buckets[f"uploads-{estate.account}"], buckets[f"quiet-{estate.account}"]
    assert uploads.account == estate.account
    ((to_function,), (to_queue,), (to_topic,)) = (
        uploads.lambda_functions,
        uploads.queues,
        uploads.topics,
    )
    assert (to_function.target, to_function.events, to_function.prefix, to_function.suffix) == (
        estate.thumbnailer,
        ("s3:ObjectCreated:*",),
        "in/",
        ".jpg",
    )
    assert (to_function.id, to_queue.id, to_topic.id) == ("thumbs", "removed", "puts")
    assert (to_queue.target, to_queue.events, to_queue.prefix, to_queue.suffix) == (
        estate.jobs,
        ("s3:ObjectRemoved:*",),
        "",
        "",
    )
    assert (to_topic.target, to_topic.events, to_topic.suffix) == (
        estate.topic,
        ("s3:ObjectCreated:Put",),
        ".png",
    )
    # A bucket without notifications is read too: it is known to trigger nothing.
    assert (quiet.lambda_functions, quiet.queues, quiet.topics, quiet.eventbridge) == (
        (),
        (),
        (),
        False,
    )


def test_subscriptions_lambda_with_its_filter_policy_and_sqs(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    subscriptions = {s.arn: s for s in only(snapshot).subscriptions}
    assert set(subscriptions) == {estate.lambda_subscription, estate.sqs_subscription}
    to_function = subscriptions[estate.lambda_subscription]
    to_queue = subscriptions[estate.sqs_subscription]
    assert (to_function.topic, to_function.protocol, to_function.endpoint) == (
        estate.topic,
        "lambda",
        estate.thumbnailer,
    )
    assert to_function.filter == NEWS_FILTER
    assert (to_queue.protocol, to_queue.endpoint, to_queue.filter) == ("sqs", estate.jobs, None)


def test_rules_and_targets_on_the_default_and_a_custom_bus(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    default = arns.event_bus_arn(None, estate.account, REGION)
    assert {(b.name, b.arn) for b in only(snapshot).buses} == {
        ("default", default),
        ("orders", estate.orders_bus),
    }
    rules = {(r.bus, r.name): r for r in only(snapshot).rules}
    assert set(rules) == {
        (default, "to-worker"),
        (default, "nightly"),
        (estate.orders_bus, "audit"),
    }
    audit = rules[(estate.orders_bus, "audit")]
    assert (audit.state, audit.pattern) == ("DISABLED", ORDERS_PATTERN)
    assert {(t.id, t.arn) for t in audit.targets} == {("jobs", estate.jobs), ("news", estate.topic)}
    nightly = rules[(default, "nightly")]
    assert (nightly.pattern, nightly.schedule) == (None, "rate(1 day)")
    assert [(t.id, t.arn) for t in rules[(default, "to-worker")].targets] == [
        ("worker", estate.worker)
    ]


def test_state_machine_functions_from_both_resource_forms_nested(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    ((machine,),) = (only(snapshot).state_machines,)
    assert machine.arn == estate.flow
    # Resource = the ARN (with an alias), lambda:invoke by name in a Parallel branch,
    # .waitForTaskToken in a Map; the run-time choice ("FunctionName.$") is not a function.
    assert machine.functions == tuple(sorted((estate.helper, estate.thumbnailer, estate.worker)))


def test_destinations_on_success_and_on_failure(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    ((destination,),) = (only(snapshot).destinations,)
    assert (destination.function, destination.on_success, destination.on_failure) == (
        estate.worker,
        estate.jobs,
        estate.topic,
    )


def test_summary_counts_every_kind(read: tuple[Estate, Snapshot]) -> None:
    _, snapshot = read
    assert snapshot.summary() == (
        "inventory of 1 account in 1 region: 3 functions, 3 mappings, 2 buckets,"
        " 2 subscriptions, 2 buses, 3 rules, 1 state machine, 1 destination; 0 refused"
    )


# --- pagination --------------------------------------------------------------------------


def test_every_page_is_followed(aws: MotoServer) -> None:
    # moto pages ListEventBuses, ListRules, ListTargetsByRule and ListStateMachines by the page
    # size asked for, and ListSubscriptions by 100; it ignores Lambda's MaxItems (every
    # function comes in one page), so Lambda's paging is only exercised against AWS itself.
    events, states, sns, sqs = (aws.client(s) for s in ("events", "stepfunctions", "sns", "sqs"))
    queue = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="q")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for n in range(3):
        events.create_event_bus(Name=f"bus-{n}")
        events.put_rule(Name=f"rule-{n}", EventPattern=json.dumps({"source": [str(n)]}))
        definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
        states.create_state_machine(
            name=f"m-{n}",
            roleArn=f"arn:aws:iam::{DUMMY_ACCOUNT}:role/r",
            definition=json.dumps(definition),
        )
    # Three targets with three ARNs: moto's paging of targets keys on the ARN, and repeats
    # its token forever for targets that share one (botocore then raises PaginationError).
    targets = [{"Id": f"t{n}", "Arn": f"{queue}-{n}"} for n in range(3)]
    events.put_targets(Rule="rule-0", Targets=targets)
    topic = sns.create_topic(Name="many")["TopicArn"]
    for n in range(101):  # SNS answers a repeated endpoint with the same subscription
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"{queue}-{n}")
    page = events.list_rules(Limit=2)
    assert len(page["Rules"]) == 2 and page.get("NextToken")  # the emulator really pages
    assert "NextToken" in sns.list_subscriptions()

    snapshot = read_inventory(
        [REGION], session=emulator_session(aws), endpoint_url=aws.endpoint_url, page_size=2
    )

    inventory = only(snapshot)
    assert len(inventory.buses) == 4  # default and three more
    assert {r.name for r in inventory.rules} == {"rule-0", "rule-1", "rule-2"}
    (first,) = [r for r in inventory.rules if r.name == "rule-0"]
    assert {t.id for t in first.targets} == {"t0", "t1", "t2"}
    assert len(inventory.state_machines) == 3
    assert len(inventory.subscriptions) == 101
    assert snapshot.refused == ()


# --- facts, and their equality with the CloudTrail parser's ------------------------------


def inventory_facts(snapshot: Snapshot) -> list[Fact]:
    return configuration_facts(snapshot, T)


def added(facts: list[Fact], trigger_id: str) -> Trigger:
    (found,) = [
        f.trigger for f in facts if isinstance(f, TriggerAdded) and f.trigger.id == trigger_id
    ]
    return found


def test_functions_are_declared_before_any_trigger_names_them(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    facts = inventory_facts(snapshot)
    declared = [f for f in facts if isinstance(f, FunctionDeclared)]
    assert facts[: len(declared)] == declared
    assert set(declared) == {
        FunctionDeclared(T, estate.thumbnailer, estate.role),
        FunctionDeclared(T, estate.worker, estate.role),
        FunctionDeclared(T, estate.helper, estate.role),
    }
    create = record(
        LAMBDA,
        "CreateFunction20150331",
        {"functionName": "worker", "role": estate.role, "runtime": "python3.12"},
        {"functionArn": estate.worker, "role": estate.role},
        account=estate.account,
    )
    assert [at_t(f) for f in facts_of(create)] == [FunctionDeclared(T, estate.worker, estate.role)]


def test_a_state_machine_is_declared_with_its_role_as_create_state_machine_declares_it(
    read: tuple[Estate, Snapshot],
) -> None:
    # Step Functions invokes a function as the machine's role and names no machine: an estate
    # configured before the trail needs the role from the inventory to know who invoked.
    estate, snapshot = read
    role = f"arn:aws:iam::{estate.account}:role/flow"
    facts = inventory_facts(snapshot)
    declared = [f for f in facts if isinstance(f, StateMachineDeclared)]
    assert declared == [StateMachineDeclared(T, estate.flow, role)]
    # Declared with the functions, before any trigger names it.
    where = facts.index(declared[0])
    assert all(isinstance(f, FunctionDeclared) for f in facts[:where])
    create = record(
        STATES,
        "CreateStateMachine",
        {"name": "flow", "roleArn": role, "definition": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        {"stateMachineArn": estate.flow},
        account=estate.account,
    )
    assert [at_t(f) for f in facts_of(create)] == declared


def test_bucket_facts_equal_those_of_put_bucket_notification(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    bucket = f"uploads-{estate.account}"
    (from_inventory,) = [
        f
        for f in inventory_facts(snapshot)
        if isinstance(f, BucketTriggersReplaced) and f.bucket == arns.bucket_arn(bucket)
    ]
    # The same configuration as CloudTrail records its XML request (legacy element names,
    # one item or a list, FilterRule objects).
    request = {
        "bucketName": bucket,
        "Host": f"{bucket}.s3.amazonaws.com",
        "notification": "",
        "NotificationConfiguration": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            "CloudFunctionConfiguration": {
                "Id": "thumbs",
                "CloudFunction": estate.thumbnailer,
                "Event": "s3:ObjectCreated:*",
                "Filter": {
                    "S3Key": {
                        "FilterRule": [
                            {"Name": "Prefix", "Value": "in/"},
                            {"Name": "Suffix", "Value": ".jpg"},
                        ]
                    }
                },
            },
            "QueueConfiguration": {
                "Id": "removed",
                "Queue": estate.jobs,
                "Event": "s3:ObjectRemoved:*",
            },
            "TopicConfiguration": {
                "Id": "puts",
                "Topic": estate.topic,
                "Event": "s3:ObjectCreated:Put",
                "Filter": {"S3Key": {"FilterRule": {"Name": "Suffix", "Value": ".png"}}},
            },
        },
    }
    rec = record(S3, "PutBucketNotification", request, None, account=estate.account)
    (from_record,) = facts_of(rec)
    assert at_t(from_record) == from_inventory
    assert [t.target for t in from_inventory.triggers] == [
        estate.thumbnailer,
        estate.jobs,
        estate.topic,
    ]
    quiet = BucketTriggersReplaced(T, arns.bucket_arn(f"quiet-{estate.account}"), ())
    assert quiet in inventory_facts(snapshot)


def test_mapping_facts_equal_those_of_create_event_source_mapping(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    facts = inventory_facts(snapshot)
    for uuid, source, name, enabled, criteria in (
        (estate.jobs_mapping, estate.jobs, "worker", True, {"filters": [{"pattern": JOBS_FILTER}]}),
        (estate.spare_mapping, estate.spare, estate.worker, False, None),
        (estate.stream_mapping, estate.stream, estate.worker, True, None),
    ):
        params: dict[str, Any] = {
            "eventSourceArn": source,
            "functionName": name,
            "enabled": enabled,
        }
        if criteria:
            params["filterCriteria"] = criteria
        rec = record(
            LAMBDA,
            "CreateEventSourceMapping20150331",
            params,
            {"uUID": uuid, "eventSourceArn": source, "functionArn": estate.worker},
            account=estate.account,
        )
        (from_record,) = facts_of(rec)
        assert at_t(from_record) == TriggerAdded(T, added(facts, uuid))
        assert TriggerEnabled(T, uuid, enabled) in facts
    # A stream's mapping is an edge from its table.
    assert added(facts, estate.stream_mapping).source == estate.table


def test_subscription_facts_equal_those_of_subscribe(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    facts = inventory_facts(snapshot)
    for arn, protocol, endpoint, attributes in (
        (estate.lambda_subscription, "lambda", estate.thumbnailer, {"FilterPolicy": NEWS_FILTER}),
        (estate.sqs_subscription, "sqs", estate.jobs, {}),
    ):
        params = {"topicArn": estate.topic, "protocol": protocol, "endpoint": endpoint}
        if attributes:
            params["attributes"] = attributes  # type: ignore[assignment]
        rec = record(SNS, "Subscribe", params, {"subscriptionArn": arn}, account=estate.account)
        (from_record,) = facts_of(rec)
        assert at_t(from_record) == TriggerAdded(T, added(facts, arn))


def test_rule_facts_equal_those_of_put_rule_and_put_targets(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    facts = inventory_facts(snapshot)
    rule = record(EVENTS, "PutRule", {"name": "to-worker", "eventPattern": '{"source":["app"]}'})
    assert facts_of(rule) == ()  # the parser reads the targets, not the rule
    on_default = record(
        EVENTS,
        "PutTargets",
        {"rule": "to-worker", "targets": [{"id": "worker", "arn": estate.worker}]},
        account=estate.account,
    )
    (from_record,) = facts_of(on_default)
    assert isinstance(from_record, TriggerAdded)
    assert at_t(from_record) == TriggerAdded(T, added(facts, from_record.trigger.id))
    on_orders = record(
        EVENTS,
        "PutTargets",
        {
            "rule": "audit",
            "eventBusName": "orders",
            "targets": [{"id": "jobs", "arn": estate.jobs}, {"id": "news", "arn": estate.topic}],
        },
        account=estate.account,
    )
    for fact in facts_of(on_orders):
        assert isinstance(fact, TriggerAdded)
        inventory = added(facts, fact.trigger.id)
        # Same id, bus, target and detail; the rule is DISABLED, which only the inventory
        # sees (PutRule's state is not read from CloudTrail).
        assert inventory == replace(fact.trigger, enabled=False)
        assert inventory.source == estate.orders_bus
    # A scheduled rule runs on the clock: no edge from its bus.
    assert not [f for f in facts if isinstance(f, TriggerAdded) and "/nightly/" in f.trigger.id]


def test_destination_facts_equal_those_of_put_function_event_invoke_config(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    facts = inventory_facts(snapshot)
    rec = record(
        LAMBDA,
        "PutFunctionEventInvokeConfig",
        {
            "functionName": "worker",
            "destinationConfig": {
                "onSuccess": {"destination": estate.jobs},
                "onFailure": {"destination": estate.topic},
            },
        },
        account=estate.account,
    )
    from_record = facts_of(rec)
    assert len(from_record) == 2
    for fact in from_record:
        assert isinstance(fact, TriggerAdded)
        assert at_t(fact) == TriggerAdded(T, added(facts, fact.trigger.id))


def test_state_machine_edges_start_where_start_execution_writes(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    edges = [
        f.trigger
        for f in inventory_facts(snapshot)
        if isinstance(f, TriggerAdded) and f.trigger.via == STATE_MACHINE
    ]
    assert {(t.source, t.target) for t in edges} == {
        (estate.flow, estate.thumbnailer),
        (estate.flow, estate.worker),
        (estate.flow, estate.helper),
    }
    # A function starting a version of the machine writes to the machine's node.
    start = record(
        STATES,
        "StartExecution",
        {"stateMachineArn": f"{estate.flow}:3", "input": "{}"},
        identity=assumed_role("loopwatch-test-execution", "worker", estate.account),
        account=estate.account,
    )
    (write,) = facts_of(start)
    assert isinstance(write, Write) and write.target == estate.flow


def test_the_inventory_lets_the_engine_see_a_loop_configured_before_the_trail(
    read: tuple[Estate, Snapshot],
) -> None:
    estate, snapshot = read
    role = estate.role.rsplit("/", 1)[-1]
    writes = [
        record(
            DYNAMODB,
            "PutItem",
            {"tableName": "items", "item": {"id": {"S": str(n)}}},
            identity=assumed_role(role, "worker", estate.account),
            account=estate.account,
            time=at(n),
        )
        for n in range(1, 6)
    ]

    def findings(facts: list[Fact]) -> list[LoopFinding]:
        engine = Engine()
        found = [x for f in facts for x in engine.apply(f)]
        for rec in writes:
            found.extend(x for f in facts_of(rec) for x in engine.apply(f))
        return [x for x in found if isinstance(x, LoopFinding)]

    # The trail shows only the writes: the table's mapping to worker predates it.
    assert findings([]) == []
    start = facts_of(writes[0])[0].time - 60
    loops = findings(configuration_facts(snapshot, start))
    assert {x.status for x in loops} >= {ACTIVE}
    assert set(loops[-1].cycle) == {estate.table, estate.worker}


def test_a_later_record_overrides_the_inventory(read: tuple[Estate, Snapshot]) -> None:
    estate, snapshot = read
    engine = Engine()
    for fact in configuration_facts(snapshot, T):
        engine.apply(fact)
    assert engine.graph.trigger(estate.stream_mapping) is not None
    disable = record(
        LAMBDA,
        "UpdateEventSourceMapping20150331",
        {"uUID": estate.stream_mapping, "enabled": False},
        account=estate.account,
        time=at(10),
    )
    for fact in facts_of(disable):
        engine.apply(fact)
    trigger = engine.graph.trigger(estate.stream_mapping)
    assert trigger is not None and trigger.enabled is False
    delete = record(
        LAMBDA,
        "DeleteEventSourceMapping20150331",
        {"uUID": estate.stream_mapping},
        account=estate.account,
        time=at(20),
    )
    for fact in facts_of(delete):
        engine.apply(fact)
    assert engine.graph.trigger(estate.stream_mapping) is None


# --- other accounts and refusals ----------------------------------------------------------


def test_other_accounts_are_read_through_the_role_template(aws: MotoServer) -> None:
    home = build_estate(aws)
    role = TEMPLATE.format(account=OTHER)
    credentials = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")[
        "Credentials"
    ]
    remote = create_function(aws, "remote", credentials=credentials)
    assert arns.function_arn(remote, "", "").split(":")[4] == OTHER

    snapshot = read_inventory(
        [REGION],
        [home.account, OTHER],
        session=emulator_session(aws),
        role_template=TEMPLATE,
        endpoint_url=aws.endpoint_url,
    )

    assert snapshot.accounts == (home.account, OTHER)
    by_account = {i.account: i for i in snapshot.inventories}
    assert [f.arn for f in by_account[OTHER].functions] == [remote]
    assert len(by_account[home.account].functions) == 3
    assert snapshot.refused == ()


def test_a_refused_call_is_named_and_the_rest_is_read(aws: MotoServer) -> None:
    estate = build_estate(aws)
    # The refusal is the test's own (a botocore hook), not the emulator's IAM evaluation, whose
    # spelling of actions changes between releases.
    session = refusing(emulator_session(aws), "sns:ListSubscriptions")

    snapshot = read_inventory([REGION], session=session, endpoint_url=aws.endpoint_url)

    (denied,) = snapshot.refused
    assert (denied.account, denied.region, denied.service, denied.call, denied.code) == (
        estate.account,
        REGION,
        "sns",
        "ListSubscriptions",
        "AccessDenied",
    )
    assert "sns:ListSubscriptions" in denied.message  # AWS's message, carried through
    inventory = only(snapshot)
    assert inventory.subscriptions == ()
    # Everything else was read all the same.
    assert len(inventory.functions) == 3
    assert {b.bucket for b in inventory.buckets} == {
        f"uploads-{estate.account}",
        f"quiet-{estate.account}",
    }
    assert [m.arn for m in inventory.state_machines] == [estate.flow]
    assert {r.name for r in inventory.rules} == {"to-worker", "nightly", "audit"}
    assert f"{estate.account}/{REGION} sns:ListSubscriptions AccessDenied" in snapshot.summary()


def test_an_account_whose_role_cannot_be_assumed_is_named(aws: MotoServer) -> None:
    estate = build_estate(aws)
    session = refusing(emulator_session(aws), "sts:AssumeRole")

    snapshot = read_inventory(
        [REGION],
        [estate.account, OTHER],
        session=session,
        role_template=TEMPLATE,
        endpoint_url=aws.endpoint_url,
    )

    (assume,) = snapshot.refused
    assert (assume.account, assume.region, assume.service, assume.call, assume.code) == (
        OTHER,
        None,
        "sts",
        "AssumeRole",
        "AccessDenied",
    )
    assert assume.resource == TEMPLATE.format(account=OTHER)
    assert snapshot.accounts == (estate.account, OTHER)
    assert [i.account for i in snapshot.inventories] == [estate.account]
    assert len(only(snapshot).buckets) == 2


def test_an_unreachable_endpoint_stops_its_region_with_the_reason() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    session = boto3.Session(
        aws_access_key_id=DUMMY, aws_secret_access_key=DUMMY, region_name=REGION
    )
    reader = RegionReader(
        session,
        DUMMY_ACCOUNT,
        REGION,
        endpoint_url=closed,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )

    inventory = reader.read()

    assert inventory.functions == inventory.buckets == ()
    (refusal,) = reader.refused  # one, not one per call: the region was not read further
    assert (refusal.service, refusal.call, refusal.code) == (
        "lambda",
        "ListFunctions",
        "ConnectionError",
    )
    assert closed in refusal.message


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def aws_env(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The environment a person would set to point loopwatch at the emulator."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("LOOPWATCH_THROTTLE_ROLE_TEMPLATE", raising=False)
    return aws


def test_the_command_writes_a_snapshot_the_loader_reads_back(
    aws_env: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = build_estate(aws_env)
    out = tmp_path / "inventory.json"

    assert main(["inventory", "--out", str(out)]) == 0

    snapshot = load_snapshot(out)
    assert snapshot.regions == (REGION,)  # from AWS_DEFAULT_REGION
    assert {f.arn for f in only(snapshot).functions} == {
        estate.thumbnailer,
        estate.worker,
        estate.helper,
    }
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("inventory of 1 account in 1 region: 3 functions,")
    assert line.endswith(f"0 refused; written to {out}")
    # …and the file round-trips exactly.
    again = tmp_path / "again.json"
    write_snapshot(snapshot, again)
    assert load_snapshot(again) == snapshot
    assert again.read_bytes() == out.read_bytes()


def test_the_command_prints_the_snapshot_without_out(
    aws_env: MotoServer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    build_estate(aws_env)

    assert main(["inventory", "--region", REGION, "--region", "eu-west-1"]) == 0

    captured = capsysbinary.readouterr()
    document = json.loads(captured.out)
    assert document["version"] == 1
    assert document["regions"] == [REGION, "eu-west-1"]
    per_region = {i["region"]: i for i in document["inventories"]}
    assert len(per_region[REGION]["buckets"]) == 2
    assert per_region["eu-west-1"]["buckets"] == []  # each bucket only in its own region
    assert captured.err.decode().count("\n") == 1


def test_no_credentials_is_one_line_and_exit_2(
    aws_env: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)

    assert main(["inventory"]) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("loopwatch inventory: no AWS credentials: set AWS_PROFILE")


def test_an_unreachable_endpoint_is_one_line_and_exit_2(
    aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)

    assert main(["inventory"]) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("loopwatch inventory: cannot reach AWS STS")
    assert closed in line and "AWS_ENDPOINT_URL" in line


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--account", "1234"], "--account 1234: not a 12-digit AWS account id"),
        (["--region", "useast1"], "--region useast1: not an AWS region name"),
        (["--account", OTHER], f"account {OTHER} is not the caller's"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    aws_env: MotoServer, argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inventory", *argv]) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"loopwatch inventory: {reason}")


def test_no_region_is_one_line_and_exit_2(
    aws_env: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    assert main(["inventory"]) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert (
        line
        == "loopwatch inventory: no region: pass --region R (repeatable) or set AWS_DEFAULT_REGION"
    )
