"""The worker's Prometheus metrics, read back with prometheus_client's own parser."""

from __future__ import annotations

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from loopwatch.service.metrics import LATENCY_BUCKETS, Metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_keep_their_names_and_labels() -> None:
    metrics = Metrics()
    metrics.messages_in["cloudtrail"] += 2
    metrics.records_in["cloudtrail"] += 1000
    metrics.records_in["invocations"] += 7
    metrics.deadletter["record"] += 3
    metrics.failures["tick"] += 1
    metrics.findings["loop_opened"] += 1
    got = samples(metrics.render(accounts=2, now=100.0))
    assert got[("loopwatch_messages_in_total", (("topic", "cloudtrail"),))] == 2
    assert got[("loopwatch_records_in_total", (("topic", "cloudtrail"),))] == 1000
    assert got[("loopwatch_records_in_total", (("topic", "invocations"),))] == 7
    assert got[("loopwatch_deadletter_total", (("kind", "record"),))] == 3
    assert got[("loopwatch_failures_total", (("where", "tick"),))] == 1
    assert got[("loopwatch_findings_total", (("kind", "loop_opened"),))] == 1
    assert got[("loopwatch_accounts", ())] == 2
    # The text keeps the exact series the dashboards and tests read.
    text = metrics.render(accounts=2, now=100.0)
    assert 'loopwatch_deadletter_total{kind="record"} 3' in text
    assert "# TYPE loopwatch_processing_lag_seconds gauge" in text


def test_latency_histogram_counts_each_finding_in_its_bucket() -> None:
    metrics = Metrics()
    for seconds in (0.02, 0.3, 0.3, 42.0, -0.001):
        metrics.observe_latency(seconds)
    got = samples(metrics.render(accounts=0, now=0.0))
    name = "loopwatch_finding_latency_seconds"
    assert got[(f"{name}_count", ())] == 5
    assert abs(got[(f"{name}_sum", ())] - 42.62) < 1e-9  # the negative one counts as 0
    assert got[(f"{name}_bucket", (("le", "0.01"),))] == 1
    assert got[(f"{name}_bucket", (("le", "0.025"),))] == 2
    assert got[(f"{name}_bucket", (("le", "0.5"),))] == 4
    assert got[(f"{name}_bucket", (("le", "30.0"),))] == 4
    assert got[(f"{name}_bucket", (("le", "60.0"),))] == 5
    assert len([k for k in got if k[0] == f"{name}_bucket"]) == len(LATENCY_BUCKETS) + 1


def test_lag_per_account_and_overall_at_the_scrape_time() -> None:
    metrics = Metrics()
    metrics.saw_event_time(1000.0)
    metrics.saw_event_time(990.0)  # older: the newest stays
    text = metrics.render(
        accounts=2,
        now=1010.0,
        account_times={"111122223333": 1000.0, "444455556666": 400.0},
        input_lag=12,
    )
    got = samples(text)
    assert got[("loopwatch_processing_lag_seconds", ())] == 10.0 == metrics.processing_lag(1010.0)
    assert got[("loopwatch_account_lag_seconds", (("account", "111122223333"),))] == 10.0
    assert got[("loopwatch_account_lag_seconds", (("account", "444455556666"),))] == 610.0
    assert got[("loopwatch_input_lag_messages", ())] == 12
    # Without a measurement of the input lag, the gauge is left out rather than made up.
    assert ("loopwatch_input_lag_messages", ()) not in samples(metrics.render(accounts=2, now=0))


def test_each_worker_has_its_own_registry_and_the_global_one_stays_clean() -> None:
    one, two = Metrics(), Metrics()
    one.messages_in["cloudtrail"] += 5
    one.observe_latency(1.0)
    assert (
        samples(two.render(accounts=0, now=0.0))[("loopwatch_finding_latency_seconds_count", ())]
        == 0
    )
    assert ("loopwatch_messages_in_total", (("topic", "cloudtrail"),)) not in samples(
        two.render(accounts=0, now=0.0)
    )
    assert (
        prometheus_client.REGISTRY.get_sample_value("loopwatch_finding_latency_seconds_count")
        is None
    )
