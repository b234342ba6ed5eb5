"""The detection knobs of DESIGN §5, as one frozen value the pure engine is built with.

Settings from the environment (``LOOPWATCH_*``) are read once, at the edge, by
``loopwatch.settings`` and turned into this; the engine never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    horizon: float = 3600.0
    """Seconds of event time after which an unused observed edge drops out of the graph."""
    window: float = 300.0
    """Activity window (seconds) in which traversals and loop gain are counted."""
    active_after: int = 3
    """Traversals at which a cycle is called active (AWS stops a loop after ~16 hops)."""
    min_gain: float = 0.9
    """Loop gain a cycle needs to be active, where gain is measurable."""
    max_cycle_length: int = 8
    """Longest cycle (in edges) searched for; bounds the per-event search."""
    rate_window: float = 60.0
    """Tumbling window (seconds) of the runaway-rate detector."""
    rate_floor_per_min: float = 60.0
    """Below this rate a function's growth is not called runaway."""
    rate_growth: float = 2.0
    """Window-over-window growth factor that counts as a growing window."""
    rate_growth_windows: int = 3
    """Consecutive growing windows that make a runaway."""
    rate_ceiling_per_min: float = 30000.0
    """A function above this rate is runaway whatever its growth."""
    quiet: float = 900.0
    """Seconds without a traversal after which an open incident resolves."""

    def __post_init__(self) -> None:
        """The one place detection knobs are checked, against BOUNDS (which ``Settings`` also
        gives its fields, so a bad environment value is named with what is valid)."""
        for name, bounds in BOUNDS.items():
            value = getattr(self, name)
            for op, limit in bounds.items():
                if not _HOLDS[op](value, limit):
                    raise ValueError(f"{name} must be {_SAYS[op]} {limit:g}, not {value!r}")


class Bounds(TypedDict, total=False):
    gt: float
    ge: float
    le: float


BOUNDS: dict[str, Bounds] = {
    "horizon": {"gt": 0},
    "window": {"gt": 0},
    "active_after": {"ge": 1},
    "min_gain": {"gt": 0},
    "max_cycle_length": {"ge": 1, "le": 32},
    "rate_window": {"gt": 0},
    "rate_floor_per_min": {"ge": 0},
    "rate_growth": {"gt": 1},
    "rate_growth_windows": {"ge": 1},
    "rate_ceiling_per_min": {"gt": 0},
    "quiet": {"gt": 0},
}
"""Every detection knob's valid range, in pydantic's terms (gt, ge, le)."""

_HOLDS = {
    "gt": lambda v, x: v > x,
    "ge": lambda v, x: v >= x,
    "le": lambda v, x: v <= x,
}
_SAYS = {"gt": "more than", "ge": "at least", "le": "at most"}
