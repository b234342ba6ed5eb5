"""The account state as parts in the changelog: restored exactly (continuing gives the same
findings as never stopping), whole after a torn snapshot, only changed parts sent, every
message under 1 MB for a 10k-function account, deleted parts deleted, old versions refused."""

from __future__ import annotations

import logging
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.config import DetectionConfig
from loopwatch.detect import Finding
from loopwatch.events import facts as f
from loopwatch.events.times import parse_time
from loopwatch.service import state as state_module
from loopwatch.service.accounts import AccountState
from loopwatch.service.processor import Processor
from loopwatch.service.state import StateWriter, restore
from loopwatch.service.state.parts import function_name, hop_name
from loopwatch.service.state.table import parse_part_key
from loopwatch.service.topics import CLOUDTRAIL
from loopwatch.testing import records as r
from loopwatch.testing.changelog import ChangelogTable, comparable, message_bytes
from loopwatch.testing.estates import ACCOUNT, START, function_arn, many_functions, random_batches

KAFKA_DEFAULT_MAX_MESSAGE = 1_000_000  # message.max.bytes is 1 MiB + record overhead


def drive(state: AccountState, batch: list[f.Fact], n: int) -> list[Finding]:
    """What a message does to an account: facts in, their ids remembered (some again), its
    offset noted; every fifth message, the timer settles the open second."""
    findings = state.driver.feed(list(batch)).findings
    for k, fact in enumerate(batch):
        state.intake.recent.seen(f"id-{n}-{k}", fact.time)
        state.intake.recent.seen(f"id-{max(n - 1, 0)}-{k}", fact.time)  # a duplicate
    state.offsets[("cloudtrail", 0)] = n
    if n % 5 == 4:
        findings += state.driver.settle()
    return findings


def fresh(account: str = ACCOUNT) -> tuple[AccountState, StateWriter]:
    state = AccountState(account)
    writer = StateWriter(account, 0)
    writer.attach(state)
    return state, writer


def restored(table: ChangelogTable) -> tuple[AccountState, StateWriter]:
    back = restore(ACCOUNT, 0, table.entries(ACCOUNT))
    assert back.state is not None
    return back.state, back.writer


def part_names(table: ChangelogTable) -> set[str]:
    return {parse_part_key(k)[3] for k in table.data if k != ACCOUNT.encode()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_restored_account_continues_exactly_as_one_never_stopped(seed: int) -> None:
    batches = random_batches(seed, functions=1500, batches=160)
    cut = 50 + 20 * seed
    snapshots = set(random.Random(seed).sample(range(len(batches)), 50)) | {cut}

    whole, writer = fresh()
    table, found = ChangelogTable(), []
    for n, batch in enumerate(batches):
        found += drive(whole, batch, n)
        if n in snapshots:
            table.apply(writer.write(whole))
        if n == cut:
            at_cut, found_at_cut = ChangelogTable(), len(found)
            at_cut.data = dict(table.data)
    assert found, "the random account should hold loops"

    resumed, resumed_writer = restored(at_cut)
    found_resumed = found[:found_at_cut]
    for n, batch in enumerate(batches[cut + 1 :], cut + 1):
        found_resumed += drive(resumed, batch, n)
        if n in snapshots:
            at_cut.apply(resumed_writer.write(resumed))

    assert found_resumed == found
    assert comparable(resumed) == comparable(whole)
    # The restored writer knew what the table held: it went on sending the same messages.
    assert at_cut.data == table.data
    table.apply(writer.write(whole))
    again, _ = restored(table)
    assert comparable(again) == comparable(whole)
    # Nothing deleted survives in the table: one part per hop, no leftover versions.
    hops = {n for n in part_names(table) if n.startswith("h")}
    assert len(hops) == whole.engine.graph.nx.number_of_edges()
    assert len(part_names(table)) == len(table.data) - 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), torn_at=st.floats(0.0, 1.0))
def test_a_torn_snapshot_restores_the_one_before_it_whole(seed: int, torn_at: float) -> None:
    batches = random_batches(seed, functions=200, batches=30)
    state, writer = fresh()
    table = ChangelogTable()
    for n, batch in enumerate(batches[:20]):
        drive(state, batch, n)
    table.apply(writer.write(state))
    before = comparable(state)
    for n, batch in enumerate(batches[20:], 20):
        drive(state, batch, n)
    writes = writer.write(state)
    after = comparable(state)
    sent = int(len(writes) * torn_at)
    table.apply(writes[:sent])  # the worker died with the rest in its buffer

    core_sent = any(key == ACCOUNT.encode() for key, _ in writes[:sent])
    back, back_writer = restored(table)
    assert comparable(back) == (after if core_sent else before)
    # The next snapshot clears what the torn one left; restoring it gives the same again.
    table.apply(back_writer.write(back))
    again, _ = restored(table)
    assert comparable(again) == comparable(back)
    assert len(part_names(table)) == len(table.data) - 1


