"""One settings object, read from ``LOOPWATCH_*`` environment variables, built once at the edge.

Nothing reads the environment at import time; commands build ``Settings()`` and pass what the
parts need (the engine gets a plain ``DetectionConfig``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    kafka_flavor: Literal["kafka", "tansu"] = Field(
        "kafka",
        description="tansu: short group sessions and one record per producer batch, which the"
        " bundled Tansu broker needs; kafka: Faust's defaults (Apache Kafka needs sessions ≥ 6 s).",
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

    # -- actions: alerts and throttling (loopwatch.actions) ------------------------------------
    # Lists are comma-separated in the environment (NoDecode: not JSON), as docker-compose.yml
    # documents them. Webhook URLs are secrets too: a Slack incoming-webhook URL is its own key.
    alert_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Webhook URLs, comma-separated: hooks.slack.com → Slack, others → signed JSON.",
    )
    alert_secret: SecretStr | None = Field(
        None, description="Shared secret of the generic webhook's HMAC-SHA256 signature."
    )
    alert_allow_http: bool = Field(
        False,
        description="Allow http:// alert URLs to hosts other than this machine (alerts and"
        " their signature then cross the network unencrypted).",
    )
    alert_attempt_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest wait for one delivery attempt's answer."
    )
    alert_deadline_seconds: float = Field(
        30.0, gt=0, description="Total time an alert may take to deliver, retries included."
    )
    alert_backoff_seconds: float = Field(
        0.5, gt=0, description="First retry delay; doubles each attempt (with jitter)."
    )
    alert_backoff_max_seconds: float = Field(8.0, gt=0, description="Longest retry delay.")
    alert_max_pending: int = Field(
        1000, ge=1, description="Alerts waiting per sink before new ones go to the dead letter."
    )
    alert_dedupe_size: int = Field(
        10000, ge=1, description="Idempotency keys remembered to fold repeated findings."
    )
    alert_latent: bool = Field(
        False,
        description="Also alert on loops found latent; by default alerts start once a loop is active.",
    )
    public_url: str | None = Field(
        None,
        description="Base URL people reach the web views at (links to /loops); default the web address.",
    )
    throttle_mode: Literal["off", "dry-run", "enforce"] = Field(
        "dry-run", description="off | dry-run (say what would be done) | enforce."
    )
    throttle_policy: Literal["all", "highest-rate"] = Field(
        "all", description="Throttle every function of an active cycle, or the busiest one."
    )
    protected_functions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Never throttled: function names or ARNs, fnmatch patterns allowed.",
    )
    throttle_role_template: str | None = Field(
        None,
        description="Role assumed per account, e.g. arn:aws:iam::{account}:role/loopwatch-throttle.",
    )
    throttle_max_per_hour: int = Field(
        10, ge=0, description="Throttles allowed in any hour: forged input cannot throttle more."
    )
    throttle_deadline_seconds: float = Field(
        20.0, gt=0, description="Total time for one function's AWS calls, retries included."
    )
    throttle_disable_mappings: bool = Field(
        False, description="Also disable the event source mappings of mapping-driven loops."
    )
    state_secret: SecretStr | None = Field(
        None,
        description="Key (16+ characters) every worker signs its findings and audit records"
        " with; records read back without a valid signature are dead-lettered. Needed for"
        " enforce mode.",
    )
    ledger_path: str | None = Field(
        None,
        description="JSON file of what loopwatch holds; default <data_dir>/actions-ledger.json.",
    )

    @field_validator("alert_urls", "protected_functions", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
