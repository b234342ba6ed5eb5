"""Kinesis: record puts (write edges).  PutRecord, PutRecords: caller ──write──► stream"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    caller,
    count_of,
    event_time,
    handles,
    request,
    text,
)
from loopwatch.events.facts import Fact, Write

KINESIS = "kinesis.amazonaws.com"


@handles(KINESIS, "PutRecord", "PutRecords")
def put(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    name = text(params, "streamARN") or text(params, "streamName")
    if name is None:
        raise MalformedRecord("requestParameters has neither streamName nor streamARN")
    stream = arns.kinesis_stream_arn(name, who.account, who.region)
    return (Write(event_time(rec), who, stream, count=count_of(params.get("records"))),)
