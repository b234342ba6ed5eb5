"""What a worker has done, exposed for Prometheus through ``prometheus_client``.

    processor ──metrics.records_in[topic] += n──► Counters (plain ``collections.Counter``)
    agent ──observe_latency(now - kafka timestamp)──► Histogram produce→finding
    GET /metrics ──render(accounts, now, …)──► this worker's own CollectorRegistry ──► text

The processor counts into plain Counters: a dict update costs nothing per record, and the
processor stays free of Prometheus. They are read, with the gauges computed at scrape time
(lag needs the wall clock of the scrape), by a collector registered in a registry of this
``Metrics`` alone: never the global one, since several workers run in one test process and each
must report only itself. Counters only go up for the life of the process, as Prometheus
expects; a restart starts them at zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp adds the charset itself
# Produce→finding latency: from well under a second (a loop closing inside one message) to the
# minutes a late CloudTrail file takes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True, slots=True)
class Scrape:
    """What only the service knows at scrape time: the wall clock, the accounts' event times
    (account → newest event time, epoch seconds) and the unread input messages."""

    now: float
    accounts: int
    account_times: Mapping[str, float] = field(default_factory=dict)
    input_lag: int | None = None


@dataclass(slots=True, eq=False)
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
    truncated: Counter[str] = field(default_factory=Counter)
    """Records used only in part, by event name: they named more targets than a record may
    (``loopwatch.events.cloudtrail.base.target_limit``), and the rest were dropped."""
    state_refused: int = 0
    """Entries of the account-state table not sealed with this deployment's secret, ignored."""
    evictions: int = 0
    """Accounts evicted from memory, idle past the horizon (their state stays in the table)."""
    restores: int = 0
    """Accounts read back from the table for a message (evicted, or saved before a start)."""
    timer_visits: int = 0
    """Accounts the wall-clock timer looked at: only those with something due."""
    findings: Counter[str] = field(default_factory=Counter)
    """Findings published, by ``loop_opened`` / ``loop_escalated`` / ``loop_resolved`` / ``runaway``."""
    newest_event_time: float | None = None
    registry: CollectorRegistry = field(init=False)
    latency: Histogram = field(init=False)
    """Seconds from a message's Kafka timestamp to the publication of a finding it caused."""
    _scrape: Scrape = field(init=False)

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "loopwatch_finding_latency_seconds",
            "Wall clock at a finding's publication minus the Kafka timestamp of the message"
            " that produced it.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._scrape = Scrape(now=0.0, accounts=0)
        self.registry.register(_Collector(self))

    def saw_event_time(self, time: float) -> None:
        if self.newest_event_time is None or time > self.newest_event_time:
            self.newest_event_time = time

    def observe_latency(self, seconds: float) -> None:
        # Producer and worker clocks differ by milliseconds: a negative latency is zero.
        self.latency.observe(max(0.0, seconds))

    def processing_lag(self, now: float) -> float:
        """Wall clock minus the newest event time seen (0 before any): what /health says."""
        return 0.0 if self.newest_event_time is None else max(0.0, now - self.newest_event_time)

    def render(
        self,
        *,
        accounts: int,
        now: float,
        account_times: Mapping[str, float] | None = None,
        input_lag: int | None = None,
    ) -> str:
        """The Prometheus text exposition; ``now`` is wall-clock epoch seconds."""
        self._scrape = Scrape(now, accounts, account_times or {}, input_lag)
        return generate_latest(self.registry).decode()


class _Collector(Collector):
    """The Counters and scrape-time gauges of one ``Metrics``, as metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m, scrape = self.metrics, self.metrics._scrape
        yield _counter("loopwatch_messages_in", "Kafka messages read.", "topic", m.messages_in)
        yield _counter(
            "loopwatch_records_in", "Objects decoded from messages.", "topic", m.records_in
        )
        yield _counter(
            "loopwatch_deadletter",
            "Messages, lines and records sent to the dead-letter topic.",
            "kind",
            m.deadletter,
        )
        yield _counter(
            "loopwatch_failures",
            "Failures caught so that the worker went on (bugs, not bad input).",
            "where",
            m.failures,
        )
        yield _counter("loopwatch_findings", "Findings published.", "kind", m.findings)
        yield _counter(
            "loopwatch_truncated_records",
            "Records that named more targets than a record may: facts for the first ones only.",
            "event",
            m.truncated,
        )
        refused = CounterMetricFamily(
            "loopwatch_state_refused",
            "Account-state entries read back without this deployment's seal, ignored.",
        )
        refused.add_metric([], m.state_refused)
        yield refused
        yield _total(
            "loopwatch_accounts_evicted",
            "Accounts evicted from memory, idle past the horizon (their state stays in the table).",
            m.evictions,
        )
        yield _total(
            "loopwatch_accounts_restored",
            "Accounts read back from the table for a message (evicted, or saved before a start).",
            m.restores,
        )
        yield _total(
            "loopwatch_timer_visits",
            "Accounts the wall-clock timer looked at (only those with something due).",
            m.timer_visits,
        )
        yield GaugeMetricFamily(
            "loopwatch_processing_lag_seconds",
            "Wall clock minus the newest event time seen.",
            value=m.processing_lag(scrape.now),
        )
        per_account = GaugeMetricFamily(
            "loopwatch_account_lag_seconds",
            "Wall clock minus the account's newest event time.",
            labels=["account"],
        )
        for account, time in sorted(scrape.account_times.items()):
            per_account.add_metric([account], max(0.0, scrape.now - time))
        yield per_account
        if scrape.input_lag is not None:
            yield GaugeMetricFamily(
                "loopwatch_input_lag_messages",
                "Messages not yet read on the assigned input partitions (as /health's lag).",
                value=scrape.input_lag,
            )
        yield GaugeMetricFamily(
            "loopwatch_accounts",
            "Accounts whose state this worker holds in memory (idle ones are evicted).",
            value=scrape.accounts,
        )


def _total(name: str, help_: str, value: int) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_)
    family.add_metric([], value)
    return family


def _counter(name: str, help_: str, label: str, values: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family
