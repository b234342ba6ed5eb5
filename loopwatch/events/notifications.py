"""One SQS message body → what it asks ``ship --sqs`` to do (DESIGN §10). Pure: no I/O.

    {"Records": [{"eventSource": "aws:s3", "s3": {...}}]}   S3 itself      ─► objects
    {"Type": "Notification", "Message": "<the above>"}       through SNS    ─► objects
    {"source": "aws.s3", "detail-type": "Object Created"}     EventBridge    ─► objects
    {"detail-type": "AWS API Call via CloudTrail", ...}       EventBridge    ─► records
    {"detail-type": "… via CloudTrail", "source": "aws.…"}    EventBridge    ─► its record
    {"Event": "s3:TestEvent", ...}                            S3, on setup   ─► nothing
    anything else                                                            ─► a problem

S3 URL-encodes object keys in its own notifications (``red flower.json`` arrives as
``red+flower.json``); EventBridge does not. Keys come out decoded, ready for GetObject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from loopwatch.events.envelopes import CLOUDTRAIL_API_CALL, VIA_CLOUDTRAIL, provenance_problem


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An S3 object a notification announces: its bucket, its (decoded) key, its size."""

    bucket: str
    key: str
    size: int = 0

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Notice:
    """What one message holds.

    ``objects`` to fetch and ship; ``records`` (CloudTrail records or their EventBridge
    envelopes) to ship as they are; ``ignored`` names what needs nothing (the test event S3
    sends when a notification is configured, deletions); ``problem`` says why the message
    cannot be read at all ("" when it can).
    """

    objects: tuple[ObjectRef, ...] = ()
    records: tuple[object, ...] = ()
    ignored: tuple[str, ...] = ()
    problem: str = ""


def parse_notice(body: str | bytes) -> Notice:
    """Read one message body (see the module doc); never raises."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Notice(problem=f"not JSON: {exc}")
    if isinstance(document, dict) and "Type" in document and "Message" in document:
        return _sns(document)
    return _notice(document)


def _sns(document: dict[str, Any]) -> Notice:
    kind, message = document.get("Type"), document.get("Message")
    if kind != "Notification":
        # A SubscriptionConfirmation must be confirmed by a person (its SubscribeURL): kept,
        # not deleted, so that they can.
        return Notice(problem=f"an SNS {kind} message, not a notification")
    if not isinstance(message, str):
        return Notice(problem="an SNS notification without a Message string")
    try:
        inner = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        return Notice(problem=f"the SNS notification's Message is not JSON: {exc}")
    return _notice(inner)  # one level: S3 → SNS → SQS is as deep as delivery goes


def _notice(document: object) -> Notice:
    if not isinstance(document, dict):
        return Notice(problem=f"not a JSON object but {type(document).__name__}")
    if document.get("Event") == "s3:TestEvent":
        return Notice(ignored=(f"s3:TestEvent of bucket {document.get('Bucket', '?')}",))
    if "detail-type" in document:
        return _eventbridge(document)
    records = document.get("Records")
    if isinstance(records, list):
        return _records(records)
    return Notice(
        problem="not an S3 event notification, an SNS notification or an EventBridge event"
    )


def _eventbridge(event: dict[str, Any]) -> Notice:
    kind, detail = event.get("detail-type"), event.get("detail")
    if not isinstance(detail, dict):
        return Notice(problem=f"an EventBridge {kind!r} event without a detail object")
    if kind == CLOUDTRAIL_API_CALL:
        # The worker unwraps it, as it does in .jsonl files, and checks it is CloudTrail's.
        return Notice(records=(event,))
    if isinstance(kind, str) and kind.endswith(VIA_CLOUDTRAIL):
        # A service event (e.g. LambdaESMDisabled): its detail is the CloudTrail record, shipped
        # bare, so whether CloudTrail put it there is decided here, by the worker's own rule.
        problem = provenance_problem(event, detail)
        if problem is not None:
            return Notice(problem=problem)
        return Notice(records=(detail,))
    if event.get("source") != "aws.s3":
        return Notice(problem=f"an EventBridge {kind!r} event from {event.get('source')!r}")
    if kind != "Object Created":
        return Notice(ignored=(f"S3 {kind} (EventBridge)",))
    bucket, obj = detail.get("bucket"), detail.get("object")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
        return Notice(
            problem="an EventBridge Object Created event without bucket.name and object.key"
        )
    return Notice(objects=(ObjectRef(name, key, _size(obj)),))


def _records(records: list[object]) -> Notice:
    objects: list[ObjectRef] = []
    shipped: list[object] = []
    ignored: list[str] = []
    for entry in records:
        if not isinstance(entry, dict):
            return Notice(
                problem=f"a Records entry is not a JSON object but {type(entry).__name__}"
            )
        if entry.get("eventSource") == "aws:s3":
            name = str(entry.get("eventName", ""))
            s3 = entry.get("s3")
            bucket = s3.get("bucket") if isinstance(s3, dict) else None
            obj = s3.get("object") if isinstance(s3, dict) else None
            bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
            key = obj.get("key") if isinstance(obj, dict) else None
            if not isinstance(bucket_name, str) or not isinstance(key, str):
                return Notice(
                    problem=f"an S3 {name} notification without s3.bucket.name and s3.object.key"
                )
            ref = ObjectRef(bucket_name, unquote_plus(key), _size(obj))
            if name.startswith("ObjectCreated:"):
                objects.append(ref)
            else:
                ignored.append(f"S3 {name} of {ref.url}")
        elif isinstance(entry.get("eventTime"), str) and isinstance(entry.get("eventID"), str):
            shipped.append(entry)  # CloudTrail records put on the queue as they are
        else:
            return Notice(problem="a Records entry is neither an S3 event nor a CloudTrail record")
    return Notice(tuple(objects), tuple(shipped), tuple(ignored))


def _size(obj: object) -> int:
    size = obj.get("size") if isinstance(obj, dict) else None
    return size if isinstance(size, int) and size >= 0 else 0