def test_an_unchanged_hop_is_not_rewritten() -> None:
    state, writer = fresh()
    caller = f.Caller(ACCOUNT, "us-east-1", "fn-00007-role", "fn-00007")
    state.driver.feed(random_batches(5, functions=2000, batches=1)[0])
    for i in range(2000):
        name = f"fn-{i:05d}"
        who = f.Caller(ACCOUNT, "us-east-1", f"{name}-role", name)
        state.driver.feed([f.Write(START + 1, who, f"arn:aws:sqs:us-east-1:{ACCOUNT}:out-{i}")])
    first = writer.write(state)
    assert len(first) > 4000

    target = f"arn:aws:sqs:us-east-1:{ACCOUNT}:out-7"
    state.driver.feed([f.Write(START + 2, caller, target)])
    second = writer.write(state)

    sent = {parse_part_key(k)[3] for k, v in second if v is not None and k != ACCOUNT.encode()}
    assert sent == {hop_name(function_arn(7), target), function_name(function_arn(7))}
    deleted = [k for k, v in second if v is None]
    assert len(deleted) == 2  # the versions they replace
    assert len(second) == 5  # two parts, the core, two tombstones: not the 4000 hops again


def test_every_message_of_a_10k_function_account_is_under_1_mb() -> None:
    records = many_functions(10_000, seconds=20)
    table = ChangelogTable()
    worker = Processor(DetectionConfig(), snapshot_interval=1.0, restore=table.entries)
    now = parse_time("2026-10-05T15:00:00Z")
    key = r.ACCOUNT.encode()
    for offset, start in enumerate(range(0, len(records), 1000)):
        message = orjson.dumps({"Records": records[start : start + 1000]})
        table.send(worker.process(CLOUDTRAIL, 0, offset, key, message, now=now + offset).snapshots)
    table.send(worker.tick(now + 100).snapshots)
    table.send(worker.save())

    largest = max(map(message_bytes, table.messages))
    total = sum(map(message_bytes, table.messages))
    assert largest < KAFKA_DEFAULT_MAX_MESSAGE, largest
    assert total > 3 * KAFKA_DEFAULT_MAX_MESSAGE  # the state itself would not fit in one
    back = restore(r.ACCOUNT, 0, table.entries(r.ACCOUNT))
    assert back.state is not None
    assert comparable(back.state) == comparable(worker.accounts[r.ACCOUNT].state)
    assert back.state.engine.graph.nx.number_of_edges() == 10_000


def test_a_part_longer_than_a_piece_goes_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module.writer, "PIECE_BYTES", 100)
    state, writer = fresh()
    for n, batch in enumerate(random_batches(9, functions=50, batches=10)):
        drive(state, batch, n)
    table = ChangelogTable()
    table.apply(writer.write(state))
    assert max(len(v) for v in table.data.values() if v is not None and v[:1] != b"{") <= 100
    assert any(parse_part_key(k)[2] > 1 for k in table.data if k != ACCOUNT.encode())
    back, _ = restored(table)
    assert comparable(back) == comparable(state)


def test_an_expired_hop_is_deleted_from_the_table() -> None:
    config = DetectionConfig()
    state, writer = fresh()
    fn = function_arn(1)
    caller = f.Caller(ACCOUNT, "us-east-1", "fn-00001-role", "fn-00001")
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
    state.driver.feed([f.FunctionDeclared(START, fn, None), f.Write(START, caller, table)])
    changelog = ChangelogTable()
    changelog.apply(writer.write(state))
    assert hop_name(fn, table) in part_names(changelog)

    later = START + config.horizon * 2
    state.driver.feed([f.Invoked(later, function_arn(2))])  # time passes: the hop expires
    assert state.engine.graph.edge(fn, table) is None
    changelog.apply(writer.write(state))
    assert hop_name(fn, table) not in part_names(changelog)
    back, _ = restored(changelog)
    assert back.engine.graph.edge(fn, table) is None


def test_state_of_the_old_version_is_refused_with_a_clear_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = {"version": 2, "account": r.ACCOUNT, "engine": {}, "recent": [], "offsets": []}
    table = ChangelogTable()
    table.data[r.ACCOUNT.encode()] = orjson.dumps(old)
    worker = Processor(DetectionConfig(), snapshot_interval=1.0, restore=table.entries)
    message = orjson.dumps({"Records": r.s3_self_loop(writes=1)})
    with caplog.at_level(logging.WARNING):
        out = worker.process(CLOUDTRAIL, 0, 0, r.ACCOUNT.encode(), message, now=0.0)
    (warning,) = [m for m in caplog.messages if r.ACCOUNT in m]
    assert "version 2" in warning and "reads version 3" in warning and "afresh" in warning
    table.send([*out.snapshots, *worker.save()])
    assert orjson.loads(table.data[r.ACCOUNT.encode()])["version"] == 3


def test_the_newest_id_time_survives_when_the_size_bound_dropped_its_id() -> None:
    state, writer = fresh()
    recent = state.intake.recent
    recent.limit = 2  # the bound drops oldest-first, newest time or not
    for key, time in (("a", START + 100), ("b", START + 50), ("c", START + 60)):
        recent.seen(key, time)
    assert "a" not in recent._ids
    table = ChangelogTable()
    table.apply(writer.write(state))
    back, _ = restored(table)
    assert back.intake.recent._newest == START + 100  # what the span drops next depends on it
    assert comparable(back) == comparable(state)
