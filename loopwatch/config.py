"""The detection knobs of DESIGN §5, as one frozen value the pure engine is built with.

Settings from the environment (``LOOPWATCH_*``) are read once, at the edge, by
``loopwatch.settings`` and turned into this; the engine never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        if self.window <= 0 or self.horizon <= 0 or self.rate_window <= 0:
            raise ValueError("windows and horizon must be positive seconds")
        if self.active_after < 1:
            raise ValueError("active_after must be at least 1")
        if self.max_cycle_length < 1:
            raise ValueError("max_cycle_length must be at least 1")
