"""What the engine says: loop incidents changing state, and runaway functions.

Findings are values (frozen); sinks, reports and topics render them. Times are event time.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENED = "opened"
ESCALATED = "escalated"
RESOLVED = "resolved"

LATENT = "latent"
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class LoopFinding:
    """An incident of one cycle: opened, escalated (latent → active) or resolved."""

    incident: str
    change: str
    status: str
    cycle: tuple[str, ...]
    functions: tuple[str, ...]
    first_seen: float
    detected_at: float | None
    time: float
    traversals: int
    gain: float | None
    guarded: bool
    explanation: str
    fix: str


@dataclass(frozen=True, slots=True)
class RunawayFinding:
    """A function whose invocation rate is running away (grows window over window, or too high)."""

    function: str
    detected_at: float
    rate_per_min: float
    growth: float | None
    reason: str  # "growth" or "ceiling"


Finding = LoopFinding | RunawayFinding


def finding_json(finding: Finding, account: str | None = None) -> dict[str, object]:
    """A finding as the JSON published on ``loopwatch.findings`` (times as ISO-8601 UTC)."""
    from loopwatch.events.times import format_time

    if isinstance(finding, RunawayFinding):
        return {
            "kind": "runaway",
            "account": account,
            "function": finding.function,
            "detected_at": format_time(finding.detected_at),
            "rate_per_min": round(finding.rate_per_min, 1),
            "growth": None if finding.growth is None else round(finding.growth, 2),
            "reason": finding.reason,
        }
    return {
        "kind": "loop",
        "account": account,
        "incident": finding.incident,
        "change": finding.change,
        "status": finding.status,
        "cycle": list(finding.cycle),
        "functions": list(finding.functions),
        "first_seen": format_time(finding.first_seen),
        "detected_at": None if finding.detected_at is None else format_time(finding.detected_at),
        "time": format_time(finding.time),
        "traversals": finding.traversals,
        "gain": None if finding.gain is None else round(finding.gain, 3),
        "guarded": finding.guarded,
        "explanation": finding.explanation,
        "fix": finding.fix,
    }
