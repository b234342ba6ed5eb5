"""Counters of the service, and their Prometheus text exposition (format 0.0.4).

Hand-written rather than prometheus_client: a handful of counters do not justify a dependency,
and the text format is stable. Counters only go up for the life of the process, as Prometheus
expects; a restart starts them at zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Metrics:
    """What one worker has done since it started. Updated from a single event loop: no locks."""

    records_in: Counter[str] = field(default_factory=Counter)
    """Objects decoded from messages, by input topic (valid or not)."""
    messages_in: Counter[str] = field(default_factory=Counter)
    deadletter: Counter[str] = field(default_factory=Counter)
    """Dead-lettered items by kind: ``message`` (unreadable), ``line`` (bad JSON line),
    ``record`` (not a usable record)."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failures caught at a boundary so the worker goes on, by where: ``message``, ``fact``,
    ``tick``, ``agent``: each is a bug to report, never bad input alone."""
    findings: Counter[str] = field(default_factory=Counter)
    """Findings published, by ``loop_opened`` / ``loop_escalated`` / ``loop_resolved`` / ``runaway``."""
    newest_event_time: float | None = None

    def saw_event_time(self, time: float) -> None:
        if self.newest_event_time is None or time > self.newest_event_time:
            self.newest_event_time = time

    def render(self, *, accounts: int, now: float) -> str:
        """The Prometheus text exposition; ``now`` is wall-clock epoch seconds."""
        lines: list[str] = []
        _counter(
            lines, "loopwatch_messages_in_total", "Kafka messages read.", "topic", self.messages_in
        )
        _counter(
            lines,
            "loopwatch_records_in_total",
            "Objects decoded from messages.",
            "topic",
            self.records_in,
        )
        _counter(
            lines,
            "loopwatch_deadletter_total",
            "Messages, lines and records sent to the dead-letter topic.",
            "kind",
            self.deadletter,
        )
        _counter(
            lines,
            "loopwatch_failures_total",
            "Failures caught so that the worker went on (bugs, not bad input).",
            "where",
            self.failures,
        )
        _counter(lines, "loopwatch_findings_total", "Findings published.", "kind", self.findings)
        lag = 0.0 if self.newest_event_time is None else max(0.0, now - self.newest_event_time)
        lines += [
            "# HELP loopwatch_processing_lag_seconds Wall clock minus the newest event time seen.",
            "# TYPE loopwatch_processing_lag_seconds gauge",
            f"loopwatch_processing_lag_seconds {lag:.3f}",
            "# HELP loopwatch_accounts Accounts whose state this worker holds.",
            "# TYPE loopwatch_accounts gauge",
            f"loopwatch_accounts {accounts}",
        ]
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_: str, label: str, values: Counter[str]) -> None:
    lines += [f"# HELP {name} {help_}", f"# TYPE {name} counter"]
    for value, count in sorted(values.items()):
        lines.append(f'{name}{{{label}="{_escape(value)}"}} {count}')


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
