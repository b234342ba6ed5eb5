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
