"""One settings object, read from ``LOOPWATCH_*`` environment variables, built once at the edge.

    init values  >  LOOPWATCH_* environment  >  .env file  >  defaults

The ``.env`` file is ``./.env`` (the working directory's), or the file LOOPWATCH_ENV_FILE names.
Nothing reads the environment at import time; commands build ``Settings()`` and pass what the
parts need (the engine gets a plain ``DetectionConfig``). ``docs/settings.md`` documents every
field; ``loopwatch config --markdown`` writes it, and a test keeps it in step with this class.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from loopwatch.config import BOUNDS, DetectionConfig
from loopwatch.errors import Problem
from loopwatch.events import arns

ENV_PREFIX = "LOOPWATCH_"
ENV_FILE_VARIABLE = "LOOPWATCH_ENV_FILE"
DEFAULT_ENV_FILE = ".env"


class EnvFileMissing(Problem):
    """LOOPWATCH_ENV_FILE names a file that is not there."""


def env_file() -> Path | None:
    """The ``.env`` file settings are read from: LOOPWATCH_ENV_FILE, else ``./.env``; None
    when there is none. Raises EnvFileMissing when LOOPWATCH_ENV_FILE names no file (a
    silently ignored typo would leave every setting at its default)."""
    named = os.environ.get(ENV_FILE_VARIABLE)
    if named:
        path = Path(named)
        if not path.is_file():
            raise EnvFileMissing(
                f"{ENV_FILE_VARIABLE}={named}: no such file; name an existing .env file, or"
                f" unset it to read ./{DEFAULT_ENV_FILE}"
            )
        return path
    path = Path(DEFAULT_ENV_FILE)
    return path if path.is_file() else None


def list_items(text: str) -> list[str]:
    """The items of a list setting: ``a,b`` (comma-separated, as documented) or a JSON list of
    strings (``["a", "b"]``, as other tools write lists), each stripped; blank text is no items.

    Raises ValueError for a malformed JSON list, an item that is not a string, or an empty
    item (``a,,b``): a typo must not quietly shorten the list.
    """
    text = text.strip()
    if not text:
        return []
    items = _json_list(text) if text.startswith("[") else text.split(",")
    for number, item in enumerate(items, 1):
        if not item.strip():
            raise ValueError(f"item {number} is empty")
    return [item.strip() for item in items]


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"not a JSON list: {str(exc)[:80]}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("not a JSON list of strings")
    return value


def default_data_dir() -> str:
    """The user's state directory (XDG Base Directory): ``$XDG_STATE_HOME/loopwatch``, else
    ``~/.local/state/loopwatch``. The spec says a relative XDG_STATE_HOME is to be ignored."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return str(base / "loopwatch")


