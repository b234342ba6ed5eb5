"""Thin records: the selective decoder's form of a record — only the fields loopwatch reads.

    {"eventName": …, "eventSource": …, "eventTime": …, "eventID": …,   decoded (msgspec)
     "userIdentity": {…}, "requestParameters": {…}, "responseElements": {…}, "resources": […],
                                                                        kept as raw bytes
     "tlsDetails": {…}, "userAgent": …, …}                              skipped, never parsed
        │
        ▼  Thin.plain(), only for a record that matters (its event has a handler) or that is
           not a plain CloudTrail record (an envelope, an invocation event, a malformed one)
    the dict a full parse gives, restricted to those fields, raw ones parsed now (by orjson)

``records.parse`` reads a Thin's ``eventName``, ``eventSource``, ``eventTime`` and ``eventID``
on its hot path, so the identity and the parameters of the ~99% of records no handler wants
are never parsed. Every field is typed ``Any`` or ``Raw`` on purpose: a field of an odd type
must reach the parser exactly as a full parse gives it (and be rejected there for the same
reason), not be refused here by a stricter type. The fields are DESIGN §4's, plus what
envelopes and invocation events carry (DESIGN §3) and what ``records.account_of`` reads.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from msgspec import UNSET, Raw, UnsetType

__all__ = ["UNSET", "Log", "Thin"]


# gc=False: a decoded struct holds strings and raw bytes only (or JSON values, which cannot
# point back at it), so it can be in no reference cycle; untracked, 100k of them in a list do
# not make every collection walk them.
class Thin(msgspec.Struct, gc=False):
    eventName: Any = UNSET
    eventSource: Any = UNSET
    eventTime: Any = UNSET
    eventID: Any = UNSET
    errorCode: Any = UNSET
    awsRegion: Any = UNSET
    recipientAccountId: Any = UNSET
    sessionCredentialFromConsole: Any = UNSET
    userIdentity: Raw | UnsetType = UNSET
    requestParameters: Raw | UnsetType = UNSET
    responseElements: Raw | UnsetType = UNSET
    resources: Raw | UnsetType = UNSET
    serviceEventDetails: Raw | UnsetType = UNSET
    # An EventBridge envelope: its record is ``detail``, parsed in full when asked for.
    detail_type: Any = msgspec.field(name="detail-type", default=UNSET)
    detail: Raw | UnsetType = UNSET
    account: Any = UNSET
    # An invocation event (loopwatch's own schema).
    kind: Any = UNSET
    time: Any = UNSET
    function: Any = UNSET
    request_id: Any = UNSET
    source: Any = UNSET
    # Not a record's field: set only when the object is a log file, which is how one decode
    # tells a message of one record from a log file (``plain()`` leaves it out).
    Records: Raw | UnsetType = UNSET

    def plain(self) -> dict[str, object]:
        """The record as a full parse gives it, restricted to the fields above: absent fields
        absent, raw ones parsed."""
        out: dict[str, object] = {}
        for attribute, key in _FIELDS:
            value = getattr(self, attribute)
            if value is UNSET:
                continue
            out[key] = orjson.loads(memoryview(value)) if type(value) is Raw else value
        return out


class Log(msgspec.Struct, gc=False):
    """A CloudTrail log file whose every record is an object: the common case, one pass."""

    Records: list[Thin]


class RawLog(msgspec.Struct, gc=False):
    """A log file with a Records list of anything: each item decoded on its own."""

    Records: list[Raw]


_FIELDS = tuple(
    (attribute, key)
    for attribute, key in zip(Thin.__struct_fields__, Thin.__struct_encode_fields__, strict=True)
    if attribute != "Records"
)
