"""The service's per-message logic, without a broker: dead letters, counts, snapshots, ticks."""

from __future__ import annotations

import base64

import orjson

from loopwatch.config import DetectionConfig
from loopwatch.events.times import parse_time
from loopwatch.service.accounts import AccountState
from loopwatch.service.metrics import Metrics
from loopwatch.service.processor import SETTLE_AFTER, Output, Processor, Snapshot
from loopwatch.service.topics import CLOUDTRAIL, DEADLETTER, FINDINGS, INVOCATIONS
from loopwatch.testing import records as r
from loopwatch.testing.changelog import ChangelogTable

KEY = r.ACCOUNT.encode()
# The wall clock of these tests: an hour after the records' event times.
WALL = parse_time("2026-10-05T15:00:00Z")


def processor(saved: ChangelogTable | None = None, interval: float = 1.0) -> Processor:
    table = saved if saved is not None else ChangelogTable()
    return Processor(DetectionConfig(), snapshot_interval=interval, restore=table.entries)


def batch(records: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"Records": records})


def sent(out: Output, topic: str) -> list[dict[str, object]]:
    return [orjson.loads(m.value) for m in out.messages if m.topic == topic]


def test_unreadable_message_goes_to_deadletter_with_its_bytes() -> None:
    p = processor()
    out = p.process(CLOUDTRAIL, 1, 7, KEY, b"\x00garbage", now=WALL + 100.0)
    (dead,) = sent(out, DEADLETTER)
    assert dead["reason"].startswith("not JSON")
    assert (dead["topic"], dead["partition"], dead["offset"], dead["key"]) == (
        CLOUDTRAIL,
        1,
        7,
        r.ACCOUNT,
    )
    assert base64.b64decode(dead["value_b64"]) == b"\x00garbage"
    assert p.metrics.deadletter == {"message": 1} and not out.snapshots


def test_bad_records_are_dead_lettered_and_valid_ones_counted() -> None:
    loop = r.s3_self_loop(writes=4)
    no_time = {k: v for k, v in loop[2].items() if k != "eventTime"}
    p = processor()
    out = p.process(CLOUDTRAIL, 0, 0, KEY, batch([*loop, no_time, {"hello": 1}]), now=WALL + 100.0)
    # One dead letter per reason and message, with how many and the first of them.
    (dead,) = sent(out, DEADLETTER)
    assert "eventTime" in dead["reason"] and dead["count"] == 2
    assert dead["record"] == no_time
    assert p.metrics.records_in[CLOUDTRAIL] == len(loop) + 2  # every record read, bad ones too
    assert p.metrics.deadletter["record"] == 2


def test_a_finding_is_published_and_snapshotted_at_once() -> None:
    p = processor(interval=3600.0)
    loop = r.s3_self_loop(writes=6)
    out = p.process(CLOUDTRAIL, 0, 0, KEY, batch(loop), now=WALL + 100.0)
    out.messages += p.tick(WALL + 100.3).messages  # idle: settles the last second
    findings = sent(out, FINDINGS)
    assert [f["change"] for f in findings] == ["opened", "escalated"]
    assert all(f["account"] == r.ACCOUNT for f in findings)
    assert out.snapshots and out.snapshots[0] == Snapshot(0, r.ACCOUNT, out.snapshots[0].writes)
    assert p.metrics.findings == {"loop_opened": 1, "loop_escalated": 1}


def test_the_closing_second_is_settled_soon_after_its_message_not_at_the_next_tick() -> None:
    p = processor(interval=3600.0)
    loop = r.s3_self_loop(writes=3)  # the third traversal, in the last second, makes it active
    out = p.process(CLOUDTRAIL, 0, 0, KEY, batch(loop), now=WALL + 100.0)
    assert [f["change"] for f in sent(out, FINDINGS)] == ["opened"]  # the last second is open

    assert not p.settle_quiet(WALL + 100.0 + SETTLE_AFTER / 2).messages  # too soon
    settled = p.settle_quiet(WALL + 100.001 + SETTLE_AFTER)
    assert [f["change"] for f in sent(settled, FINDINGS)] == ["escalated"]
    assert settled.snapshots  # a finding's state is saved with it
    # Settled once: neither the quick settle nor the tick says it again.
    assert not p.settle_quiet(WALL + 100.2).messages and not p.unsettled
    assert not sent(p.tick(WALL + 100.3), FINDINGS)


def test_without_findings_state_is_saved_once_per_interval() -> None:
    p = processor(interval=1.0)
    setup = r.s3_self_loop(writes=0)
    other = r.record("sts.amazonaws.com", "GetCallerIdentity", {}, time=r.at(5))
    first = p.process(CLOUDTRAIL, 0, 0, KEY, batch(setup), now=WALL + 100.0)
    second = p.process(CLOUDTRAIL, 0, 1, KEY, batch([other]), now=WALL + 100.5)
    assert not first.snapshots and not second.snapshots
    assert len(p.tick(WALL + 100.6).snapshots) == 0
    assert len(p.tick(WALL + 101.1).snapshots) == 1  # dirty and the interval has passed
    assert len(p.tick(WALL + 102.5).snapshots) == 0  # nothing changed since
    assert len(p.save()) == 0


