"""Nothing stops the worker: poison of every kind that once crashed or skewed it, then a real
loop in the same account. The loop is reported exactly as replay reports it, the poison is
counted and dead-lettered (one dead letter per reason and message, each small enough for
Kafka), and the worker is alive and well."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from loopwatch.detect.findings import finding_json
from loopwatch.events import records
from loopwatch.replay import replay
from loopwatch.service.ship import ship
from loopwatch.testing.broker import Broker
from loopwatch.testing.poison import poison_messages
from loopwatch.testing.verdicts import Verdict
from loopwatch.testing.worker import read_until, running_worker, worker_settings
from loopwatch.topology import resolve_topology, write_simulation

ACCOUNT = "320000000001"
KAFKA_MESSAGE_LIMIT = 1024 * 1024


def test_poison_then_a_real_loop(kafka_broker: Broker, tmp_path: Path) -> None:
    sim = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim", account=ACCOUNT)
    valid = next(
        rec
        for rec in sim.distinct_records()
        if rec["eventName"] == "PutObject" and records.parse(rec)[1]
    )
    poison = poison_messages(valid)
    replayed: list[dict[str, Any]] = []
    report = replay(
        [str(sim.out_dir)], on_finding=lambda f: replayed.append(finding_json(f, ACCOUNT))
    )
    expected = Verdict.of(replayed, report.loops)
    assert expected.ever_active  # there is a loop to miss

    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1)
    with running_worker(settings, kafka_broker) as worker:
        placed = kafka_broker.produce(
            settings.topic("cloudtrail"), [(ACCOUNT.encode(), value) for _, value in poison]
        )
        shipped = asyncio.run(ship([str(sim.out_dir)], settings)).records
        processor = worker.service.processor

        async def settled() -> bool:
            tracked = processor.accounts.get(ACCOUNT)
            read = processor.metrics.messages_in["cloudtrail"]
            return (
                tracked is not None
                and not tracked.unsettled
                and read >= len(poison) + 1
                and (sum(processor.metrics.records_in.values()) >= shipped)
            )

        deadline = time.monotonic() + 120  # bounded; generous for a loaded CI machine
        while not worker.call(settled):
            assert time.monotonic() < deadline, "the worker did not read everything"
            time.sleep(0.2)
        findings = read_until(
            kafka_broker,
            settings.topic("findings"),
            lambda fs: any(f.get("status") == "active" for f in fs),
            timeout=60,
        )
        # Committed offsets: the dead letters of those messages were flushed before.
        worker.wait_applied(kafka_broker)
        dead = [
            (m.value, orjson.loads(m.value))
            for m in kafka_broker.read_to_end(settings.topic("deadletter"))
        ]
        status, _ = worker.get("/health")
        metrics = worker.get("/metrics")[1].decode()

        async def incidents() -> list[Any]:
            return list(processor.accounts[ACCOUNT].state.engine.incidents.incidents.values())

        live = Verdict.of(findings, worker.call(incidents))

    assert status == 200  # alive and ready
    assert live == expected  # the poison changed no incident
    assert (
        "loopwatch_failures_total"
        not in metrics.split("# TYPE loopwatch_failures_total")[1].split("#")[0]
    )
    # Every poison message was dead-lettered, each at most once per reason, each within Kafka's
    # message size (the 3 MB record and the bomb's bytes cut, with a note of their real size).
    by_offset = Counter(d["offset"] for _, d in dead if d["topic"] == "cloudtrail")
    for (name, _), (_, offset) in zip(poison, placed, strict=True):
        letters = [d for _, d in dead if d["offset"] == offset]
        reasons = [d["reason"] for d in letters]
        assert letters, f"{name}: not dead-lettered"
        assert len(reasons) == len(set(reasons)), f"{name}: {reasons}"
    assert max(len(raw) for raw, _ in dead) < KAFKA_MESSAGE_LIMIT
    (many,) = [d for _, d in dead if d.get("count") == 20_000]
    assert many["reason"] == "not a JSON object but int"
    assert any("truncated" in d for _, d in dead)
    assert sum(by_offset.values()) == len(dead)
