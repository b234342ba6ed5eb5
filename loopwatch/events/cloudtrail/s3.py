"""S3: bucket notifications (trigger edges) and object writes (write edges).

PutBucketNotification            bucket ──s3-notification──► function / queue / topic / bus
PutObject, CopyObject, …         caller ──write──► bucket (key, ObjectCreated:* / ObjectRemoved:*)

Real PutBucketNotification records (console and CLI, 2016 and 2018) use the legacy XML names:
one ``CloudFunctionConfiguration`` is an object, not a list, ``Event`` a string; an empty
``NotificationConfiguration`` (only ``xmlns``) is how notifications are removed. Published
records mask account ids (``61*******47``): the target ARN is kept as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    account,
    as_obj,
    caller,
    capped,
    conf_items,
    conf_obj,
    conf_request,
    conf_text,
    conf_texts,
    event_time,
    facts_of,
    handles,
    listed,
    need,
    objects,
    region,
    request,
    text,
)
from loopwatch.events.facts import S3_NOTIFICATION, BucketTriggersReplaced, Fact, Trigger, Write

S3 = "s3.amazonaws.com"

# (configuration element, the elements that may name its target). CloudTrail renders the
# XML request with the legacy names (CloudFunctionConfiguration/CloudFunction); the newer
# API names (LambdaFunctionConfiguration/LambdaFunctionArn…) are accepted as well.
_CONFIGURATIONS = (
    ("CloudFunctionConfiguration", ("CloudFunction", "LambdaFunctionArn")),
    ("LambdaFunctionConfiguration", ("LambdaFunctionArn", "CloudFunction")),
    ("QueueConfiguration", ("Queue", "QueueArn")),
    ("TopicConfiguration", ("Topic", "TopicArn")),
)


def notification_id(bucket: str, n: int) -> str:
    """``s3:<bucket name>:<n>``: the id of the bucket's ``n``-th notification configuration,
    counted Lambda first, then queue, topic and EventBridge (the inventory counts the same)."""
    return f"s3:{bucket}:{n}"


@handles(S3, "PutBucketNotification", "PutBucketNotificationConfiguration")
def bucket_notification(rec: JSON) -> tuple[Fact, ...]:
    """The bucket's notification triggers become exactly those of the new configuration.

    An empty configuration (real records: only ``xmlns``) clears them: that is how
    notifications are removed. A configuration that is absent, or any part of it of the
    wrong type (a number for ``NotificationConfiguration``, a string for a configuration
    entry or a filter rule), is MalformedRecord: read as empty it would erase the bucket's
    real triggers. Trigger ids are ``s3:<bucket>:<n>``, ``n`` counting configurations in a
    fixed order.
    """
    params = conf_request(rec)
    name = need(params, "bucketName", "requestParameters")
    bucket = arns.bucket_arn(name)
    if params.get("NotificationConfiguration") is None:
        raise MalformedRecord("requestParameters.NotificationConfiguration is missing")
    config = conf_obj(params, "NotificationConfiguration", "requestParameters")
    triggers: list[Trigger] = []
    for element, target_keys in _CONFIGURATIONS:
        where = f"NotificationConfiguration.{element}"
        for entry in conf_items(config, element, "NotificationConfiguration"):
            target = next((t for k in target_keys if (t := conf_text(entry, k, where))), None)
            if target is None:
                raise MalformedRecord(f"{element} without a target ARN")
            trigger_id = notification_id(name, len(triggers))
            triggers.append(_trigger(trigger_id, bucket, arns.canonical(target), entry, where))
    # EventBridge delivery sends every event of the bucket to the default bus of its region.
    if "EventBridgeConfiguration" in config:
        conf_obj(config, "EventBridgeConfiguration", "NotificationConfiguration")
        bus = arns.event_bus_arn(None, account(rec), region(rec))
        triggers.append(Trigger(notification_id(name, len(triggers)), bucket, bus, S3_NOTIFICATION))
    return (BucketTriggersReplaced(event_time(rec), bucket, tuple(triggers)),)


def _trigger(trigger_id: str, bucket: str, target: str, entry: JSON, where: str) -> Trigger:
    events = conf_texts(entry, "Event", where)
    prefix = suffix = ""
    key_filter = conf_obj(conf_obj(entry, "Filter", where), "S3Key", f"{where}.Filter")
    for rule in conf_items(key_filter, "FilterRule", f"{where}.Filter.S3Key"):
        rule_at = f"{where}.Filter.S3Key.FilterRule"
        name = conf_text(rule, "Name", rule_at)
        value = rule.get("Value")
        if value is not None and not isinstance(value, str):
            raise MalformedRecord(f"{rule_at}.Value is not a string")
        if name is None or value is None:
            continue
        if name.lower() == "prefix":
            prefix = value
        elif name.lower() == "suffix":
            suffix = value
    detail = conf_text(entry, "Id", where) or ""
    return Trigger(
        id=trigger_id,
        source=bucket,
        target=target,
        via=S3_NOTIFICATION,
        events=events,
        prefix=prefix,
        suffix=suffix,
        detail=detail,
    )


# The notification event each write raises (DESIGN §4, ``Write.s3_event``).
_CREATED = {
    "PutObject": "ObjectCreated:Put",
    "CopyObject": "ObjectCreated:Copy",
    "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}
_REMOVED = "ObjectRemoved:Delete"


@handles(S3, *_CREATED)
def object_created(rec: JSON) -> tuple[Fact, ...]:
    """``requestParameters {bucketName, key, Host…}``; ``resources[]`` lists the object as
    ``AWS::S3::Object`` ``arn:aws:s3:::<bucket>/<key>`` (CopyObject also lists its source)."""
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    name = need(params, "bucketName", "requestParameters")
    event = _CREATED[str(rec["eventName"])]
    key = _key(rec, params, name)
    return (Write(event_time(rec), who, arns.bucket_arn(name), key=key, s3_event=event),)


@handles(S3, "DeleteObject")
def object_deleted(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    name = need(params, "bucketName", "requestParameters")
    key = _key(rec, params, name)
    return (Write(event_time(rec), who, arns.bucket_arn(name), key=key, s3_event=_REMOVED),)


def _key(rec: JSON, params: JSON, bucket: str) -> str | None:
    """``requestParameters.key``; failing that the first object ARN of ``resources[]``.

    The written object comes first in the resources of every published record (CopyObject
    lists its source after it).
    """
    key = text(params, "key")
    if key is not None:
        return key
    return next(_resource_keys(rec, bucket), None)


@handles(S3, "DeleteObjects")
def objects_deleted(rec: JSON) -> tuple[Fact, ...]:
    """One write per deleted key when the record lists them (the first ``target_limit``),
    else one with key None.

    The real record lists no key: ``requestParameters {bucketName, delete: "", x-id}`` and
    ``resources[] {type: AWS::S3::Object, ARNPrefix: arn:aws:s3:::<bucket>/}`` (Stratus Red
    Team's batch-deletion detonation). A write of unknown key matches no prefix or suffix
    filter, so it closes only an ObjectRemoved (or any-event) notification without a filter.
    """
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    name = need(params, "bucketName", "requestParameters")
    bucket, time = arns.bucket_arn(name), event_time(rec)
    keys, truncation = capped(rec, _deleted_keys(rec, params, name), "keys")
    if not keys:
        return (Write(time, who, bucket, s3_event=_REMOVED),)
    deletes = (Write(time, who, bucket, key=key, s3_event=_REMOVED) for key in keys)
    return facts_of(deletes, truncation)


def _deleted_keys(rec: JSON, params: JSON, bucket: str) -> Iterable[str]:
    # The request body (Delete/Object[]/Key) when CloudTrail keeps it, else the object
    # ARNs (arn:aws:s3:::<bucket>/<key>) it lists among the resources.
    body = params.get("Delete", params.get("delete"))
    keys = [k for o in objects(as_obj(body).get("Object")) if (k := text(o, "Key"))]
    return keys or _resource_keys(rec, bucket)


def _resource_keys(rec: JSON, bucket: str) -> Iterator[str]:
    """Keys of the ``AWS::S3::Object`` ARNs in ``resources[]`` (an ``ARNPrefix`` names none),
    as they are asked for: a write that needs one key reads no further."""
    head = f"arn:aws:s3:::{bucket}/"
    return (
        arn[len(head) :]
        for resource in listed(rec.get("resources"))
        if isinstance(resource, dict)
        and (arn := text(resource, "ARN"))
        and arn.startswith(head)
        and len(arn) > len(head)
    )
