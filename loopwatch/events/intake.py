"""The one intake: decoded JSON values → facts, validated, deduplicated and counted.

    values ──parse──► (eventID, facts) ──valid time?──► in range? ──► already applied? ──► facts
       │                  │ MalformedRecord             │ future      │ skipped    │ duplicate
       └──────────────────┴─────────────────────────────┴─────────────┴────────────┴──► counts

A used record whose handler cut its targets (``cloudtrail.base.target_limit``) is also counted
as truncated, with why (``Counts.truncations``): replay reports it, the worker's /metrics count it.

Parsing and validating (``parse_batch``) holds no state, so replay can run it in worker
processes; deduplication (``Intake.admit``) runs where the ``Intake`` lives, over the parsed
batches in input order — ``take`` is the two in one call.

``loopwatch replay`` and the worker's per-account state take records through an ``Intake``,
so both count, reject and deduplicate exactly alike (DESIGN §5, "Live equals replay"). The wall
clock is passed in by the adapter (``take(values, now)``): a record dated more than an hour
after it is ``future`` and malformed, so that one bad record cannot move event time years
ahead. The engine itself never sees the clock. An optional event-time range (``--since`` /
``--until``) counts the records outside it as skipped, before they reach the dedupe memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from loopwatch.events import records
from loopwatch.events.cloudtrail import REGISTRY
from loopwatch.events.cloudtrail.base import Capped, Truncation
from loopwatch.events.decode import Selected
from loopwatch.events.dedupe import RecentIds
from loopwatch.events.facts import Fact
from loopwatch.events.samples import shallow
from loopwatch.events.thin import UNSET, Thin
from loopwatch.events.timerange import TimeRange

FUTURE_SLACK = 3600.0
"""Seconds a record may be dated after the wall clock at intake (clock skew, not years)."""
UNKNOWN_ACCOUNT = "unknown"
"""The account of a record that names none (``records.account_of`` finds nothing)."""


@dataclass(slots=True)
class Counts:
    """Every record read is exactly one of used, skipped, duplicate or malformed.

    ``truncated`` counts the used records that named more targets than a record may
    (``target_limit``: their facts are the first targets'); ``truncations`` says why, each
    ``Truncation`` (event, targets named and kept) with how many records it cut.
    """

    read: int = 0
    used: int = 0
    skipped: int = 0
    duplicates: int = 0
    malformed: int = 0
    truncated: int = 0
    truncations: dict[Truncation, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.read += other.read
        self.used += other.used
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.malformed += other.malformed
        self.truncated += other.truncated
        for truncation, count in other.truncations.items():
            self.truncations[truncation] = self.truncations.get(truncation, 0) + count

    def to_json(self) -> dict[str, int]:
        return {
            "read": self.read,
            "used": self.used,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "truncated": self.truncated,
        }


@dataclass(slots=True)
class Taken:
    """What one batch of values gave: facts in input order, counts, and the rejected values
    grouped by reason (``rejected[reason]`` = how many, the first of them)."""

    facts: list[Fact] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    rejected: dict[str, tuple[int, object]] = field(default_factory=dict)


Keyed = tuple[str | None, tuple[Fact, ...], str]
"""One record that gave facts: its dedupe id, its facts and its account (``account_key``)."""


class Parsed(NamedTuple):
    """One batch parsed and validated, not yet deduplicated. ``keyed`` holds, in input order,
    the dedupe id, the facts and the account of every record that gave facts and was not
    rejected. A NamedTuple: worker processes send thousands back, and tuples pickle cheaply."""

    read: int
    skipped: int
    malformed: int
    keyed: list[Keyed]
    rejected: dict[str, tuple[int, object]]


def account_key(value: object) -> str:
    """The account a record, envelope or invocation event is detected in: what
    ``records.account_of`` says, else ``UNKNOWN_ACCOUNT``. The shipper keys each Kafka message
    by it, so the worker holds a record in the account replay routes it to
    (``loopwatch.detect.router``)."""
    if type(value) is Thin and value.detail is UNSET:
        # account_of's first test on a plain record, without building its dict.
        account = value.recipientAccountId
        if type(account) is str and account:
            return account
    return records.account_of(value) or UNKNOWN_ACCOUNT


def parse_batch(values: list[object], now: float) -> Parsed:
    """Parse and validate ``values`` as of wall-clock time ``now`` (epoch seconds). Never raises.

    A rejected value is kept as its full JSON value, also when it came from the selective
    decoder (a ``Selected`` list gives it back), so a dead letter shows the record as sent.
    """
    keyed: list[Keyed] = []
    rejected: dict[str, tuple[int, object]] = {}
    original = values.original if isinstance(values, Selected) else None
    parse, malformed = records.parse, records.MalformedRecord
    thin, wanted = Thin, REGISTRY
    latest = now + FUTURE_SLACK
    skipped = bad = 0
    for value in values:
        # records.parse's first test, inlined: a thin record whose event no handler wants
        # (~99% of them) yields no facts, and is only counted; a call per record costs more
        # than the rest of its handling here.
        if type(value) is thin:
            name = value.eventName
            if (
                type(name) is str
                and name not in wanted
                and type(value.eventSource) is str
                and type(value.eventTime) is str
            ):
                skipped += 1
                continue
        try:
            key, found = parse(value)
        except malformed as exc:
            reason = str(exc)
        except Exception as exc:  # a parser bug must cost one record, never the batch
            reason = f"parser error: {type(exc).__name__}: {exc}"[:300]
        else:
            if not found:
                skipped += 1
                continue
            if found[0].time > latest:
                reason = "future: dated more than an hour after it was read"
            else:
                keyed.append((key, found, account_key(value)))
                continue
        bad += 1
        seen = rejected.get(reason)
        if seen is None:  # the first of its kind: worth finding its full value
            sample = value if original is None else original(_index(values, value))
            # Bounded in depth: the sample is pickled back from replay's workers and written
            # into dead letters, and JSON hundreds of levels deep breaks both.
            rejected[reason] = (1, shallow(sample))
        else:
            rejected[reason] = (seen[0] + 1, seen[1])
    return Parsed(len(values), skipped, bad, keyed, rejected)


def _index(values: list[object], value: object) -> int:
    return next(i for i, v in enumerate(values) if v is value)


class Intake:
    """Parses, validates and deduplicates records; one per replay, one per account live.

    Dedupe policy (the same everywhere): a record that yields facts is applied once per
    ``eventID`` (an invocation event once per ``request_id``) among those seen within the
    last ``dedupe_span`` seconds of event time; a record that yields nothing is counted as
    skipped however often it comes, so memory follows the records that matter.
    """

    __slots__ = ("recent", "time_range")

    def __init__(
        self, recent: RecentIds | None = None, time_range: TimeRange | None = None
    ) -> None:
        self.recent = recent if recent is not None else RecentIds()
        self.time_range = time_range
        """Event times to use; a record outside is skipped (None: every time)."""

    def take(self, values: list[object], now: float) -> Taken:
        """Parse ``values`` as of wall-clock time ``now`` (epoch seconds). Never raises."""
        return self.admit(parse_batch(values, now))

    def admit(self, parsed: Parsed) -> Taken:
        """Deduplicate one parsed batch: its facts, counted. Batches must come in input order
        (the dedupe window follows event time as it is met)."""
        counts = Counts(parsed.read, 0, parsed.skipped, 0, parsed.malformed)
        taken = Taken(counts=counts, rejected=parsed.rejected)
        if not parsed.keyed:  # nothing of interest: most batches live
            return taken
        facts, seen = taken.facts, self.recent.seen
        inside = self.time_range.contains if self.time_range is not None else None
        used = duplicates = outside = 0
        for key, found, _ in parsed.keyed:
            time = found[0].time
            if inside is not None and not inside(time):
                outside += 1  # outside the time range asked for: skipped, as of no interest
                continue
            if key is not None and seen(key, time):
                duplicates += 1
                continue
            used += 1
            facts.extend(found)
            if type(found) is Capped:  # counted once used: a repeat of it cuts nothing again
                counts.truncated += 1
                cut = counts.truncations
                cut[found.truncation] = cut.get(found.truncation, 0) + 1
        counts.used, counts.duplicates = used, duplicates
        counts.skipped += outside
        return taken

    def to_state(self) -> list[list[Any]]:
        return self.recent.to_state()

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> Intake:
        return cls(RecentIds.from_state(state))
