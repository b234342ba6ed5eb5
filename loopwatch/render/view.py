"""The replay JSON document (DESIGN §7) read into small typed views for the renderers.

Renderers read the document, not the engine's types, so the HTML page, the DOT graph and the
worker's web view show exactly what ``--format json`` says, whatever the engine becomes.
Fields the contract is gaining (``confirmed``, ``unknown``, ``throttle``) are optional here:
absent means "not known yet", and the page says so instead of guessing.

    {"records": {...}, "errors": [...], "loops": [LoopView...], "runaway": [RunawayView...]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopwatch.events import arns

# What people call each kind of node, by the service that owns it.
_SERVICE_WORDS = {
    arns.FUNCTION: "Lambda",
    arns.BUCKET: "S3 bucket",
    arns.QUEUE: "SQS queue",
    arns.TOPIC: "SNS topic",
    arns.TABLE: "DynamoDB table",
    arns.STREAM: "Kinesis stream",
    arns.EVENT_BUS: "EventBridge bus",
    arns.STATE_MACHINE: "Step Functions state machine",
}


def service_label(node: str) -> tuple[str, str]:
    """``("S3 bucket", "demo-uploads")``, ``("Lambda", "thumbnailer")``: a node as the AWS
    console names it, split into the service words and the resource's own name."""
    words = _SERVICE_WORDS.get(arns.kind(node), "resource")
    return words, arns.name(node)


@dataclass(frozen=True, slots=True)
class Hop:
    """One arrow of a drawn cycle; ``closing`` marks the write that closes the trigger."""

    source: str
    target: str
    closing: bool


@dataclass(frozen=True, slots=True)
class LoopView:
    id: str
    status: str
    cycle: tuple[str, ...]
    functions: tuple[str, ...]
    first_seen: str | None
    detected_at: str | None
    traversals: int | None
    gain: float | None
    explanation: str
    fix: str
    confirmed: bool | None
    """None when the document predates the field."""
    unknown: tuple[str, ...]
    throttle: object
    """Whatever the document holds under ``throttle`` (None: not acted on)."""

    def hops(self) -> tuple[Hop, ...]:
        """The cycle's arrows in traversal order, ending with the one back to the start.

        The closing write is the hop into the first resource of the cycle (the trigger the
        loop starts from), from the function before it; a cycle of functions only (function →
        function) closes on the hop from its last node back to its first.
        """
        n = len(self.cycle)
        if n == 0:
            return ()
        start = next((i for i, node in enumerate(self.cycle) if not arns.is_function(node)), 0)
        return tuple(
            Hop(self.cycle[i], self.cycle[(i + 1) % n], (i + 1) % n == start) for i in range(n)
        )


@dataclass(frozen=True, slots=True)
class RunawayView:
    function: str
    detected_at: str | None
    rate_per_min: float | None
    growth: float | None
    confirmed: bool | None


@dataclass(frozen=True, slots=True)
class DocumentView:
    records: Mapping[str, int]
    errors: tuple[tuple[str, str], ...]
    loops: tuple[LoopView, ...]
    runaway: tuple[RunawayView, ...]


def read_document(document: Mapping[str, Any]) -> DocumentView:
    """The views of a replay JSON document. Missing sections read as empty; a value of the
    wrong type reads as absent, so a page renders whatever a (newer or older) engine wrote."""
    records = document.get("records")
    counts = {
        str(k): v for k, v in (records.items() if isinstance(records, Mapping) else ()) if _int(v)
    }
    errors = tuple(
        (str(e.get("source", "")), str(e.get("reason", "")))
        for e in _objects(document.get("errors"))
    )
    loops = tuple(_loop(raw) for raw in _objects(document.get("loops")))
    runaway = tuple(
        RunawayView(
            function=str(raw.get("function", "")),
            detected_at=_str(raw.get("detected_at")),
            rate_per_min=_float(raw.get("rate_per_min")),
            growth=_float(raw.get("growth")),
            confirmed=_bool(raw.get("confirmed")),
        )
        for raw in _objects(document.get("runaway"))
    )
    return DocumentView(counts, errors, loops, runaway)


def _loop(raw: Mapping[str, Any]) -> LoopView:
    traversals = raw.get("traversals")
    return LoopView(
        id=str(raw.get("id", "")),
        status=str(raw.get("status", "unknown")),
        cycle=_strings(raw.get("cycle")),
        functions=_strings(raw.get("functions")),
        first_seen=_str(raw.get("first_seen")),
        detected_at=_str(raw.get("detected_at")),
        traversals=traversals if _int(traversals) else None,
        gain=_float(raw.get("gain")),
        explanation=str(raw.get("explanation") or ""),
        fix=str(raw.get("fix") or ""),
        confirmed=_bool(raw.get("confirmed")),
        unknown=_strings(raw.get("unknown")),
        throttle=raw.get("throttle"),
    )


def _objects(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    return tuple(str(item) for item in value)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def throttle_lines(value: object) -> tuple[str, ...]:
    """The ``throttle`` state of a loop as lines for people; ``("not acted on",)`` when absent.

    The state's exact shape belongs to the actions (a mode, per-function outcomes with
    ``function``, ``result``, ``reason``…), so any JSON value is shown faithfully rather than
    a shape assumed here.
    """
    if value is None:
        return ("not acted on",)
    if isinstance(value, Mapping):
        lines: list[str] = []
        for key, item in value.items():
            if isinstance(item, Sequence) and not isinstance(item, str):
                lines += [f"{key}: {_describe(entry)}" for entry in item]
            else:
                lines.append(f"{key}: {_describe(item)}")
        return tuple(lines) or ("not acted on",)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(_describe(entry) for entry in value) or ("not acted on",)
    return (_describe(value),)


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        head = value.get("function")
        rest = {k: v for k, v in value.items() if k != "function" and v not in (None, "", [])}
        parts = [f"{k} {_describe(v)}" for k, v in rest.items()]
        if isinstance(head, str):
            words, name = service_label(head)
            return f"{words} {name}: " + ", ".join(parts) if parts else f"{words} {name}"
        return ", ".join(parts)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(_describe(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
