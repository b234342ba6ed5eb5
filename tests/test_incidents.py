"""The incident book: quiet incidents resolve in the order the book holds them, however many
incidents it has seen (it reads only the open ones)."""

from __future__ import annotations

import orjson

from loopwatch.detect.findings import RESOLVED, WITHDRAWN
from loopwatch.detect.incidents import IncidentBook, incident_id

QUIET = 100.0
CYCLES = [
    (f"arn:aws:s3:::bucket-{n}", f"arn:aws:lambda:us-east-1:111122223333:function:fn-{n}")
    for n in "abc"
]
A, B, C = CYCLES


def seen(book: IncidentBook, cycle: tuple[str, ...], time: float) -> None:
    book.observe(cycle, time, False, 1, None, False, (), lambda guard: ("", ""))


def resolved_at(book: IncidentBook, now: float) -> list[tuple[str, ...]]:
    findings = book.resolve_quiet(now)
    assert all(f.change == RESOLVED for f in findings)
    return [f.cycle for f in findings]


def test_quiet_incidents_resolve_in_the_books_order_not_the_order_they_reopened() -> None:
    book = IncidentBook(QUIET)
    for i, cycle in enumerate(CYCLES):
        seen(book, cycle, float(i))
    assert resolved_at(book, 100.5) == [A]  # B and C were seen later: not quiet yet
    assert resolved_at(book, 150.0) == [B, C]
    assert resolved_at(book, 500.0) == []  # closed ones are not resolved again
    seen(book, C, 600.0)  # reopened, C first
    seen(book, A, 601.0)
    assert resolved_at(book, 800.0) == [A, C]
    restored = IncidentBook.from_state(orjson.loads(orjson.dumps(book.to_state())), QUIET)
    for b in (book, restored):
        seen(b, C, 900.0)
        seen(b, B, 900.0)
        assert resolved_at(b, 1000.0) == [B, C]


def test_a_withdrawn_incident_seen_again_comes_last() -> None:
    book = IncidentBook(QUIET)
    for cycle in CYCLES:
        seen(book, cycle, 10.0)
    withdrawn = book.resolve_broken(A, 10.0, "a late configuration", configured_at=5.0)
    assert withdrawn is not None and withdrawn.change == WITHDRAWN
    assert incident_id(A) not in book.incidents
    seen(book, A, 20.0)
    assert resolved_at(book, 200.0) == [B, C, A]
