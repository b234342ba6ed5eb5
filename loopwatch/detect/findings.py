"""What the engine says: loop incidents changing state, and runaway functions.

Findings are values (frozen); sinks, reports and topics render them. Times are event time.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENED = "opened"
ESCALATED = "escalated"
RESOLVED = "resolved"
WITHDRAWN = "withdrawn"
"""A configuration that arrived late shows the cycle never was one: as if never reported."""

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
    unknown: tuple[str, ...] = ()
    """What keeps the loop unconfirmed (DESIGN §5); empty when it is confirmed."""

    @property
    def confirmed(self) -> bool:
        return not self.unknown


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


def finding_from_json(document: dict[str, object]) -> tuple[Finding, str | None]:
    """The finding and account of a ``finding_json`` document (``kind`` "loop" or "runaway").

    Times come back from their ISO text, so a redelivered document rebuilds an equal finding
    (and the same alert idempotency key). Raises ValueError for any other kind or a malformed
    document.
    """
    try:
        kind = document.get("kind")
        account = _optional_str(document.get("account"))
        if kind == "runaway":
            growth = document.get("growth")
            return RunawayFinding(
                function=str(document["function"]),
                detected_at=_time(document["detected_at"]),
                rate_per_min=_number(document["rate_per_min"]),
                growth=None if growth is None else _number(growth),
                reason=str(document["reason"]),
            ), account
        if kind != "loop":
            raise ValueError(f"not a finding: kind {kind!r}")
        detected = document.get("detected_at")
        gain = document.get("gain")
        traversals = document["traversals"]
        if not isinstance(traversals, int) or isinstance(traversals, bool):
            raise ValueError(f"bad traversals: {traversals!r}")
        return LoopFinding(
            incident=str(document["incident"]),
            change=str(document["change"]),
            status=str(document["status"]),
            cycle=_strings(document["cycle"]),
            functions=_strings(document["functions"]),
            first_seen=_time(document["first_seen"]),
            detected_at=None if detected is None else _time(detected),
            time=_time(document["time"]),
            traversals=traversals,
            gain=None if gain is None else _number(gain),
            guarded=bool(document["guarded"]),
            explanation=str(document["explanation"]),
            fix=str(document["fix"]),
        ), account
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed finding: {exc!r}") from exc


def _time(value: object) -> float:
    from loopwatch.events.times import parse_time

    return parse_time(value)  # type: ignore[arg-type]  # parse_time rejects non-strings itself


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"not a list: {value!r}")
    return tuple(str(v) for v in value)
