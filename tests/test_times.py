"""parse_time / format_time: ISO-8601 with an explicit offset ⇄ epoch seconds (UTC)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.events.times import format_time, parse_time

T0 = 1_791_208_800.0  # 2026-10-05T14:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05T14:00:00Z", T0),
        ("2026-10-05T14:00:03Z", T0 + 3),
        ("2026-10-05T14:00:00.123Z", T0 + 0.123),
        ("2026-10-05T14:00:00.5Z", T0 + 0.5),
        ("2026-10-05T14:00:00.123456789Z", T0 + 0.123456789),
        ("2026-10-05T14:00:00+00:00", T0),
        ("2026-10-05T16:00:00+02:00", T0),
        ("2026-10-05T09:30:00-04:30", T0),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-05T14:00:00",  # naive: no offset
        "1969-12-31T23:59:59Z",  # before 1970: malformed (DESIGN §5)
        "9999-12-31T23:59:10-23:59",  # after 9999 in UTC
        "1970-01-01T00:00:00+00:01",
        "2026-10-05",
        "2026-10-05 14:00:00Z",
        "20261005T140000Z",
        "2026-10-05T14:00Z",
        "2026-02-30T14:00:00Z",
        "2026-10-05T24:00:00Z",
        "2026-10-05T14:00:60Z",
        "2026-10-05T14:00:00+24:00",
        "2026-10-05T14:00:00.Z",
        "2026-10-05T14:00:00z",
        "\uff12\uff10\uff12\uff16-10-05T14:00:00Z",  # fullwidth (non-ASCII) digits
        " 2026-10-05T14:00:00Z",
        "",
    ],
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_parse_time_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        parse_time(1791208800)  # type: ignore[arg-type]  # what a bad record carries


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (T0, "2026-10-05T14:00:00Z"),
        (T0 + 3, "2026-10-05T14:00:03Z"),
        (T0 + 3.123, "2026-10-05T14:00:03.123Z"),
        (T0 + 3.5, "2026-10-05T14:00:03.5Z"),
        (T0 + 0.000001, "2026-10-05T14:00:00.000001Z"),
        (0.0, "1970-01-01T00:00:00Z"),
        (-0.5, "1969-12-31T23:59:59.5Z"),
    ],
)
def test_format_time(t: float, text: str) -> None:
    assert format_time(t) == text


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -float("inf"), 1e20])
def test_format_time_rejects(t: float) -> None:
    with pytest.raises(ValueError):
        format_time(t)


# Microsecond precision survives a float round trip for every time from 1970 to 2100.
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(moments)
def test_format_then_parse_round_trips(moment: datetime) -> None:
    text = format_time(moment.timestamp())
    assert parse_time(text) == pytest.approx(moment.timestamp(), abs=5e-7)
    assert datetime.fromisoformat(text) == moment


@given(moments, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_parse_agrees_with_datetime_in_any_offset(moment: datetime, minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    text = local.isoformat().replace("+00:00", "Z")
    assert parse_time(text) == pytest.approx(moment.timestamp(), abs=5e-7)
    assert format_time(parse_time(text)) == format_time(moment.timestamp())


@given(st.text(max_size=40))
def test_parse_time_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_time(text)
