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

    # -- the service ---------------------------------------------------------------------------
    kafka_broker: str | None = Field(
        None,
        description="Kafka bootstrap server, host:port. Unset: `loopwatch up` starts a bundled one.",
    )
    app_id: str = Field(
        "loopwatch", description="Faust app id: the consumer group and table prefix."
    )
    topic_prefix: str = Field(
        "loopwatch",
        description="Topics are <prefix>.cloudtrail, .invocations, .findings, .deadletter.",
    )
    partitions: int = Field(4, ge=1, description="Partitions of the topics the service declares.")
    replication_factor: int = Field(1, ge=1)
    web_host: str = Field(
        "127.0.0.1", description="Address of /health, /loops, /graph and /metrics."
    )
    web_port: int = Field(6066, ge=0, le=65535)
    data_dir: str = Field("/tmp/loopwatch", description="Faust's data directory.")
    flush_interval_seconds: float = Field(
        0.25, gt=0, description="How often pending cycle measurements are settled (wall clock)."
    )
    snapshot_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="How often changed account state is written to its changelogged table.",
    )

    def topic(self, name: str) -> str:
        """``cloudtrail`` → ``loopwatch.cloudtrail`` (with the configured prefix)."""
        return f"{self.topic_prefix}.{name}"

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
