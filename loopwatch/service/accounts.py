"""One account's detection state on a worker, and how a message is applied to it.

    message (partition, offset) ──► already applied? ──► Intake (parse, validate, dedupe)
        ──► Driver (order by event time, apply) ──► Engine ──► findings

An ``AccountState`` is the account router's per-account detector (``loopwatch.detect.router``:
the intake, engine and driver replay gives each account, and the one rule for dating its
inventory) plus what the worker needs besides: the offsets it applied, and its saved form.

Kafka delivers at least once: after a restart, messages since the last commit come again.
The state remembers the last offset it applied on each partition, so a redelivered message
changes nothing; a record repeated in another message (CloudTrail files overlap) is caught by
the intake's dedupe. The intake and the driver are the ones replay uses. No wall clock and no
Faust here: the agent passes the time in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding
from loopwatch.detect.router import Account
from loopwatch.events.facts import Fact
from loopwatch.events.intake import Counts, Intake
from loopwatch.events.timerange import TimeRange

STATE_VERSION = 3
"""3: the ``account-state`` table holds an account as parts (``loopwatch.service.state``);
2 was one whole entry per account, over Kafka's 1 MB message for a large account."""


_PLACES: dict[tuple[str, int], tuple[str, int]] = {}
"""Each (input topic, partition) as one tuple, the key of every account's offsets: there are
a few dozen places and thousands of accounts."""


@dataclass(slots=True)
class Applied:
    """What one message did: findings, counts, and the rejected values grouped by reason."""

    findings: list[Finding] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    rejected: dict[str, tuple[int, object]] = field(default_factory=dict)
    failed: list[tuple[Fact, str]] = field(default_factory=list)


class AccountState(Account):
    """An account as the worker holds it. Held by the thousand (an org trail's accounts, most
    of them idle): what an account that gave no fact yet holds is kept small (slots, and its
    engine's structures shared or empty until first used), ~2 KB."""

    __slots__ = ("offsets",)

    def __init__(
        self,
        account: str,
        config: DetectionConfig | None = None,
        *,
        time_range: TimeRange | None = None,
        engine: Engine | None = None,
        intake: Intake | None = None,
    ) -> None:
        super().__init__(account, config, time_range=time_range, engine=engine, intake=intake)
        # (topic, partition) -> last offset applied: both input topics number partitions from 0.
        self.offsets: dict[tuple[str, int], int] = {}

    def already_applied(self, topic: str, partition: int, offset: int) -> bool:
        return offset <= self.offsets.get((topic, partition), -1)

    @property
    def partitions(self) -> set[int]:
        """The input partitions this account's messages came from (one, when keyed by account)."""
        return {partition for _, partition in self.offsets}

    def apply(
        self, objects: list[object], topic: str, partition: int, offset: int, now: float
    ) -> Applied:
        """Apply one message's objects as of wall-clock ``now``; a no-op for a message
        applied before."""
        applied = Applied()
        if self.already_applied(topic, partition, offset):
            return applied
        taken = self.take(objects, now)
        facts = taken.facts
        if facts:  # most messages live have none: nothing for the driver
            fed = self.feed(facts)
            applied.findings, applied.failed = fed.findings, fed.failed
        applied.counts, applied.rejected = taken.counts, taken.rejected
        offsets = self.offsets
        if (topic, partition) in offsets:
            offsets[(topic, partition)] = offset  # the dict keeps the key it holds
        else:  # one key of each place for every account, not one each
            offsets[_PLACES.setdefault((topic, partition), (topic, partition))] = offset
        return applied

    def to_state(self) -> dict[str, Any]:
        """The whole state as one JSON-ready dict (the table holds it as parts: see
        ``loopwatch.service.state``)."""
        return {
            "version": STATE_VERSION,
            "account": self.account,
            "engine": self.engine.to_state(),
            "recent": self.intake.to_state(),
            "offsets": [
                [topic, partition, offset] for (topic, partition), offset in self.offsets.items()
            ],
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], config: DetectionConfig | None = None
    ) -> AccountState:
        """Rebuild from ``to_state``; ValueError for state of another version."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"account state version {state.get('version')!r}, expected {STATE_VERSION}"
            )
        account = cls(
            state["account"],
            config,
            engine=Engine.from_state(state["engine"], config),
            intake=Intake.from_state(state["recent"]),
        )
        for topic, partition, offset in state["offsets"]:
            place = (str(topic), int(partition))
            account.offsets[_PLACES.setdefault(place, place)] = int(offset)
        return account
