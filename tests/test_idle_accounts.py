"""Idle accounts leave a worker's memory, and its timer looks only at accounts with something due
(issue 17): an account idle for the horizon with nothing waiting is evicted (its state stays in
the table), and a message for it restores it with the same verdicts as if it had stayed.

The Processor tests run on a wall clock they pass in; the worker tests run ``loopwatch worker``
processes against the real broker with 20,000 accounts and measure the process itself.
"""

from __future__ import annotations

import gc
import signal
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest

from loopwatch.config import DetectionConfig
from loopwatch.events.times import parse_time
from loopwatch.service.deadlines import Deadlines
from loopwatch.service.processor import Output, Processor
from loopwatch.service.state import restore
from loopwatch.service.topics import CLOUDTRAIL, FINDINGS
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker
from loopwatch.testing.changelog import ChangelogTable, comparable
from loopwatch.testing.processes import cpu_seconds, resident_kib
from loopwatch.testing.worker import WorkerProcess, worker_process, worker_settings

WALL = parse_time("2026-10-05T15:00:00Z")  # an hour after the records' event times
HORIZON = 600.0
KEY = r.ACCOUNT.encode()


def processor(table: ChangelogTable, quiet: float = 60.0) -> Processor:
    return Processor(
        DetectionConfig(horizon=HORIZON, quiet=quiet),
        snapshot_interval=1.0,
        restore=table.entries,
    )


def message(records: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"Records": records})


def harmless(account: str) -> bytes:
    """One record that opens an account and gives the engine nothing to do."""
    return message([r.record("sts.amazonaws.com", "GetCallerIdentity", {}, account=account)])


def thumb_writes(start: float, count: int) -> list[dict[str, object]]:
    """More traversals of ``s3_self_loop``'s loop: thumb writing into incoming/, a second apart."""
    return [
        r.record(
            r.S3,
            "PutObject",
            {"bucketName": "uploads", "key": f"incoming/later-{i}.jpg"},
            identity=r.assumed_role("thumb-role", "thumb"),
            time=r.at(start + i),
        )
        for i in range(count)
    ]


def findings(out: Output) -> list[dict[str, object]]:
    return [orjson.loads(m.value) for m in out.messages if m.topic == FINDINGS]


def sent(table: ChangelogTable, out: Output) -> Output:
    """``out``, once its snapshots are in ``table`` (as the worker writes them before sending)."""
    table.send(out.snapshots)
    return out


# -- the timetable ------------------------------------------------------------------------------


def test_deadlines_give_each_account_once_when_due_and_only_ever_earlier() -> None:
    due = Deadlines()
    due.schedule("a", 10.0)
    due.schedule("b", 10.05)
    due.schedule("a", 20.0)  # later: the earlier deadline stands
    due.schedule("c", 30.0)
    due.schedule("c", 5.0)  # earlier: moved
    assert due.due(4.9) == []
    assert due.due(5.0) == ["c"]
    assert sorted(due.due(10.1)) == ["a", "b"] and due.due(10.1) == []
    due.schedule("d", 40.0)
    due.cancel("d")
    assert due.due(1e9) == [] and len(due) == 0


# -- eviction -----------------------------------------------------------------------------------


def test_an_account_idle_for_the_horizon_is_evicted_and_the_table_keeps_its_state() -> None:
    table = ChangelogTable()
    p = processor(table)
    sent(table, p.process(CLOUDTRAIL, 0, 0, KEY, harmless(r.ACCOUNT), WALL))
    sent(table, p.tick(WALL + 1.1))  # settled and saved
    held = comparable(p.accounts[r.ACCOUNT].state)

    assert not sent(table, p.tick(WALL + HORIZON - 0.5)).snapshots
    assert r.ACCOUNT in p.accounts  # not idle long enough yet
    out = sent(table, p.tick(WALL + HORIZON + 0.1))
    assert r.ACCOUNT not in p.accounts and p.metrics.evictions == 1
    assert not out.snapshots  # unchanged since its last snapshot
    kept = restore(r.ACCOUNT, 0, table.entries(r.ACCOUNT), p.config).state
    assert kept is not None and comparable(kept) == held


