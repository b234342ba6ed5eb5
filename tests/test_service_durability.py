"""Workers as processes: a killed worker's successor recovers the table and keeps counting,
and two workers in one group report each loop once.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from loopwatch.config import DetectionConfig
from loopwatch.service.processor import SETTLE_AFTER, Processor
from loopwatch.service.ship import ship
from loopwatch.service.topics import CLOUDTRAIL, FINDINGS
from loopwatch.testing.broker import Broker
from loopwatch.testing.changelog import comparable
from loopwatch.testing.estates import many_functions
from loopwatch.testing.worker import (
    free_port,
    read_all,
    read_until,
    running_worker,
    worker_process,
    worker_settings,
)
from loopwatch.topology import resolve_topology, write_simulation


@pytest.mark.parametrize("functions", [0, 3000])
def test_a_restarted_worker_recovers_state_and_never_reopens(
    kafka_broker: Broker, tmp_path: Path, functions: int
) -> None:
    # With ``functions``, the loop runs in a large account (a hop per function). It is then
    # snapshotted after every message (a snapshot sends only the parts that changed), so its
    # successor must recover exactly: the findings and state of a worker never stopped.
    exact = {"snapshot_interval_seconds": 1e-6} if functions else {}
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1, **exact)
    sim = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim")
    account = sim.topology.account
    key = account.encode()
    records = sim.distinct_records()
    large = many_functions(functions, account=account, start=min(r["eventTime"] for r in records))
    setup = [
        (key, orjson.dumps({"Records": large[i : i + 500]})) for i in range(0, len(large), 500)
    ]
    loop = [
        (key, orjson.dumps({"Records": records[i : i + 20]})) for i in range(0, len(records), 20)
    ]
    messages = setup + loop
    half = len(setup) + len(loop) // 2  # the worker is killed halfway through the loop
    findings_topic = settings.topic("findings")

    with worker_process(settings) as first:
        kafka_broker.produce(settings.topic("cloudtrail"), messages[:half])
        read_until(
            kafka_broker,
            findings_topic,
            lambda fs: any(f["change"] == "escalated" for f in fs),
            timeout=30,
        )
        before = _traversals(first.json("/loops"))
        first.kill()  # no snapshot on the way out, no commit, no leaving the group

    loops, state = _uninterrupted(messages)
    with running_worker(settings, kafka_broker) as second:
        recovered = _traversals(second.json("/loops"))
        assert recovered >= 3  # the active incident came back from the table, before any input
        held = second.service.processor.accounts[account].state
        assert held.engine.graph.nx.number_of_edges() >= functions  # and the large account whole
        kafka_broker.produce(settings.topic("cloudtrail"), messages[half:])
        second.wait_applied(kafka_broker)  # every message applied, the last second settled
        assert held.offsets.get((CLOUDTRAIL, 0)) == len(messages) - 1, held.offsets
        after = _traversals(second.json("/loops"))
        final = _timeless(comparable(held))
        # What the settle published is on its way: stop only once it is there.
        read_until(kafka_broker, findings_topic, lambda fs: len(_loops(fs)) >= len(loops))
    assert after > before, (before, recovered, after)

    findings = read_all(kafka_broker, findings_topic)  # the workers are gone: this is all
    changes = [change for _, change in _loops(findings)]
    assert changes.count("opened") == 1 and changes.count("escalated") == 1, changes
    if functions:
        assert _loops(findings) == loops
        assert final == _timeless(comparable(state))


def _loops(findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The loop findings' (incident, change), in order."""
    return [(f["incident"], f["change"]) for f in findings if f["kind"] == "loop"]


