"""records.parse: one test per row of DESIGN §4, on records in real CloudTrail shape."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.events.decode import decode
from loopwatch.events.envelopes import NOT_AWS_SOURCE, OTHER_ACCOUNT
from loopwatch.events.facts import (
    DESTINATION,
    EVENT_SOURCE_MAPPING,
    EVENTBRIDGE_RULE,
    S3_NOTIFICATION,
    SNS_SUBSCRIPTION,
    BucketTriggersReplaced,
    Caller,
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
from loopwatch.events.records import MalformedRecord, parse
from loopwatch.testing.data import INVICTUS, INVICTUS_RECORDS, invictus_dir, shared_data_dir
from loopwatch.testing.records import (
    ACCOUNT,
    DYNAMODB,
    EVENTS,
    KINESIS,
    LAMBDA,
    REGION,
    S3,
    SNS,
    SQS,
    STATES,
    assumed_role,
    aws_service,
    eventbridge,
    function_arn,
    invocation,
    queue_url,
    record,
)
from loopwatch.testing.records import paths as value_paths

T0 = 1_791_208_800.0  # 2026-10-05T14:00:00Z
FN = function_arn("thumbnailer")
BUCKET = "arn:aws:s3:::uploads"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:news"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
DEFAULT_BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
ROLE = assumed_role("thumbnailer-role", "thumbnailer")
CALLER = Caller(ACCOUNT, REGION, "thumbnailer-role", "thumbnailer")


def facts(obj: object) -> tuple[Fact, ...]:
    return parse(obj)[1]


def invictus_records(*, required: bool = True) -> list[dict[str, Any]]:
    """The real invictus records; a test that requires them skips when they are absent."""
    folder = invictus_dir(__file__) if required else shared_data_dir(__file__, INVICTUS)
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        found.extend(orjson.loads(path.read_bytes())["Records"])
    return found


# --- S3 PutBucketNotification ----------------------------------------------------


def notification(config: dict[str, Any], bucket: str = "uploads", **kw: Any) -> dict[str, Any]:
    request = {
        "bucketName": bucket,
        "Host": f"{bucket}.s3.amazonaws.com",
        "notification": "",
        "NotificationConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", **config},
    }
    return record(S3, "PutBucketNotification", request, None, **kw)


def test_s3_notification_legacy_shape_one_object() -> None:
    config = {
        "CloudFunctionConfiguration": {
            "Id": "thumbs",
            "CloudFunction": f"{FN}:live",
            "Event": "s3:ObjectCreated:*",
            "Filter": {"S3Key": {"FilterRule": {"Name": "Prefix", "Value": "images/"}}},
        }
    }
    trigger = Trigger(
        id="s3:uploads:0",
        source=BUCKET,
        target=FN,
        via=S3_NOTIFICATION,
        events=("s3:ObjectCreated:*",),
        prefix="images/",
        detail="thumbs",
    )
    assert facts(notification(config)) == (BucketTriggersReplaced(T0, BUCKET, (trigger,)),)


def test_s3_notification_lists_queues_topics_and_case_insensitive_filters() -> None:
    config = {
        "CloudFunctionConfiguration": [
            {
                "CloudFunction": FN,
                "Event": ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"],
                "Filter": {
                    "S3Key": {
                        "FilterRule": [
                            {"Name": "prefix", "Value": "in/"},
                            {"Name": "SUFFIX", "Value": ".jpg"},
                        ]
                    }
                },
            },
            {"CloudFunction": function_arn("indexer"), "Event": "s3:ObjectCreated:*"},
        ],
        "QueueConfiguration": {"Queue": QUEUE, "Event": "s3:ObjectCreated:*"},
        "TopicConfiguration": [{"Topic": TOPIC, "Event": "s3:ObjectRemoved:*"}],
    }
    (fact,) = facts(notification(config))
    assert isinstance(fact, BucketTriggersReplaced)
    assert [(t.id, t.target) for t in fact.triggers] == [
        ("s3:uploads:0", FN),
        ("s3:uploads:1", function_arn("indexer")),
        ("s3:uploads:2", QUEUE),
        ("s3:uploads:3", TOPIC),
    ]
    first = fact.triggers[0]
    assert (first.events, first.prefix, first.suffix) == (
        ("s3:ObjectCreated:Put", "s3:ObjectRemoved:*"),
        "in/",
        ".jpg",
    )


def test_s3_notification_newer_shape_and_eventbridge() -> None:
    config = {
        "LambdaFunctionConfiguration": {"LambdaFunctionArn": FN, "Event": "s3:ObjectCreated:*"},
        "QueueConfiguration": {"QueueArn": QUEUE, "Event": "s3:ObjectCreated:*"},
        "TopicConfiguration": {"TopicArn": TOPIC, "Event": "s3:ObjectCreated:*"},
        "EventBridgeConfiguration": {},
    }
    (fact,) = facts(
        record(
            S3,
            "PutBucketNotificationConfiguration",
            {"bucketName": "uploads", "NotificationConfiguration": config},
        )
    )
    assert isinstance(fact, BucketTriggersReplaced)
    assert [t.target for t in fact.triggers] == [FN, QUEUE, TOPIC, DEFAULT_BUS]


def test_s3_empty_notification_clears_the_bucket() -> None:
    assert facts(notification({})) == (BucketTriggersReplaced(T0, BUCKET, ()),)


def test_s3_notification_without_bucket_or_target_is_malformed() -> None:
    with pytest.raises(MalformedRecord, match="bucketName"):
        parse(record(S3, "PutBucketNotification", {"NotificationConfiguration": {}}))
    with pytest.raises(MalformedRecord, match="target"):
        parse(notification({"CloudFunctionConfiguration": {"Event": "s3:ObjectCreated:*"}}))


# --- Lambda event source mappings ------------------------------------------------

MAPPING = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"
STREAM = f"{TABLE}/stream/2026-10-05T13:00:00.000"


def test_create_event_source_mapping_from_a_dynamodb_stream() -> None:
    rec = record(
        LAMBDA,
        "CreateEventSourceMapping20150331",
        {
            "eventSourceArn": STREAM,
            "functionName": "thumbnailer",
            "startingPosition": "LATEST",
            "filterCriteria": {"filters": [{"pattern": '{"eventName": ["INSERT"]}'}]},
        },
        {"uUID": MAPPING, "eventSourceArn": STREAM, "functionArn": FN, "state": "Creating"},
    )
    trigger = Trigger(
        MAPPING, TABLE, FN, EVENT_SOURCE_MAPPING, detail='filter: {"eventName": ["INSERT"]}'
    )
    assert parse(rec) == (rec["eventID"], (TriggerAdded(T0, trigger),))


def test_create_event_source_mapping_disabled_from_a_queue() -> None:
    rec = record(
        LAMBDA,
        "CreateEventSourceMapping20150331",
        {"eventSourceArn": QUEUE, "functionName": f"{FN}:live", "enabled": False},
        {"uUID": MAPPING},
    )
    assert facts(rec) == (
        TriggerAdded(T0, Trigger(MAPPING, QUEUE, FN, EVENT_SOURCE_MAPPING, enabled=False)),
    )


def test_update_event_source_mapping_enables_and_repoints() -> None:
    disable = record(
        LAMBDA, "UpdateEventSourceMapping20150331", {"uUID": MAPPING, "enabled": False}
    )
    assert facts(disable) == (TriggerEnabled(T0, MAPPING, False),)
    repoint = record(
        LAMBDA,
        "UpdateEventSourceMapping20150331",
        {"uUID": MAPPING, "functionName": "indexer"},
        {
            "uUID": MAPPING,
            "eventSourceArn": QUEUE,
            "functionArn": function_arn("indexer"),
            "state": "Updating",
        },
    )
    trigger = Trigger(MAPPING, QUEUE, function_arn("indexer"), EVENT_SOURCE_MAPPING)
    assert facts(repoint) == (TriggerAdded(T0, trigger),)


def test_delete_event_source_mapping() -> None:
    rec = record(LAMBDA, "DeleteEventSourceMapping20150331", {"uUID": MAPPING}, {"uUID": MAPPING})
    assert facts(rec) == (TriggerRemoved(T0, MAPPING),)


def test_mapping_without_uuid_is_malformed() -> None:
    with pytest.raises(MalformedRecord, match="uUID"):
        parse(record(LAMBDA, "DeleteEventSourceMapping20150331", {}))


# --- SNS subscriptions -----------------------------------------------------------

SUBSCRIPTION = f"{TOPIC}:9e5fd7a2-3c1b-4e7f-8f0a-6a4c2b1d0e9f"


def test_sns_subscribe_lambda_and_sqs_and_unsubscribe() -> None:
    to_function = record(
        SNS,
        "Subscribe",
        {"topicArn": TOPIC, "protocol": "lambda", "endpoint": FN},
        {"subscriptionArn": SUBSCRIPTION},
    )
    assert facts(to_function) == (
        TriggerAdded(T0, Trigger(SUBSCRIPTION, TOPIC, FN, SNS_SUBSCRIPTION)),
    )
    to_queue = record(
        SNS, "Subscribe", {"topicArn": TOPIC, "protocol": "sqs", "endpoint": QUEUE}, None
    )
    (added,) = facts(to_queue)
    assert isinstance(added, TriggerAdded)
    assert (added.trigger.target, added.trigger.id) == (QUEUE, f"sns:{TOPIC}|sqs|{QUEUE}")
    email = record(SNS, "Subscribe", {"topicArn": TOPIC, "protocol": "email", "endpoint": "a@b.c"})
    assert facts(email) == ()
    gone = record(SNS, "Unsubscribe", {"subscriptionArn": SUBSCRIPTION})
    assert facts(gone) == (TriggerRemoved(T0, SUBSCRIPTION),)


# --- EventBridge rules -----------------------------------------------------------


def test_eventbridge_put_rule_is_not_an_edge_put_targets_is() -> None:
    rule = record(EVENTS, "PutRule", {"name": "on-order", "eventPattern": '{"source":["shop"]}'})
    assert facts(rule) == ()
    targets = record(
        EVENTS,
        "PutTargets",
        {"rule": "on-order", "targets": [{"id": "1", "arn": FN}, {"id": "q", "arn": QUEUE}]},
        {"failedEntryCount": 0, "failedEntries": []},
    )
    assert facts(targets) == (
        TriggerAdded(
            T0,
            Trigger(
                f"events:{DEFAULT_BUS}/on-order/1",
                DEFAULT_BUS,
                FN,
                EVENTBRIDGE_RULE,
                detail="rule on-order",
            ),
        ),
        TriggerAdded(
            T0,
            Trigger(
                f"events:{DEFAULT_BUS}/on-order/q",
                DEFAULT_BUS,
                QUEUE,
                EVENTBRIDGE_RULE,
                detail="rule on-order",
            ),
        ),
    )


def test_eventbridge_custom_bus_and_remove_targets() -> None:
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
    by_name = record(
        EVENTS,
        "PutTargets",
        {"rule": "r", "eventBusName": "orders", "targets": [{"id": "1", "arn": FN}]},
    )
    (added,) = facts(by_name)
    assert isinstance(added, TriggerAdded) and added.trigger.source == bus
    removed = record(EVENTS, "RemoveTargets", {"rule": "r", "eventBusName": bus, "ids": ["1", "2"]})
    assert facts(removed) == (
        TriggerRemoved(T0, f"events:{bus}/r/1"),
        TriggerRemoved(T0, f"events:{bus}/r/2"),
    )


# --- Lambda destinations ---------------------------------------------------------


def test_put_function_event_invoke_config_destinations() -> None:
    rec = record(
        LAMBDA,
        "PutFunctionEventInvokeConfig",
        {"functionName": "thumbnailer", "destinationConfig": {"onSuccess": {"destination": QUEUE}}},
    )
    assert facts(rec) == (
        TriggerAdded(
            T0, Trigger(f"destination:{FN}:on-success", FN, QUEUE, DESTINATION, detail="on-success")
        ),
        TriggerRemoved(T0, f"destination:{FN}:on-failure"),  # Put replaces the whole config
    )


def test_update_function_event_invoke_config_changes_only_what_it_names() -> None:
    rec = record(
        LAMBDA,
        "UpdateFunctionEventInvokeConfig",
        {"functionName": FN, "destinationConfig": {"onFailure": {"destination": TOPIC}}},
    )
    (added,) = facts(rec)
    assert isinstance(added, TriggerAdded)
    assert (added.trigger.source, added.trigger.target) == (FN, TOPIC)
    deleted = record(LAMBDA, "DeleteFunctionEventInvokeConfig", {"functionName": FN})
    assert facts(deleted) == (
        TriggerRemoved(T0, f"destination:{FN}:on-success"),
        TriggerRemoved(T0, f"destination:{FN}:on-failure"),
    )


# --- Lambda functions ------------------------------------------------------------


def test_create_function_declares_function_and_role() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/thumbnailer-role"
    rec = record(
        LAMBDA,
        "CreateFunction20150331",
        {"functionName": "thumbnailer", "runtime": "python3.12", "role": role, "handler": "h"},
        {"functionName": "thumbnailer", "functionArn": FN, "role": role, "version": "$LATEST"},
    )
    assert facts(rec) == (FunctionDeclared(T0, FN, role),)
    update = record(
        LAMBDA, "UpdateFunctionConfiguration20150331v2", {"functionName": "thumbnailer"}
    )
    assert facts(update) == (FunctionDeclared(T0, FN, None),)


def test_delete_function_but_not_a_version() -> None:
    rec = record(LAMBDA, "DeleteFunction20150331", {"functionName": "thumbnailer"}, None)
    assert facts(rec) == (FunctionDeleted(T0, FN),)
    version = record(
        LAMBDA, "DeleteFunction20150331", {"functionName": "thumbnailer", "qualifier": "3"}
    )
    assert facts(version) == ()


# --- Lambda Invoke (data event) --------------------------------------------------


def test_invoke_by_a_service_is_an_observed_trigger() -> None:
    rec = record(
        LAMBDA,
        "Invoke",
        {"functionName": f"{FN}:live", "sourceArn": "arn:aws:s3:::uploads"},
        None,
        identity=aws_service("s3.amazonaws.com"),
        resources=[{"accountId": ACCOUNT, "type": "AWS::Lambda::Function", "ARN": f"{FN}:live"}],
    )
    assert facts(rec) == (Invoked(T0, FN, BUCKET, "s3.amazonaws.com"),)


def test_invoke_by_a_function_is_also_a_write() -> None:
    target = function_arn("resizer")
    rec = record(LAMBDA, "Invoke", {"functionName": "resizer"}, None, identity=ROLE)
    assert facts(rec) == (Invoked(T0, target), Write(T0, CALLER, target))


# --- data writes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("PutObject", "ObjectCreated:Put"),
        ("CopyObject", "ObjectCreated:Copy"),
        ("CompleteMultipartUpload", "ObjectCreated:CompleteMultipartUpload"),
        ("DeleteObject", "ObjectRemoved:Delete"),
    ],
)
def test_s3_object_writes(name: str, event: str) -> None:
    request = {
        "bucketName": "uploads",
        "Host": "uploads.s3.us-east-1.amazonaws.com",
        "key": "a.jpg",
    }
    rec = record(S3, name, request, None, identity=ROLE)
    assert facts(rec) == (Write(T0, CALLER, BUCKET, key="a.jpg", s3_event=event),)


def test_s3_delete_objects_one_write_per_key() -> None:
    request = {"bucketName": "uploads", "delete": ""}
    resources = [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::uploads/a.jpg"},
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::uploads/b/c.jpg"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": BUCKET},
    ]
    rec = record(S3, "DeleteObjects", request, None, identity=ROLE, resources=resources)
    removed = "ObjectRemoved:Delete"
    assert facts(rec) == (
        Write(T0, CALLER, BUCKET, key="a.jpg", s3_event=removed),
        Write(T0, CALLER, BUCKET, key="b/c.jpg", s3_event=removed),
    )
    unlisted = record(S3, "DeleteObjects", request, None, identity=ROLE)
    assert facts(unlisted) == (Write(T0, CALLER, BUCKET, s3_event=removed),)


def test_writes_by_other_callers_give_no_facts() -> None:
    request = {"bucketName": "uploads", "key": "a.jpg"}
    assert facts(record(S3, "PutObject", request)) == ()  # an IAM user
    assert facts(record(S3, "PutObject", request, identity=aws_service("s3.amazonaws.com"))) == ()


def test_sqs_send_message_and_batch() -> None:
    one = record(SQS, "SendMessage", {"queueUrl": queue_url("jobs")}, None, identity=ROLE)
    assert facts(one) == (Write(T0, CALLER, QUEUE),)
    batch = record(
        SQS,
        "SendMessageBatch",
        {"queueUrl": queue_url("jobs"), "entries": [{"id": "1"}, {"id": "2"}, {"id": "3"}]},
        None,
        identity=ROLE,
    )
    assert facts(batch) == (Write(T0, CALLER, QUEUE, count=3),)


def test_sns_publish_and_batch() -> None:
    assert facts(record(SNS, "Publish", {"topicArn": TOPIC}, None, identity=ROLE)) == (
        Write(T0, CALLER, TOPIC),
    )
    batch = record(
        SNS,
        "PublishBatch",
        {"topicArn": TOPIC, "publishBatchRequestEntries": [{"id": "1"}, {"id": "2"}]},
        identity=ROLE,
    )
    assert facts(batch) == (Write(T0, CALLER, TOPIC, count=2),)
    sms = record(SNS, "Publish", {"phoneNumber": "+15555550100"}, identity=ROLE)
    assert facts(sms) == ()


@pytest.mark.parametrize("name", ["PutItem", "UpdateItem", "DeleteItem"])
def test_dynamodb_item_writes(name: str) -> None:
    rec = record(DYNAMODB, name, {"tableName": "orders", "key": {"id": {"S": "1"}}}, identity=ROLE)
    assert facts(rec) == (Write(T0, CALLER, TABLE),)


def test_dynamodb_batch_and_transaction_one_write_per_table() -> None:
    items: dict[str, object] = {
        "orders": [{"putRequest": {}}, {"deleteRequest": {}}],
        "audit": [{"putRequest": {}}],
    }
    batch = record(DYNAMODB, "BatchWriteItem", {"requestItems": items}, identity=ROLE)
    assert facts(batch) == (
        Write(T0, CALLER, TABLE, count=2),
        Write(T0, CALLER, TABLE.replace("orders", "audit"), count=1),
    )
    transact = record(
        DYNAMODB,
        "TransactWriteItems",
        {
            "transactItems": [
                {"put": {"tableName": "orders"}},
                {"update": {"tableName": "orders"}},
                {"conditionCheck": {"tableName": "audit"}},
            ]
        },
        identity=ROLE,
    )
    assert facts(transact) == (Write(T0, CALLER, TABLE, count=2),)
    by_resource = record(
        DYNAMODB,
        "PutItem",
        {"key": {}},
        identity=ROLE,
        resources=[{"accountId": ACCOUNT, "type": "AWS::DynamoDB::Table", "ARN": TABLE}],
    )
    assert facts(by_resource) == (Write(T0, CALLER, TABLE),)


def test_kinesis_put_record_and_records() -> None:
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks"
    one = record(KINESIS, "PutRecord", {"streamName": "clicks", "partitionKey": "k"}, identity=ROLE)
    assert facts(one) == (Write(T0, CALLER, stream),)
    many = record(KINESIS, "PutRecords", {"streamARN": stream, "records": [{}, {}]}, identity=ROLE)
    assert facts(many) == (Write(T0, CALLER, stream, count=2),)


def test_eventbridge_put_events_grouped_by_bus() -> None:
    orders = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
    rec = record(
        EVENTS,
        "PutEvents",
        {"entries": [{"source": "shop"}, {"eventBusName": "orders"}, {"eventBusName": orders}]},
        identity=ROLE,
    )
    assert facts(rec) == (
        Write(T0, CALLER, DEFAULT_BUS, count=1),
        Write(T0, CALLER, orders, count=2),
    )


def test_states_start_execution() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:flow"
    rec = record(STATES, "StartExecution", {"stateMachineArn": machine}, identity=ROLE)
    assert facts(rec) == (Write(T0, CALLER, machine),)


def test_write_missing_its_resource_is_malformed() -> None:
    with pytest.raises(MalformedRecord, match="queueUrl"):
        parse(record(SQS, "SendMessage", {}, identity=ROLE))
    with pytest.raises(MalformedRecord, match="queue URL"):
        parse(record(SQS, "SendMessage", {"queueUrl": "jobs"}, identity=ROLE))
    with pytest.raises(MalformedRecord, match="bucketName"):
        parse(record(S3, "PutObject", {"key": "a"}, identity=ROLE))


def test_caller_account_and_region_come_from_the_role_and_record() -> None:
    other = assumed_role("r", "fn", account="444455556666")
    rec = record(DYNAMODB, "PutItem", {"tableName": "t"}, identity=other, region="eu-west-1")
    (write,) = facts(rec)
    assert isinstance(write, Write)
    assert write.caller == Caller("444455556666", "eu-west-1", "r", "fn")
    assert write.target == "arn:aws:dynamodb:eu-west-1:444455556666:table/t"


# --- envelopes, invocation events, ids, failures ---------------------------------


def test_eventbridge_envelope_is_its_detail() -> None:
    rec = record(SQS, "SendMessage", {"queueUrl": queue_url("jobs")}, identity=ROLE)
    assert parse(eventbridge(rec)) == parse(rec) == (rec["eventID"], (Write(T0, CALLER, QUEUE),))


SOURCES = st.one_of(
    st.sampled_from(["aws.sqs", "aws.s3", "aws.", "evil.app", "AWS.sqs", "aws", " aws.sqs", ""]),
    st.text(max_size=12),
    st.builds(lambda tail: "aws." + tail, st.text(max_size=8)),
    st.none(),
    st.integers(-(2**63), 2**64 - 1),  # what JSON carries here (orjson's range)
)
ACCOUNTS = st.one_of(
    st.sampled_from([ACCOUNT, "111111111111", ACCOUNT + " ", "", None]),
    st.text(max_size=12),
    st.integers(-(2**63), 2**64 - 1),
)


@given(source=SOURCES, account=ACCOUNTS, drop=st.sampled_from(["", "source", "account"]))
def test_an_envelope_is_its_record_only_when_cloudtrail_put_it(
    source: object, account: object, drop: str
) -> None:
    rec = record(SQS, "SendMessage", {"queueUrl": queue_url("jobs")}, identity=ROLE)
    envelope: dict[str, Any] = {**eventbridge(rec), "source": source, "account": account}
    envelope.pop(drop, None)
    source, account = envelope.get("source"), envelope.get("account")
    if not (isinstance(source, str) and source.startswith("aws.")):
        want: str | None = NOT_AWS_SOURCE
    elif account != rec["recipientAccountId"]:
        want = OTHER_ACCOUNT
    else:
        want = None
    # The full value and what the selective decoder gives (a thin record, or the full value
    # where a field's type does not fit one, e.g. a null source) are judged alike.
    (selected,) = decode(orjson.dumps(envelope), selective=True).objects
    for value in (envelope, selected):
        if want is None:
            assert parse(value) == parse(rec)
        else:
            with pytest.raises(MalformedRecord) as raised:
                parse(value)
            assert str(raised.value) == want


def test_invocation_event() -> None:
    event = invocation(
        f"{FN}:live", time="2026-10-05T14:00:00.250Z", request_id="r-1", source=QUEUE
    )
    assert parse(event) == ("invocation:r-1", (Invoked(T0 + 0.25, FN, QUEUE),))
    event["request_id"] = None
    assert parse(event)[0] is None


@pytest.mark.parametrize(
    "change",
    [
        {"time": None},
        {"time": "yesterday"},
        {"time": "2026-10-05T14:00:00"},
        {"function": None},
        {"function": "thumbnailer"},
    ],
)
def test_bad_invocation_events_are_malformed(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedRecord):
        parse({**invocation(FN), **change})


def test_failed_calls_and_irrelevant_records_give_no_facts() -> None:
    failed = record(SQS, "SendMessage", {}, identity=ROLE, error_code="AccessDenied", id="e-1")
    assert parse(failed) == ("e-1", ())
    assert parse(record("ec2.amazonaws.com", "DescribeInstances", {}, id="e-2")) == ("e-2", ())
    no_id = record("ec2.amazonaws.com", "DescribeInstances", {})
    del no_id["eventID"]
    assert parse(no_id) == (None, ())


@pytest.mark.parametrize("value", [None, 1, "x", [], [{}], 1.5, True])
def test_non_objects_are_malformed(value: object) -> None:
    with pytest.raises(MalformedRecord, match="not a JSON object"):
        parse(value)


@pytest.mark.parametrize("field", ["eventTime", "eventSource", "eventName"])
def test_records_need_string_time_source_and_name(field: str) -> None:
    rec = record("ec2.amazonaws.com", "DescribeInstances")
    rec[field] = 12
    with pytest.raises(MalformedRecord, match=field):
        parse(rec)
    del rec[field]
    with pytest.raises(MalformedRecord, match=field):
        parse(rec)


def test_unparseable_time_is_malformed_only_on_relevant_records() -> None:
    assert facts(record("ec2.amazonaws.com", "DescribeInstances", time="noon")) == ()
    with pytest.raises(MalformedRecord, match="eventTime"):
        parse(record(SNS, "Unsubscribe", {"subscriptionArn": SUBSCRIPTION}, time="noon"))


# --- real trail files ------------------------------------------------------------


def test_invictus_records_all_parse() -> None:
    recs = invictus_records()
    assert len(recs) == INVICTUS_RECORDS
    results = [parse(r) for r in recs]
    assert [key for key, _ in results] == [r["eventID"] for r in recs]
    for rec, (_, found) in zip(recs, results, strict=True):
        if rec.get("errorCode"):
            assert found == ()
    found_facts = [f for _, fs in results for f in fs]
    # Two successful CreateFunction20150331 and two DeleteFunction20150331 in the set.
    assert (
        sorted(type(f).__name__ for f in found_facts)
        == ["FunctionDeclared"] * 2 + ["FunctionDeleted"] * 2
    )
    declared = [f for f in found_facts if isinstance(f, FunctionDeclared)]
    assert declared[0].function.startswith("arn:aws:lambda:us-east-1:123837392027:function:")
    assert declared[0].role is not None and declared[0].role.startswith("arn:aws:iam::")


# --- robustness ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_raises_only_malformed(value: object) -> None:
    with contextlib.suppress(MalformedRecord):
        parse(value)


RELEVANT = [
    notification(
        {
            "CloudFunctionConfiguration": {
                "CloudFunction": FN,
                "Event": "s3:ObjectCreated:*",
                "Filter": {"S3Key": {"FilterRule": [{"Name": "Prefix", "Value": "a"}]}},
            }
        }
    ),
    record(
        LAMBDA,
        "CreateEventSourceMapping20150331",
        {
            "eventSourceArn": STREAM,
            "functionName": "f",
            "filterCriteria": {"filters": [{"pattern": "p"}]},
        },
        {"uUID": MAPPING},
    ),
    record(
        LAMBDA,
        "UpdateEventSourceMapping20150331",
        {"uUID": MAPPING, "functionName": "g", "enabled": True},
        {"eventSourceArn": QUEUE, "functionArn": FN, "state": "Enabled"},
    ),
    record(
        SNS,
        "Subscribe",
        {"topicArn": TOPIC, "protocol": "lambda", "endpoint": FN},
        {"subscriptionArn": SUBSCRIPTION},
    ),
    record(EVENTS, "PutTargets", {"rule": "r", "targets": [{"id": "1", "arn": FN}]}),
    record(EVENTS, "RemoveTargets", {"rule": "r", "ids": ["1"]}),
    record(
        LAMBDA,
        "PutFunctionEventInvokeConfig",
        {"functionName": "f", "destinationConfig": {"onFailure": {"destination": QUEUE}}},
    ),
    record(
        LAMBDA,
        "Invoke",
        {"functionName": "f", "sourceArn": QUEUE},
        identity=ROLE,
        resources=[{"type": "AWS::Lambda::Function", "ARN": FN}],
    ),
    record(
        S3,
        "DeleteObjects",
        {"bucketName": "b", "delete": {"Object": [{"Key": "k"}]}},
        identity=ROLE,
        resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}],
    ),
    record(DYNAMODB, "BatchWriteItem", {"requestItems": {"t": [{}]}}, identity=ROLE),
    record(
        DYNAMODB,
        "TransactWriteItems",
        {"transactItems": [{"put": {"tableName": "t"}}]},
        identity=ROLE,
    ),
    record(EVENTS, "PutEvents", {"entries": [{"eventBusName": "b"}]}, identity=ROLE),
    record(KINESIS, "PutRecords", {"streamName": "s", "records": [{}]}, identity=ROLE),
    record(SQS, "SendMessageBatch", {"queueUrl": queue_url("q"), "entries": [{}]}, identity=ROLE),
    record(
        SNS, "PublishBatch", {"topicArn": TOPIC, "publishBatchRequestEntries": [{}]}, identity=ROLE
    ),
    record(STATES, "StartExecution", {"stateMachineArn": "arn:aws:states:x"}, identity=ROLE),
    record(
        LAMBDA, "CreateFunction20150331", {"functionName": "f", "role": "r"}, {"functionArn": FN}
    ),
    record(LAMBDA, "DeleteFunction20150331", {"functionName": "f"}),
    invocation(FN, source=QUEUE),
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_records_raise_only_malformed(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from([*RELEVANT, *invictus_sample()]))
    rec = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(value_paths(rec)[1:] or [()]))
        if not path:
            break
        parent: Any = rec
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    try:
        parse(rec)
        parse(eventbridge(rec) if isinstance(rec, dict) else rec)
    except MalformedRecord:
        pass


def test_every_relevant_sample_parses_to_facts() -> None:
    for rec in RELEVANT:
        assert facts(rec), rec


_SAMPLE: list[dict[str, Any]] = []


def invictus_sample() -> list[dict[str, Any]]:
    if not _SAMPLE:
        # Real shapes when the data set is there; the hand-made samples alone otherwise.
        _SAMPLE.extend(invictus_records(required=False)[::97])
    return _SAMPLE