def test_an_account_changed_since_its_snapshot_is_saved_as_it_is_evicted() -> None:
    table = ChangelogTable()
    p = processor(table)
    sent(table, p.process(CLOUDTRAIL, 0, 0, KEY, harmless(r.ACCOUNT), WALL))
    sent(table, p.tick(WALL + 1.1))
    sent(table, p.process(CLOUDTRAIL, 0, 1, KEY, harmless(r.ACCOUNT), WALL + 1.5))
    sent(table, p.settle_quiet(WALL + 1.6))  # settled, dirty, its snapshot not due yet
    held = comparable(p.accounts[r.ACCOUNT].state)
    # The next tick comes after the horizon: the snapshot and the eviction are due together.
    out = sent(table, p.tick(WALL + 1.5 + HORIZON))
    assert r.ACCOUNT not in p.accounts and len(out.snapshots) == 1
    kept = restore(r.ACCOUNT, 0, table.entries(r.ACCOUNT), p.config).state
    assert kept is not None and comparable(kept) == held


def test_an_account_with_an_open_incident_is_held_until_it_resolves_and_saved_as_it_goes() -> None:
    table = ChangelogTable()
    p = processor(table, quiet=900.0)  # longer than the horizon: the horizon resolves it
    sent(table, p.process(CLOUDTRAIL, 0, 0, KEY, message(r.s3_self_loop(writes=6)), WALL))
    sent(table, p.settle_quiet(WALL + 0.1))
    assert not findings(sent(table, p.tick(WALL + HORIZON - 1.0)))
    assert r.ACCOUNT in p.watched  # open: visited at every tick, its clock kept going
    # Its hops unused past the horizon (event time, moved by the wall clock; the engine looks
    # every horizon/12): resolved, saved, and evicted at the same visit.
    out = sent(table, p.tick(WALL + HORIZON + 100.0))
    assert [f["change"] for f in findings(out)] == ["resolved"]
    assert r.ACCOUNT not in p.accounts and p.metrics.evictions == 1
    kept = restore(r.ACCOUNT, 0, table.entries(r.ACCOUNT), p.config).state
    assert kept is not None and not kept.engine.open_incidents()


def test_an_evicted_account_takes_its_loops_later_records_to_the_findings_of_one_held() -> None:
    # Two workers see the same loop, go quiet (it resolves), and get its later records; one
    # evicted the account meanwhile and restores it from its table, the other held it. The
    # later records are dated before the event time the wall clock has moved the account to
    # (late, as CloudTrail's delivery delay makes them): where its clock stood counts too.
    first, later = message(r.s3_self_loop(writes=6)), message(thumb_writes(650.0, 6))
    runs = {}
    for name in ("held", "evicted"):
        table = ChangelogTable()
        p = processor(table)
        said = findings(sent(table, p.process(CLOUDTRAIL, 0, 0, KEY, first, WALL)))
        said += findings(sent(table, p.settle_quiet(WALL + 0.1)))
        said += findings(sent(table, p.tick(WALL + 100.0)))  # quiet: resolved
        if name == "evicted":
            sent(table, p.tick(WALL + HORIZON + 0.1))
            assert r.ACCOUNT not in p.accounts
        said += findings(sent(table, p.process(CLOUDTRAIL, 0, 1, KEY, later, WALL + 700.0)))
        said += findings(sent(table, p.settle_quiet(WALL + 700.1)))
        said += findings(sent(table, p.tick(WALL + 800.0)))
        runs[name] = (p, said)
    (held, held_said), (evicted, evicted_said) = runs["held"], runs["evicted"]
    assert (held.metrics.evictions, evicted.metrics.evictions) == (0, 1)
    assert evicted.metrics.restores == 1
    changes = [f["change"] for f in held_said]
    assert changes == ["opened", "escalated", "resolved", "opened", "escalated", "resolved"]
    assert evicted_said == held_said
    assert comparable(evicted.accounts[r.ACCOUNT].state) == comparable(
        held.accounts[r.ACCOUNT].state
    )


# -- the timer ----------------------------------------------------------------------------------