_D = DetectionConfig()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file is looked up per Settings() call, not fixed in model_config at import: the
        # working directory and LOOPWATCH_ENV_FILE are the caller's at the time.
        dotenv = DotEnvSettingsSource(settings_cls, env_file=env_file())
        return init_settings, env_settings, dotenv, file_secret_settings

    # Detection knobs: defaults and validation are DetectionConfig's (one place); a bad value
    # is refused when Settings is built, with DetectionConfig's reason.
    horizon_seconds: float = Field(
        _D.horizon,
        **BOUNDS["horizon"],
        description="Observed edges unused this long drop out; a worker's account without a"
        " message for this long (wall clock) and no incident open leaves its memory (kept in"
        " the state table).",
    )
    window_seconds: float = Field(
        _D.window, **BOUNDS["window"], description="Activity window for traversals and gain."
    )
    active_after: int = Field(
        _D.active_after,
        **BOUNDS["active_after"],
        description="Traversals that make a cycle active.",
    )
    min_gain: float = Field(
        _D.min_gain,
        **BOUNDS["min_gain"],
        description="Loop gain an active cycle needs, where measurable.",
    )
    max_cycle_length: int = Field(
        _D.max_cycle_length,
        **BOUNDS["max_cycle_length"],
        description="Longest cycle searched for, in hops.",
    )
    rate_window_seconds: float = Field(
        _D.rate_window, **BOUNDS["rate_window"], description="Window of the runaway-rate detector."
    )
    rate_floor_per_min: float = Field(
        _D.rate_floor_per_min,
        **BOUNDS["rate_floor_per_min"],
        description="Below this rate a function's growth is not runaway.",
    )
    rate_growth: float = Field(
        _D.rate_growth,
        **BOUNDS["rate_growth"],
        description="Window-over-window growth that counts as growing.",
    )
    rate_growth_windows: int = Field(
        _D.rate_growth_windows,
        **BOUNDS["rate_growth_windows"],
        description="Consecutive growing windows that make a runaway.",
    )
    rate_ceiling_per_min: float = Field(
        _D.rate_ceiling_per_min,
        **BOUNDS["rate_ceiling_per_min"],
        description="A function above this rate is runaway whatever its growth.",
    )
    quiet_seconds: float = Field(
        _D.quiet, **BOUNDS["quiet"], description="Quiet time after which an incident resolves."
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
    replication_factor: int = Field(
        1, ge=1, description="Replicas of the topics the service declares (at most the brokers)."
    )
    web_host: str = Field(
        "127.0.0.1", description="Address of /health, /loops, /graph and /metrics."
    )
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the web views.")
    web_token: SecretStr | None = Field(
        None,
        description="When set, /loops, /graph, /metrics and / need `Authorization: Bearer <token>`;"
        " /health stays open for probes.",
    )
    data_dir: str = Field(
        default_factory=default_data_dir,
        description="Faust's data and the actions ledger; the Docker image sets /var/lib/loopwatch.",
        json_schema_extra={
            "default_text": "$XDG_STATE_HOME/loopwatch, else ~/.local/state/loopwatch"
        },
    )
    flush_interval_seconds: float = Field(
        0.25, gt=0, description="How often pending cycle measurements are settled (wall clock)."
    )
    fast_path: bool = Field(
        True,
        description="Run the worker on fast_faust's trimmed consumer, conductor and stream;"
        " false: stock Faust throughout but for commits, which wait for the producer buffer"
        " either way (same results, more per-message overhead).",
    )
    snapshot_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="How often changed account state is written to its changelogged table.",
    )

    # -- actions: alerts and throttling (loopwatch.actions) ------------------------------------
    # Lists are comma-separated in the environment, as docker-compose.yml documents them, or
    # JSON lists (NoDecode: list_items reads both). Webhook URLs are secrets too: a Slack
    # incoming-webhook URL is its own key.
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
        description="Never throttled: function names or ARNs, comma-separated, fnmatch patterns"
        " allowed; a qualifier (name:prod, …:$LATEST) protects its function. A pattern that can"
        " match no function is refused.",
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
    act_after_seconds: float = Field(
        600.0,
        ge=0,
        le=86400,
        description="Throttle only once an active verdict has held this long (wall time; event"
        " time in `replay --act`), so late CloudTrail files can revise it first; alerts go out"
        " at once. 0: throttle at once. See docs/acting.md.",
    )
    act_max_age_seconds: float = Field(
        900.0,
        gt=0,
        le=7 * 86400,
        description="A live finding whose records are older than this (event time against the"
        " wall clock) alerts as history and is never throttled: a re-read or replayed topic"
        " cannot act on the past. See docs/acting.md.",
    )
    inventory: str = Field(
        "off",
        description="The configuration that predates the logs: off, aws (read each"
        " account seen through boto3, the throttle's role template for other accounts), or the"
        " path of a snapshot written by `loopwatch inventory --out`.",
    )
    inventory_refresh_seconds: float = Field(
        900.0, gt=0, description="With LOOPWATCH_INVENTORY=aws: how often an account is read again."
    )
    inventory_lookup_seconds: float = Field(
        60.0,
        gt=0,
        description="With LOOPWATCH_INVENTORY=aws: an unconfirmed loop looks its account up at"
        " once, at most this often per account.",
    )
    inventory_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With LOOPWATCH_INVENTORY=aws: regions to read, comma-separated; default"
        " AWS_DEFAULT_REGION.",
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

    @field_validator("alert_urls", "protected_functions", "inventory_regions", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return list_items(value) if isinstance(value, str) else value

    @field_validator("protected_functions")
    @classmethod
    def _each_can_match(cls, patterns: list[str]) -> list[str]:
        # A pattern that matches nothing protects nothing, silently: refuse it where it is set.
        for pattern in patterns:
            problem = arns.function_pattern_problem(pattern)
            if problem is not None:
                raise ValueError(f"{pattern!r} can match no function: {problem}")
        return patterns

    @field_validator("web_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes `${LOOPWATCH_WEB_TOKEN:-}` through as "": no token, not an empty one.
        return None if value == "" else value

    def topic(self, name: str) -> str:
        """``cloudtrail`` → ``loopwatch.cloudtrail`` (with the configured prefix)."""
        return f"{self.topic_prefix}.{name}"

    @model_validator(mode="after")
    def _detection_is_valid(self) -> Settings:
        self.detection()  # DetectionConfig validates; its ValueError becomes a ValidationError
        return self

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
