"""The small pure parts of loopwatch.actions: signatures, ledger files, targets, budgets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.actions import Dispatcher, Hold, JsonFileLedger, RetryPolicy, alert_for, sink_for
from loopwatch.actions.delivery import parse_retry_after
from loopwatch.actions.ratelimit import HourlyLimit
from loopwatch.actions.signing import signature_header, verify_signature
from loopwatch.actions.targets import choose, protected_by
from loopwatch.detect.findings import RunawayFinding

FN = "arn:aws:lambda:us-east-1:111122223333:function:payments-api"


def test_signature_rejects_malformed_and_stale_headers() -> None:
    body = b'{"a": 1}'
    header = signature_header("k", body, 1_000_000)
    assert verify_signature("k", header, body, now=1_000_100)
    assert not verify_signature("k", header, body, tolerance_s=60, now=1_000_100)
    for bad in (None, "", "v1=abc", "t=x,v1=abc", "t=1000000", "nonsense"):
        assert not verify_signature("k", bad, body, now=1_000_000)
    rotated = f"{header},v1={'0' * 64}"  # old and new secret side by side
    assert verify_signature("k", rotated, body, now=1_000_000)


def test_json_ledger_round_trips_and_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.json"
    ledger = JsonFileLedger(path)
    hold = Hold(FN, "111122223333", "inc", None, 12.5, "loopwatch@h", ("uuid-1",))
    ledger.put(hold)
    assert JsonFileLedger(path).holds() == [hold]
    ledger.remove(FN)
    assert JsonFileLedger(path).holds() == []
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the actions ledger"):
        JsonFileLedger(path)


def test_protected_patterns_and_policies() -> None:
    assert protected_by(FN, ["auth", "payments-*"]) == "payments-*"
    assert protected_by(FN, ["arn:aws:lambda:*:111122223333:function:*"]) is not None
    assert protected_by(FN, ["payments"]) is None  # whole names, not substrings
    fns = ["a", "b"]
    assert choose(fns, "all", None) == fns
    assert choose(fns, "highest-rate", {"a": 1.0, "b": 2.0}.get) == ["b"]
    assert choose(fns, "highest-rate", {}.get) == fns  # no rate known: all of them
    with pytest.raises(ValueError):
        choose(fns, "random", None)


def test_hourly_limit_slides() -> None:
    now = [0.0]
    limit = HourlyLimit(2, lambda: now[0])
    assert limit.try_acquire() and limit.try_acquire() and not limit.try_acquire()
    now[0] = 3600.5
    assert limit.try_acquire()


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0 ") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    value = parse_retry_after(later)
    assert value is not None and 28 <= value <= 31
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    value = parse_retry_after(earlier)  # as said: the caller puts a floor under it
    assert value is not None and -31 <= value <= -28
    assert parse_retry_after(None) is None
    for unreadable in ("soon", "", "-1", "1.5", "٣", "Wed, 21 Oct 2015 07:28:00"):
        with pytest.raises(ValueError, match=r"seconds|date"):
            parse_retry_after(unreadable)


@given(st.text(max_size=60) | st.from_regex(r"\A\s*[0-9]{1,400}\s*\Z"))
def test_retry_after_is_a_number_or_a_value_error(value: str) -> None:
    try:
        seconds = parse_retry_after(value)
    except ValueError:
        return
    assert isinstance(seconds, float) and seconds == seconds  # a number, never NaN


def test_a_full_backlog_dead_letters_at_once_without_blocking() -> None:
    dead: list[str] = []
    sink = sink_for("http://127.0.0.1:1/hook")  # nothing listens; alerts pile up

    async def go() -> None:
        d = Dispatcher(
            [sink],
            RetryPolicy(attempt_timeout=0.2, deadline=0.3, backoff=0.05, in_flight=1),
            dead_letter=lambda letter: dead.append(letter.last_error),
            max_pending=2,
        )
        for i in range(4):
            d.enqueue(alert_for(RunawayFinding(FN, float(i), 100.0, 2.0, "growth")))
        await asyncio.sleep(0)
        assert sum("backlog" in e for e in dead) == 2  # before any delivery finished
        await d.close()

    asyncio.run(go())
    assert len(dead) == 4
