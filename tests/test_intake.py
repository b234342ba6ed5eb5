"""The one intake: validation, dedupe and counts, the same for replay and the worker."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loopwatch.events.dedupe import RecentIds
from loopwatch.events.intake import Intake
from loopwatch.events.records import account_of
from loopwatch.events.times import parse_time
from loopwatch.testing import records as r

NOW = parse_time("2026-10-05T15:00:00Z")


def test_every_value_is_counted_once_and_rejections_grouped_by_reason() -> None:
    loop = r.s3_self_loop(writes=2)
    no_time = {k: v for k, v in loop[2].items() if k != "eventTime"}
    irrelevant = r.record(r.S3, "GetBucketAcl", {"bucketName": "x"})
    taken = Intake().take([*loop, no_time, 42, 43, irrelevant, irrelevant], NOW)
    c = taken.counts
    assert (c.read, c.used, c.skipped, c.duplicates, c.malformed) == (9, 4, 2, 0, 3)
    assert taken.rejected == {
        "eventTime is missing or not a string": (1, no_time),
        "not a JSON object but int": (2, 42),
    }


def test_the_same_irrelevant_record_twice_is_skipped_twice_and_a_used_one_is_a_duplicate() -> None:
    # One policy, live and offline: only records that matter are remembered.
    irrelevant = r.record(r.S3, "GetBucketAcl", {"bucketName": "x"})
    write = r.s3_self_loop(writes=1)[2]
    intake = Intake()
    first = intake.take([irrelevant, write], NOW).counts
    again = intake.take([irrelevant, write], NOW).counts
    assert (first.skipped, first.used, first.duplicates) == (1, 1, 0)
    assert (again.skipped, again.used, again.duplicates) == (1, 0, 1)


def test_records_dated_far_ahead_of_the_clock_or_outside_the_calendar_are_malformed() -> None:
    write = r.s3_self_loop(writes=1)[2]
    soon = dict(write, eventID="soon", eventTime="2026-10-05T15:59:00Z")
    later = dict(write, eventID="later", eventTime="2036-01-01T00:00:00Z")
    edge = dict(write, eventID="edge", eventTime="9999-12-31T23:59:10-23:59")
    early = dict(write, eventID="early", eventTime="1969-12-31T23:59:59Z")
    taken = Intake().take([soon, later, edge, early], NOW)
    assert taken.counts.used == 1 and taken.counts.malformed == 3
    reasons = set(taken.rejected)
    assert any(reason.startswith("future") for reason in reasons)
    assert sum(count for count, _ in taken.rejected.values()) == 3


def test_envelopes_are_unwrapped_one_level_only() -> None:
    write = r.s3_self_loop(writes=1)[2]
    nested: object = write
    for _ in range(500):
        nested = r.eventbridge(nested)  # type: ignore[arg-type]
    taken = Intake().take([r.eventbridge(write), nested], NOW)
    assert taken.counts.used == 1 and taken.counts.malformed == 1
    assert list(taken.rejected) == ["an envelope inside an envelope"]
    assert account_of(nested) is None or account_of(nested) == r.ACCOUNT


def test_recent_ids_forget_by_event_time_and_by_count() -> None:
    recent = RecentIds(span=60, limit=3)
    assert not recent.seen("a", 0) and recent.seen("a", 1)
    for i, key in enumerate("bcd"):
        recent.seen(key, 2 + i)
    assert len(recent) == 3 and not recent.seen("a", 5)  # pushed out by the limit
    assert not recent.seen("b", 200)  # forgotten after the span


@given(
    st.lists(
        st.recursive(
            st.none() | st.integers() | st.text(),
            lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        ),
        max_size=20,
    )
)
def test_arbitrary_values_never_raise_and_all_are_counted(values: list[object]) -> None:
    taken = Intake().take(values, NOW)
    c = taken.counts
    assert c.read == len(values) == c.used + c.skipped + c.duplicates + c.malformed


def test_account_of_each_input_form() -> None:
    loop = r.s3_self_loop(writes=1)
    assert account_of(loop[0]) == r.ACCOUNT
    assert account_of(r.eventbridge(loop[0])) == r.ACCOUNT
    assert account_of(r.invocation(r.function_arn("f", account="444455556666"))) == "444455556666"
    assert account_of(42) is None
