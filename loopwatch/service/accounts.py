"""One account's detection state on a worker, and how a message is applied to it.

    message (partition, offset) ──► already applied? ──► parse ──► drop recent eventIDs
        ──► sort by event time ──► Engine ──► findings

Kafka delivers at least once: after a restart, messages since the last commit come again.
The state remembers the last offset it applied on each partition, so a redelivered message
changes nothing; a record repeated in another message (CloudTrail files overlap) is caught by
its eventID among the recent ones. No wall clock and no Faust here: the agent adapts it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding
from loopwatch.events import records
from loopwatch.events.facts import Fact

STATE_VERSION = 1


@dataclass(slots=True)
class Applied:
    """What one message did: findings, and the objects that were rejected with why."""

    findings: list[Finding] = field(default_factory=list)
    rejected: list[tuple[object, str]] = field(default_factory=list)
    used: int = 0
    skipped: int = 0
    duplicates: int = 0


class RecentIds:
    """Event ids seen in the last ``span`` seconds of event time, at most ``limit`` of them.

    Bounded both ways because it is saved with the account's state: duplicates that CloudTrail
    delivers come minutes apart, not hours.
    """

    def __init__(self, span: float = 900.0, limit: int = 200_000) -> None:
        self.span = span
        self.limit = limit
        self._ids: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()

    def seen(self, key: str, time: float) -> bool:
        """True if ``key`` was seen already; otherwise remember it."""
        if key in self._ids:
            return True
        self._ids[key] = time
        self._order.append((time, key))
        self._prune(time)
        return False

    def __len__(self) -> int:
        return len(self._ids)

    def _prune(self, now: float) -> None:
        order, ids = self._order, self._ids
        while order and (order[0][0] < now - self.span or len(ids) > self.limit):
            _, key = order.popleft()
            ids.pop(key, None)

    def to_state(self) -> list[list[Any]]:
        return [[time, key] for time, key in self._order]

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> RecentIds:
        recent = cls()
        for time, key in state:
            recent._ids[key] = float(time)
            recent._order.append((float(time), key))
        return recent


class AccountState:
    def __init__(self, account: str, config: DetectionConfig | None = None) -> None:
        self.account = account
        self.engine = Engine(config)
        self.recent = RecentIds()
        # (topic, partition) -> last offset applied: both input topics number partitions from 0.
        self.offsets: dict[tuple[str, int], int] = {}

    def already_applied(self, topic: str, partition: int, offset: int) -> bool:
        return offset <= self.offsets.get((topic, partition), -1)

    @property
    def partitions(self) -> set[int]:
        """The input partitions this account's messages came from (one, when keyed by account)."""
        return {partition for _, partition in self.offsets}

    def apply(self, objects: list[object], topic: str, partition: int, offset: int) -> Applied:
        """Apply one message's objects; a no-op for a message applied before."""
        applied = Applied()
        if self.already_applied(topic, partition, offset):
            return applied
        facts: list[Fact] = []
        parse, recent = records.parse, self.recent
        for obj in objects:
            try:
                key, found = parse(obj)
            except records.MalformedRecord as exc:
                applied.rejected.append((obj, str(exc)))
                continue
            if key is not None and found and recent.seen(key, found[0].time):
                applied.duplicates += 1
                continue
            if found:
                applied.used += 1
                facts.extend(found)
            else:
                applied.skipped += 1
        facts.sort(key=attrgetter("time"))
        apply = self.engine.apply
        for fact in facts:
            applied.findings.extend(apply(fact))
        self.offsets[(topic, partition)] = offset
        return applied

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "account": self.account,
            "engine": self.engine.to_state(),
            "recent": self.recent.to_state(),
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
        account = cls(state["account"], config)
        account.engine = Engine.from_state(state["engine"], config)
        account.recent = RecentIds.from_state(state["recent"])
        account.offsets = {(str(t), int(p)): int(o) for t, p, o in state["offsets"]}
        return account


def account_of(obj: object) -> str | None:
    """The AWS account a record or invocation event belongs to, when it says."""
    if not isinstance(obj, dict):
        return None
    detail = obj.get("detail")
    if isinstance(detail, dict) and obj.get("detail-type"):
        return account_of(detail)
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