def test_the_timer_visits_only_accounts_with_something_due() -> None:
    table = ChangelogTable()
    p = processor(table, quiet=900.0)
    idle = [f"{500000000000 + i}" for i in range(1000)]
    for offset, account in enumerate(idle):
        sent(table, p.process(CLOUDTRAIL, 0, offset, account.encode(), harmless(account), WALL))

    def visits(at: float) -> int:
        before = p.metrics.timer_visits
        sent(table, p.tick(at))
        return p.metrics.timer_visits - before

    assert visits(WALL + 0.1) == 1000  # every open second settled
    assert visits(WALL + 1.1) == 1000  # every dirty account saved
    assert len(table.saved()) == 1000
    assert [visits(WALL + 2.0 + i) for i in range(10)] == [0] * 10  # nothing is due
    # A loop: its open incident waits on time, so its account is looked at every tick.
    sent(table, p.process(CLOUDTRAIL, 1, 0, KEY, message(r.s3_self_loop(writes=6)), WALL + 300))
    assert [visits(WALL + 300.1 + i) for i in range(10)] == [1] * 10
    # The horizon: the idle accounts, once each, evicted; the loop's is held.
    assert visits(WALL + HORIZON + 0.1) == 1001
    assert p.metrics.evictions == 1000 and list(p.accounts) == [r.ACCOUNT]
    assert visits(WALL + HORIZON + 0.5) == 1


def test_after_a_restart_only_accounts_with_work_waiting_are_loaded() -> None:
    table = ChangelogTable()
    first = processor(table)
    quiet_account = "222233334444"
    sent(table, first.process(CLOUDTRAIL, 0, 0, KEY, message(r.s3_self_loop(writes=6)), WALL))
    sent(table, first.process(CLOUDTRAIL, 0, 1, b"222233334444", harmless(quiet_account), WALL))
    table.send(first.save())

    second = processor(table)
    assert second.load(table.saved(), partitions={0}, now=WALL + 10.0) == 1
    assert list(second.accounts) == [r.ACCOUNT] and second.watched == {r.ACCOUNT}
    # The other comes back from the table when a message of it does.
    sent(table, second.process(CLOUDTRAIL, 0, 2, b"222233334444", harmless(quiet_account), WALL))
    assert quiet_account in second.accounts and second.metrics.restores == 1


# -- what an account costs held -----------------------------------------------------------------


def test_an_account_of_one_harmless_record_costs_a_couple_of_kilobytes_held() -> None:
    # Most of an org trail's accounts are like this: a few records that give the engine
    # nothing. Held, settled and saved, each costs its own names, clocks and offsets; what
    # stays empty (graph, identities, incidents, dedupe, change tracking) is shared until used.
    p = Processor(DetectionConfig(), snapshot_interval=1.0, restore=lambda account: {})
    accounts = [f"{700000000000 + i}" for i in range(2001)]
    p.process(CLOUDTRAIL, 0, 0, accounts[0].encode(), harmless(accounts[0]), WALL)
    p.tick(WALL + 1.1)  # the first made what every account shares (caches, compiled code)
    messages = [(account.encode(), harmless(account)) for account in accounts[1:]]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for offset, (key, value) in enumerate(messages, start=1):
            p.process(CLOUDTRAIL, 0, offset, key, value, WALL + 2.0)
        p.tick(WALL + 3.2)  # settled and saved: as a worker holds them idle
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_account = held / len(messages)
    print(f"an account of one harmless record: {per_account:,.0f} bytes held")
    assert len(p.accounts) == 2001 and not p.watched
    assert per_account < 3_000  # 7.1 KB before its empty parts were shared


# -- a worker process with 20,000 accounts ----------------------------------------------------

ACCOUNTS = 20_000
MAX_RSS_MIB = 200.0  # the bounds
MAX_IDLE_CPU = 0.05
STOP_WITHIN = 5.0
IDLE_WINDOW = 5.0  # seconds of idleness the CPU time is measured over


def one_record_each() -> list[tuple[bytes, bytes]]:
    """A message of one harmless record for each of ACCOUNTS accounts, keyed by its account."""
    accounts = [f"{600000000000 + i}" for i in range(ACCOUNTS)]
    return [(account.encode(), harmless(account)) for account in accounts]


