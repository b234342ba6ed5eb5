"""One settings object, read from ``LOOPWATCH_*`` environment variables, built once at the edge.

Nothing reads the environment at import time; commands build ``Settings()`` and pass what the
parts need (the engine gets a plain ``DetectionConfig``).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from loopwatch.config import DetectionConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOPWATCH_", extra="ignore")

    horizon_seconds: float = Field(
        3600.0, gt=0, description="Observed edges unused this long drop out."
    )
    window_seconds: float = Field(
        300.0, gt=0, description="Activity window for traversals and gain."
    )
    active_after: int = Field(3, ge=1, description="Traversals that make a cycle active.")
    min_gain: float = Field(
        0.9, gt=0, description="Loop gain an active cycle needs, where measurable."
    )
    max_cycle_length: int = Field(
        8, ge=1, le=32, description="Longest cycle searched for, in hops."
    )
    rate_window_seconds: float = Field(
        60.0, gt=0, description="Window of the runaway-rate detector."
    )
    rate_floor_per_min: float = Field(60.0, ge=0)
    rate_growth: float = Field(2.0, gt=1)
    rate_growth_windows: int = Field(3, ge=1)
    rate_ceiling_per_min: float = Field(30000.0, gt=0)
    quiet_seconds: float = Field(
        900.0, gt=0, description="Quiet time after which an incident resolves."
    )

    def detection(self) -> DetectionConfig:
        return DetectionConfig(
            horizon=self.horizon_seconds,
            window=self.window_seconds,
            active_after=self.active_after,
            min_gain=self.min_gain,
            max_cycle_length=self.max_cycle_length,
            rate_window=self.rate_window_seconds,
            rate_floor_per_min=self.rate_floor_per_min,
            rate_growth=self.rate_growth,
            rate_growth_windows=self.rate_growth_windows,
            rate_ceiling_per_min=self.rate_ceiling_per_min,
            quiet=self.quiet_seconds,
        )
