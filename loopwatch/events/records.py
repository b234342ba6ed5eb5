"""One input object → (dedupe id, facts): CloudTrail records, EventBridge envelopes and
invocation events (DESIGN §3, §4).

    object ─┬─ CloudTrail record ───────► REGISTRY[eventName][eventSource](record)
            ├─ EventBridge envelope ────► its ``detail``, a CloudTrail record, when the
            │                               envelope is CloudTrail's (``events.envelopes``)
            └─ {"kind": "lambda.invocation"} ► Invoked

Nearly every real record is a management event nobody here cares about, so ``parse``
rejects those first, with a type check, four key reads and one dict lookup: no
exception, allocation or time parsing happens before a record is known to matter.

A value is a full JSON value or a ``Thin`` record of the selective decoder
(``loopwatch.events.thin``): the same hot path reads a Thin's attributes, and everything
else about a Thin is decided on ``Thin.plain()``, the very dict path a full value takes.
"""

from __future__ import annotations

from typing import cast

from loopwatch.events import arns
from loopwatch.events.cloudtrail import REGISTRY, MalformedRecord
from loopwatch.events.cloudtrail.base import JSON, Handler
from loopwatch.events.envelopes import CLOUDTRAIL_API_CALL, provenance_problem
from loopwatch.events.facts import Fact, Invoked
from loopwatch.events.thin import Thin
from loopwatch.events.times import parse_time

__all__ = ["MalformedRecord", "account_of", "parse"]

_NO_FACTS: tuple[Fact, ...] = ()
_INVOCATION = "lambda.invocation"
_lookup = REGISTRY.get


def parse(obj: object) -> tuple[str | None, tuple[Fact, ...]]:
    """The dedupe id and the facts of one decoded JSON value.

    The id is the record's ``eventID`` (an envelope's ``detail.eventID``), or
    ``"invocation:<request_id>"``, or None when absent. A failed call (``errorCode``
    set) and a record of no interest give no facts.

    Raises MalformedRecord (a ValueError) when ``obj`` is not an object; when an EventBridge
    envelope is not CloudTrail's (``loopwatch.events.envelopes``); when a record
    lacks a string ``eventTime``, ``eventSource`` or ``eventName``; when an invocation
    event lacks ``time`` or ``function`` or has an unparseable time; and when a relevant
    record lacks a field its facts need or has an unparseable ``eventTime``.
    """
    if type(obj) is Thin:
        # intake.parse_batch makes this first test itself, inlined, before calling: keep both.
        name, source, when = obj.eventName, obj.eventSource, obj.eventTime
        if type(name) is str and type(source) is str and type(when) is str and name not in REGISTRY:
            event_id = obj.eventID
            return (event_id if type(event_id) is str else None), _NO_FACTS
        obj = obj.plain()  # a record that matters, or no plain record: decided as a full one
    if type(obj) is dict:
        # Subscripts, not .get: CPython specialises them for dicts, .get is a method call.
        # Every CloudTrail record has these keys; only envelopes, invocation events and
        # malformed input raise KeyError, and they are off the hot path anyway.
        try:
            name = obj["eventName"]
            source = obj["eventSource"]
            when = obj["eventTime"]
        except KeyError:
            return _other(obj)
        if type(name) is str and type(source) is str and type(when) is str:
            by_source = _lookup(name)
            if by_source is None:  # the hot path: an irrelevant management event
                event_id = obj.get("eventID")
                return (event_id if type(event_id) is str else None), _NO_FACTS
            return _relevant(obj, by_source.get(source))
    return _other(obj)


def _relevant(rec: JSON, handler: Handler | None) -> tuple[str | None, tuple[Fact, ...]]:
    event_id = rec.get("eventID")
    key = event_id if isinstance(event_id, str) else None
    if handler is None or rec.get("errorCode") is not None:
        return key, _NO_FACTS
    return key, handler(rec)


def _other(obj: object) -> tuple[str | None, tuple[Fact, ...]]:
    """Everything off the hot path: envelopes, invocation events and malformed input."""
    if not isinstance(obj, dict):
        raise MalformedRecord(f"not a JSON object but {type(obj).__name__}")
    rec = cast(JSON, obj)
    if rec.get("kind") == _INVOCATION:
        return _invocation(rec)
    detail = rec.get("detail")
    if rec.get("detail-type") == CLOUDTRAIL_API_CALL and isinstance(detail, dict):
        # One level only: an envelope inside an envelope is no CloudTrail record, and nesting
        # hundreds deep must not recurse hundreds deep.
        if "detail-type" in detail:
            raise MalformedRecord("an envelope inside an envelope")
        # Anyone who may put events on a forwarding bus can write this detail-type: only the
        # source and account EventBridge sets say CloudTrail put it there.
        problem = provenance_problem(rec, detail)
        if problem is not None:
            raise MalformedRecord(problem)
        return parse(detail)
    for field in ("eventTime", "eventSource", "eventName"):
        if not isinstance(rec.get(field), str):
            raise MalformedRecord(f"{field} is missing or not a string")
    # A dict subclass with the three fields: not the hot path's exact dict, same record.
    by_source = REGISTRY.get(cast(str, rec["eventName"]))
    return _relevant(rec, by_source.get(cast(str, rec["eventSource"])) if by_source else None)


def _invocation(rec: JSON) -> tuple[str | None, tuple[Fact, ...]]:
    when, function = rec.get("time"), rec.get("function")
    if not isinstance(when, str):
        raise MalformedRecord("invocation event without a time string")
    if not isinstance(function, str) or not function:
        raise MalformedRecord("invocation event without a function")
    try:
        time = parse_time(when)
    except ValueError as exc:
        raise MalformedRecord(f"invocation event with a bad time: {when!r}") from exc
    node = arns.canonical(function)
    parts = node.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
        raise MalformedRecord(f"invocation event function is not a function ARN: {function!r}")
    source = rec.get("source")
    trigger = arns.canonical(source) if isinstance(source, str) and source else None
    request_id = rec.get("request_id")
    key = f"invocation:{request_id}" if isinstance(request_id, str) and request_id else None
    return key, (Invoked(time, node, trigger),)


def account_of(obj: object) -> str | None:
    """The AWS account a record, envelope or invocation event belongs to, when it says."""
    if isinstance(obj, Thin):
        obj = obj.plain()
    if not isinstance(obj, dict):
        return None
    detail = obj.get("detail")
    if isinstance(detail, dict) and obj.get("detail-type"):
        obj = detail  # one level, as ``parse`` unwraps it
    for field_name in ("recipientAccountId", "account"):
        value = obj.get(field_name)
        if isinstance(value, str) and value:
            return value
    identity = obj.get("userIdentity")
    if isinstance(identity, dict) and isinstance(identity.get("accountId"), str):
        return str(identity["accountId"])
    function = obj.get("function")
    if isinstance(function, str) and function.count(":") >= 4:
        return function.split(":")[4] or None
    return None
