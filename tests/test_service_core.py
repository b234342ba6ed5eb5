"""The broker-free core of the service: per-account state through the one intake and driver."""

from __future__ import annotations

import orjson

from loopwatch.detect import LoopFinding
from loopwatch.events.times import parse_time
from loopwatch.service.accounts import AccountState
from loopwatch.testing import records as r

NOW = parse_time("2026-10-05T15:00:00Z")


def test_redelivered_message_changes_nothing_and_duplicates_are_dropped() -> None:
    loop = r.s3_self_loop(writes=4)
    state = AccountState(r.ACCOUNT)
    first = state.apply(loop[:4], "cloudtrail", partition=0, offset=10, now=NOW)
    again = state.apply(loop[:4], "cloudtrail", partition=0, offset=10, now=NOW)  # redelivery
    assert first.counts.used == 4 and again.counts.read == 0 and again.findings == []
    # The next file repeats a record.
    overlap = state.apply(loop[3:], "cloudtrail", partition=0, offset=11, now=NOW)
    assert overlap.counts.duplicates == 1 and overlap.counts.used == 2
    state.driver.settle()
    (incident,) = state.engine.incidents.incidents.values()
    assert incident.status == "active"


def test_rejected_records_come_back_grouped_with_reasons() -> None:
    loop = r.s3_self_loop(writes=1)
    no_time = {k: v for k, v in loop[2].items() if k != "eventTime"}
    applied = AccountState(r.ACCOUNT).apply(
        [*loop[:2], no_time, 42, loop[2]], "cloudtrail", partition=0, offset=0, now=NOW
    )
    assert list(applied.rejected) == [
        "eventTime is missing or not a string",
        "not a JSON object but int",
    ]
    assert applied.counts.used == 3


def test_account_state_round_trips_through_json_mid_loop() -> None:
    loop = r.s3_self_loop(writes=6)
    whole = AccountState(r.ACCOUNT)
    findings = whole.apply(loop, "cloudtrail", 0, 1, NOW).findings + whole.driver.settle()

    part = AccountState(r.ACCOUNT)
    before = part.apply(loop[:4], "cloudtrail", 0, 1, NOW).findings
    restored = AccountState.from_state(orjson.loads(orjson.dumps(part.to_state())))
    assert restored.already_applied("cloudtrail", 0, 1)
    assert not restored.already_applied("invocations", 0, 1)  # same partition number, other topic
    after = restored.apply(loop[4:], "cloudtrail", 0, 2, NOW).findings + restored.driver.settle()
    assert [f.change for f in before + after if isinstance(f, LoopFinding)] == [
        f.change for f in findings if isinstance(f, LoopFinding)
    ]
    # Their eventIDs were saved too.
    assert restored.apply(loop[2:4], "cloudtrail", 0, 3, NOW).counts.duplicates == 2
