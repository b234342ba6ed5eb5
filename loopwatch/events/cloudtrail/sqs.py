"""SQS: sends (write edges).  SendMessage, SendMessageBatch: caller ──write──► queue

The real record (SQS developer guide) names the queue by ``requestParameters.queueUrl`` and
lists it in ``resources[]``; the body is ``HIDDEN_DUE_TO_SECURITY_REASONS``.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    caller,
    count_of,
    event_time,
    handles,
    need,
    request,
)
from loopwatch.events.facts import Fact, Write

SQS = "sqs.amazonaws.com"


@handles(SQS, "SendMessage", "SendMessageBatch")
def sent(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    url = need(params, "queueUrl", "requestParameters")
    try:
        queue = arns.queue_arn_from_url(url, who.region)
    except ValueError as exc:
        raise MalformedRecord(str(exc)) from exc
    return (Write(event_time(rec), who, queue, count=count_of(params.get("entries"))),)
