"""The broker-free core of the service: message decoding and per-account state."""

from __future__ import annotations

import contextlib
import gzip

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.detect import LoopFinding
from loopwatch.service.accounts import AccountState, RecentIds, account_of
from loopwatch.service.decode import Undecodable, decode_message
from loopwatch.testing import records as r
from tests.test_replay import s3_self_loop_records


def test_every_message_form_decodes_to_its_objects() -> None:
    loop = s3_self_loop_records(writes=2)
    one = orjson.dumps(loop[0])
    assert decode_message(one).objects == [loop[0]]
    assert decode_message(orjson.dumps({"Records": loop})).objects == loop
    assert decode_message(orjson.dumps(loop)).objects == loop
    assert decode_message(gzip.compress(orjson.dumps({"Records": loop}))).objects == loop
    lines = b"\n".join(orjson.dumps(x) for x in loop)
    assert decode_message(lines).objects == loop
    envelope = r.eventbridge(loop[1])
    assert decode_message(orjson.dumps(envelope)).objects == [envelope]


def test_bad_lines_are_named_and_good_lines_kept() -> None:
    loop = s3_self_loop_records(writes=1)
    decoded = decode_message(orjson.dumps(loop[0]) + b"\n{oops\n" + orjson.dumps(loop[1]))
    assert decoded.objects == loop and len(decoded.bad_lines) == 1
    assert decoded.bad_lines[0].startswith("line 2 is not JSON")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty"),
        (b"\x00\xffgarbage bytes", "not JSON"),
        (b"\x1f\x8b\x08\x00broken", "bad gzip"),
        (b'{"Records": 5}', "not a list"),
    ],
)
def test_unreadable_messages_say_why(value: bytes, reason: str) -> None:
    with pytest.raises(Undecodable, match=reason):
        decode_message(value)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_undecodable(value: bytes) -> None:
    with contextlib.suppress(Undecodable):  # the only exception allowed
        decode_message(value)


def test_redelivered_message_changes_nothing_and_duplicates_are_dropped() -> None:
    loop = s3_self_loop_records(writes=4)
    state = AccountState(r.ACCOUNT)
    first = state.apply(loop[:3], "cloudtrail", partition=0, offset=10)
    again = state.apply(loop[:3], "cloudtrail", partition=0, offset=10)  # at-least-once redelivery
    assert first.used == 3 and again.used == 0 and again.findings == []
    overlap = state.apply(
        loop[2:], "cloudtrail", partition=0, offset=11
    )  # the next file repeats a record
    assert overlap.duplicates == 1 and overlap.used == 2
    state.engine.flush()
    (incident,) = state.engine.incidents.incidents.values()
    assert incident.status == "active"


def test_rejected_records_come_back_with_reasons() -> None:
    loop = s3_self_loop_records(writes=1)
    no_time = {k: v for k, v in loop[1].items() if k != "eventTime"}
    applied = AccountState(r.ACCOUNT).apply(
        [loop[0], no_time, 42, loop[1]], "cloudtrail", partition=0, offset=0
    )
    assert [reason for _, reason in applied.rejected] == [
        "eventTime is missing or not a string",
        "not a JSON object but int",
    ]
    assert applied.used == 2


def test_account_state_round_trips_through_json_mid_loop() -> None:
    loop = s3_self_loop_records(writes=6)
    whole = AccountState(r.ACCOUNT)
    findings = whole.apply(loop, "cloudtrail", 0, 1).findings + list(whole.engine.flush())

    part = AccountState(r.ACCOUNT)
    before = part.apply(loop[:3], "cloudtrail", 0, 1).findings
    restored = AccountState.from_state(orjson.loads(orjson.dumps(part.to_state())))
    assert restored.already_applied("cloudtrail", 0, 1)
    assert not restored.already_applied("invocations", 0, 1)  # same partition number, other topic
    after = restored.apply(loop[3:], "cloudtrail", 0, 2).findings + list(restored.engine.flush())
    assert [f.change for f in before + after if isinstance(f, LoopFinding)] == [
        f.change for f in findings if isinstance(f, LoopFinding)
    ]
    assert (
        restored.apply(loop[:3], "cloudtrail", 0, 3).duplicates == 3
    )  # their eventIDs were saved too


def test_recent_ids_forget_by_event_time_and_by_count() -> None:
    recent = RecentIds(span=60, limit=3)
    assert not recent.seen("a", 0) and recent.seen("a", 1)
    for i, key in enumerate("bcd"):
        recent.seen(key, 2 + i)
    assert len(recent) == 3 and not recent.seen("a", 5)  # pushed out by the limit
    assert not recent.seen("b", 200)  # forgotten after the span


def test_account_of_each_input_form() -> None:
    loop = s3_self_loop_records(writes=1)
    assert account_of(loop[0]) == r.ACCOUNT
    assert account_of(r.eventbridge(loop[0])) == r.ACCOUNT
    assert account_of(r.invocation(r.function_arn("f", account="444455556666"))) == "444455556666"
    assert account_of(42) is None
