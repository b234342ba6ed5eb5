"""What the engine says: loop incidents changing state, and runaway functions.

Findings are values (frozen); sinks, reports and topics render them. Times are event time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OPENED = "opened"
ESCALATED = "escalated"
RESOLVED = "resolved"
WITHDRAWN = "withdrawn"
"""A configuration that arrived late shows the cycle never was one: as if never reported."""
REVISED = "revised"
"""Late records changed the verdict (DESIGN §5, "Revocation"): the finding carries the new
status and, in its explanation, why. A throttle taken on the old verdict is released."""

LATENT = "latent"
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class LoopFinding:
    """An incident of one cycle, as of one change: opened, escalated (latent → active),
    resolved or withdrawn. The one incident type every view renders (``loop_json``).

    It carries what acting on it needs (DESIGN §6), so that whichever worker reads it can act
    without reaching into an engine: the event source mappings that drive each function on the
    cycle, and each function's invocation rate when the finding was made.
    """

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
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(function, UUIDs of the enabled event source mappings into it on the cycle)."""
    rates: tuple[tuple[str, float], ...] = ()
    """(function, invocations per minute in its newest rate window)."""

    @property
    def confirmed(self) -> bool:
        return not self.unknown

    @property
    def open(self) -> bool:
        return self.change not in (RESOLVED, WITHDRAWN)

    def mappings_of(self, function: str) -> tuple[str, ...]:
        return next((uuids for fn, uuids in self.mappings if fn == function), ())

    def rate_of(self, function: str) -> float | None:
        return next((rate for fn, rate in self.rates if fn == function), None)


@dataclass(frozen=True, slots=True)
class RunawayFinding:
    """A function whose invocation rate is running away (grows window over window, or too high)."""

    function: str
    detected_at: float
    rate_per_min: float
    growth: float | None
    reason: str  # "growth" or "ceiling"
    unknown: tuple[str, ...] = ()
    """Why the function is not known to be one (a presumed function, DESIGN §4)."""
    revised: bool = False
    """Late records show the windows it was found in are not runaway: it is taken back."""

    @property
    def confirmed(self) -> bool:
        return not self.unknown


Finding = LoopFinding | RunawayFinding


def standing_runaways(findings: Iterable[Finding]) -> list[RunawayFinding]:
    """The runaway findings among ``findings`` (in order) that no later revision took back."""
    runaways = [f for f in findings if isinstance(f, RunawayFinding)]
    taken_back: dict[str, int] = {}
    for i, runaway in enumerate(runaways):
        if runaway.revised:
            taken_back[runaway.function] = i
    return [
        r for i, r in enumerate(runaways) if not r.revised and i > taken_back.get(r.function, -1)
    ]


def loop_json(loop: LoopFinding) -> dict[str, object]:
    """A loop as DESIGN §7's ``loops`` entry: replay's JSON, ``/loops`` and the findings topic
    (and the webhook payload's loop fields) are all built from this."""
    from loopwatch.events.times import format_time

    return {
        "id": loop.incident,
        "status": loop.status,
        "cycle": list(loop.cycle),
        "functions": list(loop.functions),
        "first_seen": format_time(loop.first_seen),
        "detected_at": None if loop.detected_at is None else format_time(loop.detected_at),
        "traversals": loop.traversals,
        "gain": None if loop.gain is None else round(loop.gain, 3),
        "guarded": loop.guarded,
        "confirmed": loop.confirmed,
        "unknown": list(loop.unknown),
        "explanation": loop.explanation,
        "fix": loop.fix,
    }


def runaway_json(runaway: RunawayFinding) -> dict[str, object]:
    """A runaway function as DESIGN §7's ``runaway`` entry (and the findings topic's)."""
    from loopwatch.events.times import format_time

    return {
        "function": runaway.function,
        "detected_at": format_time(runaway.detected_at),
        "rate_per_min": round(runaway.rate_per_min, 1),
        "growth": None if runaway.growth is None else round(runaway.growth, 2),
        "reason": runaway.reason,
        "confirmed": runaway.confirmed,
        "unknown": list(runaway.unknown),
        **({"revised": True} if runaway.revised else {}),
    }


def finding_json(finding: Finding, account: str | None = None) -> dict[str, object]:
    """A finding as the JSON published on ``<prefix>.findings`` (times as ISO-8601 UTC)."""
    from loopwatch.events.times import format_time

    if isinstance(finding, RunawayFinding):
        return {"kind": "runaway", "account": account, **runaway_json(finding)}
    return {
        "kind": "loop",
        "account": account,
        "incident": finding.incident,
        "change": finding.change,
        "time": format_time(finding.time),
        **loop_json(finding),
        "mappings": {fn: list(uuids) for fn, uuids in finding.mappings},
        "rates": {fn: round(rate, 1) for fn, rate in finding.rates},
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
                unknown=_strings(document.get("unknown", [])),
                revised=document.get("revised") is True,
            ), account
        if kind != "loop":
            raise ValueError(f"not a finding: kind {kind!r}")
        detected = document.get("detected_at")
        gain = document.get("gain")
        traversals = document["traversals"]
        if not isinstance(traversals, int) or isinstance(traversals, bool):
            raise ValueError(f"bad traversals: {traversals!r}")
        mappings = document.get("mappings", {})
        rates = document.get("rates", {})
        if not isinstance(mappings, dict) or not isinstance(rates, dict):
            raise ValueError("mappings and rates must be objects")
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
            unknown=_strings(document.get("unknown", [])),
            mappings=tuple((str(fn), _strings(uuids)) for fn, uuids in mappings.items()),
            rates=tuple((str(fn), _number(rate)) for fn, rate in rates.items()),
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
