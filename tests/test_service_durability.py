"""Workers as processes: a killed worker's successor recovers the table and keeps counting,
and two workers in one group report each loop once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from loopwatch.service.ship import ship
from loopwatch.testing.broker import Broker
from loopwatch.testing.worker import (
    free_port,
    read_until,
    running_worker,
    worker_process,
    worker_settings,
)
from loopwatch.topology import resolve_topology, write_simulation


def test_a_restarted_worker_recovers_state_and_never_reopens(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1)
    sim = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim")
    key = sim.topology.account.encode()
    records = sim.distinct_records()
    messages = [
        (key, orjson.dumps({"Records": records[i : i + 20]})) for i in range(0, len(records), 20)
    ]
    half = len(messages) // 2
    findings_topic = settings.topic("findings")

    with worker_process(settings) as first:
        kafka_broker.produce(settings.topic("cloudtrail"), messages[:half])
        read_until(
            kafka_broker,
            findings_topic,
            lambda fs: any(f["change"] == "escalated" for f in fs),
            timeout=20,
        )
        before = _traversals(first.json("/loops"))
        first.kill()  # no snapshot on the way out, no commit, no leaving the group

    with running_worker(settings, kafka_broker) as second:
        recovered = _traversals(second.json("/loops"))
        assert recovered >= 3  # the active incident came back from the table, before any input
        kafka_broker.produce(settings.topic("cloudtrail"), messages[half:])
        deadline = time.monotonic() + 20
        while _traversals(second.json("/loops")) <= before and time.monotonic() < deadline:
            time.sleep(0.2)
        after = _traversals(second.json("/loops"))
    assert after > before, (before, recovered, after)

    findings = read_until(kafka_broker, findings_topic, lambda fs: True, timeout=1)
    changes = [f["change"] for f in findings if f["kind"] == "loop"]
    assert changes.count("opened") == 1 and changes.count("escalated") == 1, changes


def test_a_clean_stop_saves_what_the_snapshot_interval_had_not(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    # With an hour between snapshots, only findings and the shutdown itself save state.
    settings = worker_settings(
        kafka_broker, tmp_path / "data", partitions=1, snapshot_interval_seconds=3600
    )
    sim = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim")
    with running_worker(settings, kafka_broker) as first:
        asyncio.run(ship([str(sim.out_dir)], settings))
        read_until(
            kafka_broker,
            settings.topic("findings"),
            lambda fs: any(f["status"] == "active" for f in fs),
            timeout=20,
        )
        time.sleep(0.5)  # the timer settles the last second
        before = _traversals(first.json("/loops"))
    with running_worker(settings, kafka_broker) as second:
        assert _traversals(second.json("/loops")) == before


def test_two_workers_in_one_group_report_each_loop_once(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=2)
    # These two ids hash to different partitions of two, so each worker gets one account.
    accounts = ("210000000011", "210000000012")
    sims = [
        write_simulation(resolve_topology("s3-self-loop"), tmp_path / account, account=account)
        for account in accounts
    ]
    other = settings.model_copy(update={"web_port": free_port()})  # same group, own web port
    with worker_process(settings, wait=False) as one, worker_process(other, wait=False) as two:
        two.wait_ready()
        one.wait_ready()
        asyncio.run(ship([str(s.out_dir) for s in sims], settings))
        findings = read_until(
            kafka_broker,
            settings.topic("findings"),
            lambda fs: {f["account"] for f in fs if f["status"] == "active"} == set(accounts),
            timeout=30,
        )
        held = [one.json("/health")["accounts"], two.json("/health")["accounts"]]
        codes = (one.terminate(), two.terminate())
        assert codes == (0, 0), two.output(8000)
    assert sorted(held) == [1, 1]
    opened = [(f["account"], f["incident"]) for f in findings if f["change"] == "opened"]
    assert sorted(opened) == sorted(set(opened)) and {a for a, _ in opened} == set(accounts)


def _traversals(loops: dict[str, Any]) -> int:
    (loop,) = loops["loops"]
    return int(loop["traversals"])