def produce(
    broker: Broker, topic: str, messages: list[tuple[bytes, bytes]], per_second: int
) -> dict[int, int]:
    """Send ``messages`` in batches, at most ``per_second`` a second; the offset each partition
    ends at, which the worker's group commits once it has applied them all (Tansu's own end
    offsets stop at the last batch's first message)."""
    ends: dict[int, int] = {}
    for start in range(0, len(messages), per_second):
        began = time.monotonic()
        chunk = messages[start : start + per_second]
        for partition, offset in broker.produce(topic, chunk, batched=True, timeout=60):
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        time.sleep(max(0.0, began + 1.0 - time.monotonic()))  # the pace, not a wait
    return ends


def applied(worker: WorkerProcess, broker: Broker, ends: dict[int, int]) -> None:
    settings = worker.settings
    topic = settings.topic("cloudtrail")
    worker.wait_until(
        lambda: broker.committed(topic, settings.app_id) == ends, "through every message", 120
    )


def all_saved(worker: WorkerProcess, broker: Broker) -> None:
    """Once a snapshot of every account is on the broker: what is measured after is the worker
    idle, not its producer still sending the changelog (an account of one message is saved
    once, at its snapshot interval or as it is evicted)."""
    changelog = f"{worker.settings.app_id}-account-state-changelog"
    worker.wait_until(
        lambda: sum(broker.end_offsets(changelog).values()) >= ACCOUNTS, "every account saved"
    )


def idle_measure(worker: WorkerProcess) -> tuple[float, float, float]:
    """The worker's RSS (MiB), the share of a core it used over IDLE_WINDOW seconds, and how
    many accounts its timer looked at meanwhile."""
    pid = worker.process.pid
    visits = worker.metric("loopwatch_timer_visits_total")
    cpu, began = cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_WINDOW)
    share = (cpu_seconds(pid) - cpu) / (time.monotonic() - began)
    looked = worker.metric("loopwatch_timer_visits_total") - visits
    return resident_kib(pid) / 1024, share, looked


def stopped(worker: WorkerProcess) -> tuple[int, float]:
    """SIGTERM: the exit status and the seconds it took."""
    began = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    status = worker.process.wait(60)
    return status, time.monotonic() - began


@pytest.mark.heavy
def test_a_worker_holding_20k_idle_accounts_stays_small_does_no_work_and_stops_in_time(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """20,000 message keys, one harmless record each, all within a second, at the default
    horizon (an hour): every account is held, settled and saved, and none has anything due,
    so the timer looks at none of them and a stop has nothing left to save. The RSS is what
    they cost held, once the burst's buffers are handed back (service.heap): the most memory
    idle accounts can take, since past the horizon they leave it (the test below)."""
    settings = worker_settings(kafka_broker, tmp_path / "data")
    topic = settings.topic("cloudtrail")
    with worker_process(settings) as worker:
        applied(worker, kafka_broker, produce(kafka_broker, topic, one_record_each(), ACCOUNTS))
        all_saved(worker, kafka_broker)
        assert worker.json("/health")["accounts"] == ACCOUNTS
        rss, cpu, looked = idle_measure(worker)
        status, took = stopped(worker)
    print(f"holding 20k idle accounts: {rss:.0f} MiB, {cpu:.1%} of a core; stopped in {took:.1f}s")
    assert rss < MAX_RSS_MIB and cpu < MAX_IDLE_CPU and looked == 0
    assert status == 0 and took < STOP_WITHIN


def test_idle_accounts_leave_a_worker_process_and_a_message_brings_one_back(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """Past the horizon (a second here, standing in for the hour) every account leaves the
    worker's memory; a message for one restores it from the table through the worker's key
    index, and a stop then exits at once."""
    settings = worker_settings(kafka_broker, tmp_path / "data", horizon_seconds=1.0)
    topic = settings.topic("cloudtrail")
    messages = one_record_each()[:500]
    with worker_process(settings) as worker:
        applied(worker, kafka_broker, produce(kafka_broker, topic, messages, len(messages)))
        worker.wait_until(
            lambda: worker.metric("loopwatch_accounts_evicted_total") == len(messages),
            "every account evicted",
        )
        assert worker.json("/health")["accounts"] == 0
        kafka_broker.produce(topic, messages[:1])
        worker.wait_until(
            lambda: worker.metric("loopwatch_accounts_restored_total") == 1, "account restored"
        )
        assert worker.json("/health")["accounts"] == 1
        status, took = stopped(worker)
    assert status == 0 and took < STOP_WITHIN
