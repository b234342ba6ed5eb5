"""What one SQS message body asks ``ship --sqs`` to do, for every shape AWS delivers."""

from __future__ import annotations

import orjson
import pytest

from loopwatch.events.envelopes import NOT_AWS_SOURCE, OTHER_ACCOUNT
from loopwatch.events.notifications import ObjectRef, parse_notice
from loopwatch.testing import records as r


def s3_event(key: str, name: str = "ObjectCreated:Put", size: int = 1234) -> dict[str, object]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": name,
                "s3": {"bucket": {"name": "trail"}, "object": {"key": key, "size": size}},
            }
        ]
    }


def sns(message: object) -> bytes:
    return orjson.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail-files",
            "Message": orjson.dumps(message).decode(),
        }
    )


def test_s3_keys_are_url_decoded_directly_and_through_sns() -> None:
    body = s3_event("AWSLogs/111122223333/Cloud+Trail%2Bx/a%3Ab.json.gz")
    want = ObjectRef("trail", "AWSLogs/111122223333/Cloud Trail+x/a:b.json.gz", 1234)
    assert parse_notice(orjson.dumps(body)).objects == (want,)
    assert parse_notice(sns(body)).objects == (want,)


def test_eventbridge_object_created_keys_are_taken_as_they_are() -> None:
    event = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": "trail"}, "object": {"key": "a+b.json.gz", "size": 9}},
    }
    assert parse_notice(orjson.dumps(event)).objects == (ObjectRef("trail", "a+b.json.gz", 9),)


def test_cloudtrail_records_on_the_queue_are_shipped_as_they_are() -> None:
    record = r.s3_self_loop(writes=1)[-1]
    envelope = r.eventbridge(record)
    assert parse_notice(orjson.dumps(envelope)).records == (envelope,)
    service_event = dict(envelope, **{"detail-type": "AWS Service Event via CloudTrail"})
    assert parse_notice(orjson.dumps(service_event)).records == (record,)
    assert parse_notice(orjson.dumps({"Records": [record]})).records == (record,)


def test_a_service_event_is_shipped_as_its_record_only_when_cloudtrail_put_it() -> None:
    # Shipped bare, its envelope gone: the worker could not tell, so the shipper does.
    record = r.s3_self_loop(writes=1)[-1]
    service_event = dict(
        r.eventbridge(record), **{"detail-type": "AWS Service Event via CloudTrail"}
    )
    for forged, problem in (
        (dict(service_event, source="evil.app", account="111111111111"), NOT_AWS_SOURCE),
        (dict(service_event, source="evil.app"), NOT_AWS_SOURCE),
        (dict(service_event, account="111111111111"), OTHER_ACCOUNT),
    ):
        notice = parse_notice(orjson.dumps(forged))
        assert notice.problem == problem and not notice.records
    api_call = dict(r.eventbridge(record), source="evil.app")  # judged by the worker, unwrapped
    assert parse_notice(orjson.dumps(api_call)).records == (api_call,)


def test_test_events_and_deletions_need_nothing() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"}
    for body in (orjson.dumps(test_event), sns(test_event)):
        notice = parse_notice(body)
        assert notice.ignored and not notice.objects and not notice.problem
    removed = parse_notice(orjson.dumps(s3_event("a.json.gz", "ObjectRemoved:Delete")))
    assert removed.ignored == ("S3 ObjectRemoved:Delete of s3://trail/a.json.gz",)
    assert not removed.objects


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<xml/>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hello": "world"}', "not an S3 event notification"),
        (
            orjson.dumps({"Type": "SubscriptionConfirmation", "Message": "confirm me"}),
            "SNS SubscriptionConfirmation",
        ),
        (orjson.dumps({"Type": "Notification", "Message": "{oops"}), "Message is not JSON"),
        (orjson.dumps({"Records": [{"eventSource": "aws:s3", "s3": {}}]}), "without s3.bucket"),
        (orjson.dumps({"Records": [{"something": "else"}]}), "neither an S3 event"),
        (
            orjson.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
            "without bucket.name",
        ),
        (
            orjson.dumps({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
            "aws.events",
        ),
    ],
)
def test_anything_else_is_a_problem_named(body: bytes, problem: str) -> None:
    notice = parse_notice(body)
    assert problem in notice.problem
    assert not notice.objects and not notice.records
