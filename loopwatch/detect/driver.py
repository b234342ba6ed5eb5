"""The one engine driver: facts into an engine in event-time order, seconds settled, findings out.

    replay:  every fact of every file ──feed──► settle (end of input)
    worker:  each message's facts ──feed──► … idle timer ──settle──► … quiet ──idle(now)──►

``loopwatch replay`` and the worker drive their engines through this and nothing else, so the
ordering and settling rules are the same in both (DESIGN §5, "Live equals replay"). Facts that
arrive late are applied at their own event time (the engine measures them there, and at its
newest second); the engine's clock never moves backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from loopwatch.detect.engine import Engine
from loopwatch.detect.findings import Finding
from loopwatch.events.facts import Fact

_BY_TIME = attrgetter("time")


@dataclass(slots=True)
class Fed:
    findings: list[Finding] = field(default_factory=list)
    failed: list[tuple[Fact, str]] = field(default_factory=list)
    """Facts the engine could not take (a bug, never bad input): each with why."""

    def add(self, other: Fed) -> None:
        """Take in what a later ``feed`` gave (in order after what this holds)."""
        self.findings.extend(other.findings)
        self.failed.extend(other.failed)


class Driver:
    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def feed(self, facts: list[Fact]) -> Fed:
        """Apply ``facts`` in event-time order (stable: one instant keeps its input order)."""
        fed = Fed()
        facts.sort(key=_BY_TIME)
        apply, findings = self.engine.apply, fed.findings
        for fact in facts:
            try:
                found = apply(fact)
            except Exception as exc:  # one fact must not stop every later one
                fed.failed.append((fact, f"engine error: {type(exc).__name__}: {exc}"[:300]))
                continue
            if found:
                findings.extend(found)
        return fed

    def settle(self) -> list[Finding]:
        """Measure the open second now: the input ended, or an account went idle."""
        return list(self.engine.flush())

    def idle(self, event_time: float) -> list[Finding]:
        """Let event time pass to ``event_time`` with no fact (a quiet stream's incidents
        resolve); a time already reached changes nothing."""
        return list(self.engine.advance(event_time))
