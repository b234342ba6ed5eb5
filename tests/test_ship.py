"""``loopwatch ship``: batches per account on the real broker, and --follow picks up new files."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from pathlib import Path

import orjson

from loopwatch.events.sources import Chunk
from loopwatch.service.ship import MAX_RECORDS, ship
from loopwatch.settings import Settings
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker


def settings_for(broker: Broker) -> Settings:
    prefix = f"ship-{uuid.uuid4().hex[:8]}"
    return Settings(kafka_broker=broker.bootstrap, topic_prefix=prefix, partitions=2)


def write(path: Path, records: list[dict[str, object]]) -> None:
    path.write_bytes(gzip.compress(orjson.dumps({"Records": records})))


def test_batches_are_keyed_by_account_and_ordered_by_event_time(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    kafka_broker.create_topics({settings.topic("cloudtrail"): 2, settings.topic("invocations"): 2})
    records = r.s3_self_loop(writes=MAX_RECORDS + 10)
    other = [dict(rec, recipientAccountId="444455556666") for rec in r.s3_self_loop(writes=3)]
    mixed = records[::-1] + other  # newest first, two accounts in one file
    write(tmp_path / "a.json.gz", mixed)
    (tmp_path / "inv.jsonl").write_bytes(orjson.dumps(r.invocation(r.function_arn("thumb"))))

    stats = asyncio.run(ship([str(tmp_path)], settings))

    assert stats.records == len(mixed) + 1 and stats.files == 2
    messages = kafka_broker.consume(settings.topic("cloudtrail"), stats.messages - 1, timeout=10)
    by_key: dict[bytes, list[dict[str, object]]] = {}
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        batch = orjson.loads(m.value)["Records"]
        assert len(batch) <= MAX_RECORDS
        by_key.setdefault(m.key or b"", []).extend(batch)
    assert set(by_key) == {r.ACCOUNT.encode(), b"444455556666"}
    mine = by_key[r.ACCOUNT.encode()]
    assert len(mine) == len(records)
    times = [str(rec["eventTime"]) for rec in mine]
    assert times == sorted(times)  # ordered before being cut into messages
    (invocation,) = kafka_broker.consume(settings.topic("invocations"), 1, timeout=10)
    assert orjson.loads(invocation.value)["Records"][0]["kind"] == "lambda.invocation"


def test_follow_ships_files_as_they_land_and_never_twice(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    kafka_broker.create_topics({settings.topic("cloudtrail"): 2, settings.topic("invocations"): 2})
    first, second = r.s3_self_loop(writes=2), r.s3_self_loop(writes=3)
    write(tmp_path / "1.json.gz", first)
    shipped: list[str] = []

    def landed(chunk: Chunk) -> None:
        shipped.append(Path(chunk.source).name)
        if len(shipped) == 1:  # a new log file lands while ship is following
            write(tmp_path / "2.json.gz", second)

    stats = asyncio.run(
        asyncio.wait_for(
            ship(
                [str(tmp_path)],
                settings,
                follow=True,
                poll=0.1,
                on_chunk=landed,
                should_stop=lambda: len(shipped) >= 2,
            ),
            timeout=30,
        )
    )
    assert shipped == ["1.json.gz", "2.json.gz"]
    assert stats.records == len(first) + len(second)
    values = kafka_broker.consume(settings.topic("cloudtrail"), stats.messages, timeout=10)
    assert sum(len(orjson.loads(v.value)["Records"]) for v in values) == len(first) + len(second)
