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
        """The one place detection knobs are checked (``Settings`` builds one to validate)."""
        for name in ("horizon", "window", "rate_window", "quiet"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.active_after < 1:
            raise ValueError("active_after must be at least 1")
        if not 1 <= self.max_cycle_length <= 32:
            raise ValueError("max_cycle_length must be from 1 to 32")
        if not self.min_gain > 0:
            raise ValueError("min_gain must be positive")
        if not self.rate_growth > 1:
            raise ValueError("rate_growth must be more than 1")
        if self.rate_growth_windows < 1:
            raise ValueError("rate_growth_windows must be at least 1")
        if not self.rate_floor_per_min >= 0 or not self.rate_ceiling_per_min > 0:
            raise ValueError("rate_floor_per_min must be 0 or more, rate_ceiling_per_min positive")
