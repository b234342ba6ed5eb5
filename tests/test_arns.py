"""Canonical node ids (DESIGN §4): one ARN per resource, however a record names it."""

from __future__ import annotations

import pytest

from loopwatch.events import arns

ACCT, REGION = "111122223333", "us-east-1"
FN = f"arn:aws:lambda:{REGION}:{ACCT}:function:thumbnailer"


@pytest.mark.parametrize(
    "name",
    [
        "thumbnailer",
        "thumbnailer:live",
        f"{ACCT}:function:thumbnailer",
        f"{ACCT}:function:thumbnailer:7",
        FN,
        f"{FN}:live",
        f"{FN}:$LATEST",
    ],
)
def test_function_arn_strips_qualifiers_and_fills_account_region(name: str) -> None:
    assert arns.function_arn(name, ACCT, REGION) == FN


def test_function_arn_keeps_the_account_and_region_of_an_arn() -> None:
    other = "arn:aws:lambda:eu-west-1:444455556666:function:f:prod"
    assert (
        arns.function_arn(other, ACCT, REGION) == "arn:aws:lambda:eu-west-1:444455556666:function:f"
    )


@pytest.mark.parametrize(
    ("url", "arn"),
    [
        (f"https://sqs.{REGION}.amazonaws.com/{ACCT}/jobs", f"arn:aws:sqs:{REGION}:{ACCT}:jobs"),
        (f"https://sqs.eu-west-1.amazonaws.com/{ACCT}/jobs", f"arn:aws:sqs:eu-west-1:{ACCT}:jobs"),
        (
            f"https://eu-west-1.queue.amazonaws.com/{ACCT}/jobs",
            f"arn:aws:sqs:eu-west-1:{ACCT}:jobs",
        ),
        (f"https://queue.amazonaws.com/{ACCT}/jobs.fifo", f"arn:aws:sqs:{REGION}:{ACCT}:jobs.fifo"),
        (f"arn:aws:sqs:{REGION}:{ACCT}:jobs", f"arn:aws:sqs:{REGION}:{ACCT}:jobs"),
    ],
)
def test_queue_arn_from_url(url: str, arn: str) -> None:
    assert arns.queue_arn_from_url(url, REGION) == arn


@pytest.mark.parametrize("url", ["https://sqs.us-east-1.amazonaws.com/", "jobs", ""])
def test_queue_arn_from_url_rejects_what_is_not_a_queue_url(url: str) -> None:
    with pytest.raises(ValueError):
        arns.queue_arn_from_url(url, REGION)


def test_dynamodb_stream_folds_onto_its_table() -> None:
    table = f"arn:aws:dynamodb:{REGION}:{ACCT}:table/orders"
    stream = f"{table}/stream/2026-10-05T14:00:00.000"
    assert arns.table_arn("orders", ACCT, REGION) == table
    assert arns.table_arn(stream, ACCT, REGION) == table
    assert arns.canonical(stream) == table


def test_buckets_streams_and_buses() -> None:
    assert arns.bucket_arn("uploads") == "arn:aws:s3:::uploads"
    assert arns.canonical("arn:aws:s3:::uploads/images/a.jpg") == "arn:aws:s3:::uploads"
    assert arns.kinesis_stream_arn("clicks", ACCT, REGION) == (
        f"arn:aws:kinesis:{REGION}:{ACCT}:stream/clicks"
    )
    default = f"arn:aws:events:{REGION}:{ACCT}:event-bus/default"
    assert arns.event_bus_arn(None, ACCT, REGION) == default
    assert arns.event_bus_arn("", ACCT, REGION) == default
    assert arns.event_bus_arn("orders", ACCT, REGION) == default.replace("default", "orders")
    assert arns.event_bus_arn(default, "999", "eu-west-1") == default


def test_canonical_strips_function_qualifiers_only() -> None:
    assert arns.canonical(f"{FN}:live") == FN
    queue = f"arn:aws:sqs:{REGION}:{ACCT}:jobs"
    assert arns.canonical(queue) == queue


@pytest.mark.parametrize(
    ("node", "kind", "label"),
    [
        (FN, arns.FUNCTION, "function thumbnailer"),
        ("arn:aws:s3:::uploads", arns.BUCKET, "bucket uploads"),
        (f"arn:aws:sqs:{REGION}:{ACCT}:jobs", arns.QUEUE, "queue jobs"),
        (f"arn:aws:sns:{REGION}:{ACCT}:news", arns.TOPIC, "topic news"),
        (f"arn:aws:dynamodb:{REGION}:{ACCT}:table/orders", arns.TABLE, "table orders"),
        (f"arn:aws:kinesis:{REGION}:{ACCT}:stream/clicks", arns.STREAM, "stream clicks"),
        (f"arn:aws:events:{REGION}:{ACCT}:event-bus/default", arns.EVENT_BUS, "event-bus default"),
        (
            f"arn:aws:states:{REGION}:{ACCT}:stateMachine:flow",
            arns.STATE_MACHINE,
            "state-machine flow",
        ),
    ],
)
def test_kind_name_label(node: str, kind: str, label: str) -> None:
    assert arns.kind(node) == kind
    assert arns.label(node) == label
    assert arns.is_function(node) == (kind == arns.FUNCTION)