def test_restored_state_continues_and_redelivery_is_ignored() -> None:
    loop = r.s3_self_loop(writes=6)
    first = processor()
    out = first.process(CLOUDTRAIL, 0, 5, KEY, batch(loop), now=WALL + 100.0)
    out.snapshots += first.tick(WALL + 100.3).snapshots
    saved = ChangelogTable()
    saved.send(out.snapshots)
    second = processor(saved)
    again = second.process(CLOUDTRAIL, 0, 5, KEY, batch(loop), now=WALL + 200.0)  # redelivered
    assert again.messages == [] and second.metrics.records_in[CLOUDTRAIL] == 0
    (incident,) = second.accounts[r.ACCOUNT].state.engine.open_incidents()
    assert incident.status == "active"


def test_invocations_and_cloudtrail_offsets_do_not_collide() -> None:
    p = processor()
    loop = r.s3_self_loop(writes=1)
    p.process(CLOUDTRAIL, 0, 10, KEY, batch(loop), now=WALL + 100.0)
    event = r.invocation(r.function_arn("thumb"), time=r.at(12))
    p.process(INVOCATIONS, 0, 3, KEY, orjson.dumps(event), now=WALL + 100.0)
    assert p.metrics.records_in == {CLOUDTRAIL: 3, INVOCATIONS: 1}


def test_a_quiet_stream_resolves_on_the_wall_clock() -> None:
    config = DetectionConfig(quiet=30.0)
    p = Processor(config, snapshot_interval=1.0, restore=lambda _: {}, metrics=Metrics())
    p.process(CLOUDTRAIL, 0, 0, KEY, batch(r.s3_self_loop(writes=6)), now=WALL + 100.0)
    assert not [f for f in sent(p.tick(WALL + 110.0), FINDINGS) if f["change"] == "resolved"]
    resolved = [f for f in sent(p.tick(WALL + 200.0), FINDINGS) if f["change"] == "resolved"]
    assert len(resolved) == 1


def test_unreadable_saved_state_starts_afresh() -> None:
    saved = ChangelogTable()
    saved.data[KEY] = b'{"version": 99}'
    p = processor(saved)
    p.process(CLOUDTRAIL, 0, 0, KEY, batch(r.s3_self_loop(writes=1)), now=WALL + 1.0)
    assert isinstance(p.accounts[r.ACCOUNT].state, AccountState)


def test_load_takes_saved_accounts_of_assigned_partitions_only() -> None:
    p = processor()
    p.process(CLOUDTRAIL, 1, 0, KEY, batch(r.s3_self_loop(writes=1)), now=WALL + 1.0)
    saved = ChangelogTable()
    saved.send(p.save())
    fresh = processor()
    assert fresh.load(saved.saved(), partitions={0}, now=WALL + 2.0) == 0
    assert fresh.load(saved.saved(), partitions={1}, now=WALL + 2.0) == 1
    assert fresh.accounts[r.ACCOUNT].partition == 1


def test_metrics_render_prometheus_text() -> None:
    p = processor()
    p.process(CLOUDTRAIL, 0, 0, KEY, b"junk", now=WALL + 1.0)
    text = p.metrics.render(accounts=3, now=10.0)
    assert 'loopwatch_messages_in_total{topic="cloudtrail"} 1' in text
    assert 'loopwatch_deadletter_total{kind="message"} 1' in text
    assert "loopwatch_accounts 3" in text
    assert "# TYPE loopwatch_processing_lag_seconds gauge" in text


def test_a_message_key_moves_no_record_into_its_account() -> None:
    """A key places a message; it is no evidence about the records in it (docs/trust.md):
    a record of another account is rejected with the reason, never applied to the key's
    account, as replay would have routed it to its own."""
    p = processor(interval=3600.0)
    other = "999988887777"
    theirs = r.s3_self_loop(writes=6, account=other)
    out = p.process(CLOUDTRAIL, 0, 0, KEY, batch(theirs), now=WALL + 100.0)
    out.messages += p.tick(WALL + 100.3).messages
    assert sent(out, FINDINGS) == []  # the loop is not the key's account's, nor anyone's
    (dead,) = sent(out, DEADLETTER)
    assert dead["reason"].startswith(f"a record of account {other} in a message keyed")
    assert dead["count"] == len(theirs)  # every one of them gives facts
    # The key's own records beside them are applied as before: its loop is found.
    ours = r.s3_self_loop(writes=6)
    out = p.process(CLOUDTRAIL, 0, 1, KEY, batch([*theirs, *ours]), now=WALL + 200.0)
    out.messages += p.tick(WALL + 200.3).messages
    assert [f["change"] for f in sent(out, FINDINGS)] == ["opened", "escalated"]
    assert {f["account"] for f in sent(out, FINDINGS)} == {r.ACCOUNT}