def _uninterrupted(messages: list[tuple[bytes, bytes]]) -> tuple[list[tuple[str, str]], Any]:
    """The loop findings (incident, change) and the account state of a worker that never
    stopped, fed the same messages (the worker's own per-message code, without Kafka)."""
    worker = Processor(DetectionConfig(), snapshot_interval=3600.0, restore=lambda _: {})
    wall = time.time()
    out = [
        worker.process(CLOUDTRAIL, 0, offset, key, value, now=wall)
        for offset, (key, value) in enumerate(messages)
    ]
    out.append(worker.tick(wall + SETTLE_AFTER))
    findings = [orjson.loads(m.value) for o in out for m in o.messages if m.topic == FINDINGS]
    loops = [(f["incident"], f["change"]) for f in findings if f["kind"] == "loop"]
    (tracked,) = worker.accounts.values()
    return loops, tracked.state


def _timeless(state: dict[str, Any]) -> dict[str, Any]:
    """What an account's state holds whatever the wall clock did: every count and id, not
    the measurements the timer happened to make (live, a second may be settled early and
    measured again) nor the timers it moved."""
    engine = state["engine"]
    return {
        "offsets": state["offsets"],
        "recent": state["recent"],
        **{part: engine[part] for part in ("graph", "identities", "rates", "cycles")},
    }


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
        first.wait_applied(kafka_broker)  # every message applied, the last second settled
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


def test_a_worker_killed_mid_batch_applies_every_message_exactly_once(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    # One record a message, so the fast path's agent takes them many to a batch and acks a
    # batch only once its output is sent. Killed while batches flow, once it has observably
    # committed part of them, its successor must end where a worker never stopped ends: a
    # message whose offset was committed before it was applied would be lost, one applied
    # twice would count twice.
    settings = worker_settings(
        kafka_broker, tmp_path / "data", partitions=1, snapshot_interval_seconds=1e-6
    )
    assert settings.fast_path
    sim = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim")
    account = sim.topology.account
    key = account.encode()
    records = sim.distinct_records()
    large = many_functions(3000, account=account, start=min(r["eventTime"] for r in records))
    messages = [(key, orjson.dumps(record)) for record in [*large, *records]]
    topic = settings.topic("cloudtrail")
    split = len(large) + len(records) // 2  # the rest is produced once the first worker is dead
    loops, state = _uninterrupted(messages)

    with worker_process(settings) as first, ThreadPoolExecutor(1) as pool:
        # One by one, each acked: slow, so the worker applies them while they still come.
        sending = pool.submit(kafka_broker.produce, topic, messages[:split], timeout=180)
        committed = _committed_past(kafka_broker, topic, settings.app_id, len(large) // 2)
        first.kill()  # mid-stream: no snapshot on the way out, no commit, no leaving the group
        sending.result()
    assert committed < len(messages)

    with running_worker(settings, kafka_broker) as second:
        held = second.service.processor.accounts[account].state
        kafka_broker.produce(topic, messages[split:], timeout=60)
        # Every message applied, and its last second settled by the quick settle: the loop's
        # escalation comes from that settle, so a worker stopped before it would never say it.
        second.wait_applied(kafka_broker, timeout=120)
        assert held.offsets.get((CLOUDTRAIL, 0)) == len(messages) - 1, held.offsets
        final = _timeless(comparable(held))
        # The settle's findings may still be on their way: stop only once they are there.
        read_until(
            kafka_broker, settings.topic("findings"), lambda fs: len(_loops(fs)) >= len(loops)
        )

    findings = read_all(kafka_broker, settings.topic("findings"))  # the workers are gone
    assert _loops(findings) == loops
    assert final == _timeless(comparable(state))


def _committed_past(broker: Broker, topic: str, group: str, offset: int) -> int:
    """``group``'s committed offset on partition 0 of ``topic`` once it is ``offset`` or more,
    polled; fails after a deadline with the last one seen."""
    deadline = time.monotonic() + 120
    while (committed := broker.committed(topic, group).get(0, 0)) < offset:
        assert time.monotonic() < deadline, f"committed {committed}, not {offset}, in 120 s"
        time.sleep(0.1)
    return committed
