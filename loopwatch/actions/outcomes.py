"""What an action did: one outcome per function, and the audit record of every change.

Outcomes travel in alerts (people read ``reason``); audit records go to ``loopwatch.findings``
(the service publishes them), so "who changed what, when, and what was there before" survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Results of a throttle.
THROTTLED = "throttled"  # reserved concurrency set to 0 now
HELD = "held"  # already 0 (by loopwatch earlier, or by someone): nothing to change
WOULD_THROTTLE = "would-throttle"  # dry-run: what enforce would do
PROTECTED = "protected"  # on the protected list: never touched
NOT_CHOSEN = "not-chosen"  # policy highest-rate picked another function
RATE_LIMITED = "rate-limited"  # the hourly throttle budget is spent
FAILED = "failed"  # AWS refused or did not answer in time; ``reason`` says why
# Results of a release.
RELEASED = "released"
NOT_HELD = "not-held"
GONE = "gone"  # the function no longer exists: nothing to restore
CHANGED = "changed"  # someone set its concurrency by hand while held: not restored (--force)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one function. ``previous`` is the reserved concurrency found before
    (``None``: it had none), when it was read."""

    action: str  # "throttle" | "release"
    function: str
    result: str
    reason: str
    previous: int | None = None
    mappings: tuple[str, ...] = ()  # event source mappings disabled (or re-enabled)

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "function": self.function,
            "result": self.result,
            "reason": self.reason,
            "previous": self.previous,
            "mappings": list(self.mappings),
        }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change loopwatch made (or, in dry-run, would have made), for the findings topic.

    ``at`` is wall-clock epoch seconds: an audit record says when the change happened, which
    is not the event time of the finding that caused it.
    """

    action: str  # "throttle" | "disable-mapping" | "release" | "enable-mapping"
    result: str
    function: str
    account: str | None
    incident: str | None
    previous: int | None
    new: int | None
    mode: str
    who: str
    at: float
    reason: str

    def to_json(self) -> dict[str, object]:
        """The record as published on ``loopwatch.findings`` (``kind: "audit"``)."""
        return {
            "kind": "audit",
            "action": self.action,
            "result": self.result,
            "function": self.function,
            "account": self.account,
            "incident": self.incident,
            "previous": self.previous,
            "new": self.new,
            "mode": self.mode,
            "who": self.who,
            "at": iso(self.at),
            "reason": self.reason,
        }


def iso(epoch: float) -> str:
    """Wall-clock epoch seconds as ISO-8601 UTC with a ``Z``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_value(value: int | None) -> str:
    """``25`` → "was 25"; ``None`` → "had none" (how release and alerts say it)."""
    return "had none" if value is None else f"was {value}"
