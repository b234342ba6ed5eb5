"""The worker's own CRC check of fetched batches (loopwatch.service.record_crc) judges every
batch exactly as aiokafka's check does, and takes its place on a real consumer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException
from aiokafka.protocol.fetch import FetchRequest_v4
from aiokafka.protocol.metadata import MetadataRequest_v0
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.memory_records import _MemoryRecordsPy
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.service import record_crc
from loopwatch.testing.broker import Broker, produce_async

pytestmark = pytest.mark.skipif(
    not record_crc.AVAILABLE, reason="no compiled google_crc32c: aiokafka checks CRCs itself"
)


def v2_batch(base_offset: int, values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for delta, value in enumerate(values):
        builder.append(delta, timestamp=1_700_000_000_000, key=b"k", value=value, headers=[])
    data = bytearray(builder.build())
    data[0:8] = base_offset.to_bytes(8, "big")
    return bytes(data)


def legacy_batch(magic: int, base_offset: int, values: list[bytes]) -> bytes:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
    for delta, value in enumerate(values):
        builder.append(base_offset + delta, timestamp=1_700_000_000_000, key=b"k", value=value)
    return bytes(builder.build())


def aiokafka_verdict(data: bytes) -> tuple[str, int | None]:
    """What aiokafka's own check finds: ("crc", the base offset of the first batch whose CRC
    fails, or None when all pass), or ("refused", that batch's base offset) when it refuses a
    batch's structure first (as it does with its check off too).

    aiokafka's pure-Python MemoryRecords walk is the reference (its source is pinned in
    fast_faust's UPSTREAM). The compiled one has a quirk: a legacy batch after a v2 batch in
    one fetch fails its check though it is intact (a mixed-format topic, pre-0.11 producers)."""
    records = _MemoryRecordsPy(data)
    position = 0
    while records.has_next():
        base_offset = int.from_bytes(data[position : position + 8], "big", signed=True)
        position += 12 + int.from_bytes(data[position + 8 : position + 12], "big", signed=True)
        try:
            batch = records.next_batch()
        except (CorruptRecordException, SystemError):  # SystemError: its C legacy parser's
            return "refused", base_offset
        if not batch.validate_crc():
            return "crc", base_offset
    return "crc", None


values = st.lists(st.binary(max_size=300), min_size=1, max_size=4)
batches = st.lists(st.tuples(st.sampled_from([2, 2, 1, 0]), values), min_size=1, max_size=5)


def message_set(specs: list[tuple[int, list[bytes]]]) -> bytes:
    out, offset = [], 0
    for magic, vals in specs:
        out.append(v2_batch(offset, vals) if magic == 2 else legacy_batch(magic, offset, vals))
        offset += len(vals)
    return b"".join(out)


@settings(max_examples=300, deadline=None)
@given(batches, st.data())
def test_the_verdict_is_aiokafkas_for_any_damage_and_any_cut(
    specs: list[tuple[int, list[bytes]]], data: st.DataObject
) -> None:
    clean = message_set(specs)
    damaged = bytearray(clean)
    for _ in range(data.draw(st.integers(0, 2), label="flips")):
        at = data.draw(st.integers(0, len(damaged) - 1), label="at")
        damaged[at] ^= data.draw(st.integers(1, 255), label="xor")
    cut = data.draw(st.integers(0, len(damaged)), label="cut")
    sample = bytes(damaged[:cut]) if data.draw(st.booleans(), label="cut it") else bytes(damaged)

    verdict, offset = aiokafka_verdict(sample)
    bad = record_crc.first_bad_batch(sample)
    found = None if bad is None else bad[1]
    if verdict == "crc":
        assert found == offset
    else:
        # Every batch before it passed. That batch is refused either way: here when its CRC
        # fails, else by aiokafka itself as it unpacks it (its check is off, its parsing not).
        assert found in (None, offset)
    if bad is not None:  # what is kept of a partition's records: the intact batches before it
        assert record_crc.first_bad_batch(sample[: bad[0]]) is None
        assert aiokafka_verdict(sample[: bad[0]]) == ("crc", None)


def test_every_clean_batch_passes_and_a_flipped_value_byte_names_its_batch() -> None:
    sets = [v2_batch(0, [b"a" * 100]), legacy_batch(1, 1, [b"b"]), v2_batch(2, [b"c", b"d"])]
    data = b"".join(sets)
    assert record_crc.first_bad_batch(data) is None
    assert record_crc.first_bad_batch(None) is None
    assert record_crc.first_bad_batch(b"") is None
    flipped = bytearray(data)
    flipped[-1] ^= 1  # the last value's last byte
    assert record_crc.first_bad_batch(bytes(flipped)) == (len(sets[0]) + len(sets[1]), 2)
    legacy_flipped = bytearray(data)
    legacy_flipped[len(sets[0]) + len(sets[1]) - 1] ^= 1
    assert record_crc.first_bad_batch(bytes(legacy_flipped)) == (len(sets[0]), 1)
    # A batch cut short by the fetch size is the next fetch's, as aiokafka leaves it.
    assert record_crc.first_bad_batch(bytes(flipped)[:-1]) is None


def test_the_sum_in_place_equals_the_sum_of_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 40
    expected = [record_crc.crc32c(data, a, b) for a, b in ((0, 0), (21, len(data)), (5, 900))]
    monkeypatch.setattr(record_crc, "_extend", None)  # where the library is not found
    assert [record_crc.crc32c(data, a, b) for a, b in ((0, 0), (21, len(data)), (5, 900))] == (
        expected
    )
    assert record_crc.crc32c(bytearray(data), 21, len(data)) == expected[1]


@dataclass
class _Response:
    topics: list[tuple[str, list[tuple[Any, ...]]]]


def test_a_bad_batch_cuts_its_partition_before_it_and_only_that_partition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, next_good = v2_batch(7, [b"x"]), v2_batch(8, [b"w"])
    bad = bytearray(v2_batch(9, [b"y"]))
    bad[-1] ^= 1
    # Fetch v4+ partitions: (partition, error, highwater, lso, aborted, records).
    clean = _Response([("t", [(0, 0, 10, 10, None, good), (1, 0, 0, 0, None, None)])])
    record_crc.check_response(clean)
    assert clean.topics[0][1] == [(0, 0, 10, 10, None, good), (1, 0, 0, 0, None, None)]

    damaged = _Response(
        [("t", [(0, 0, 10, 10, None, good), (1, 0, 10, 10, None, next_good + bytes(bad) + good)])]
    )
    with caplog.at_level("ERROR", logger=record_crc.__name__):
        record_crc.check_response(damaged)
    assert damaged.topics[0][1] == [(0, 0, 10, 10, None, good), (1, 0, 10, 10, None, next_good)]
    assert "invalid CRC in t-1, the batch at offset 9" in caplog.text


class _Client:
    def __init__(self, response: Any) -> None:
        self.response, self.sent = response, []

    async def send(self, node_id: int, request: Any, **kwargs: Any) -> Any:
        self.sent.append((node_id, request, kwargs))
        return self.response


class _Consumer:
    def __init__(self, client: _Client, check_crcs: bool) -> None:
        self._client, self._check_crcs = client, check_crcs


def test_only_fetch_responses_are_checked_and_only_when_crcs_are_checked() -> None:
    bad = bytearray(v2_batch(3, [b"z"]))
    bad[-1] ^= 1
    corrupt = _Response([("t", [(0, 0, 4, 4, None, bytes(bad))])])
    fetch = FetchRequest_v4(-1, 100, 1, 1 << 20, 0, [("t", [(0, 3, 1 << 20)])])
    metadata = MetadataRequest_v0(["t"])

    unchecked = _Consumer(_Client(corrupt), check_crcs=False)
    assert not record_crc.check_fetches(unchecked)
    assert asyncio.run(unchecked._client.send(0, fetch)) is corrupt  # untouched: not asked

    consumer = _Consumer(client := _Client(corrupt), check_crcs=True)
    assert record_crc.check_fetches(consumer)
    assert consumer._check_crcs is False  # aiokafka's own check is off: it is done here
    asyncio.run(consumer._client.send(0, metadata, group=1))  # not a fetch: left as it is
    assert corrupt.topics[0][1][0][-1] == bytes(bad)
    assert asyncio.run(consumer._client.send(0, fetch)) is corrupt
    assert corrupt.topics[0][1][0][-1] == b""  # the bad batch was the first: nothing kept
    assert [(n, r, k) for n, r, k in client.sent] == [(0, metadata, {"group": 1}), (0, fetch, {})]


def test_a_real_consumer_refetches_a_corrupted_batch_and_reads_every_record_once(
    kafka_broker: Broker,
) -> None:
    topic = "record-crc-real"
    kafka_broker.create_topics({topic: 1})
    values = [bytes([i % 251]) * (i * 37 % 3000 + 1) for i in range(300)]
    corrupted: list[int] = []  # the base offsets of the batches damaged on the way in

    async def read() -> list[tuple[int, bytes]]:
        await produce_async(kafka_broker.bootstrap, topic, values)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap)
        send = consumer._client.send

        async def damaging(node_id: int, request: Any, **kwargs: Any) -> Any:
            # The first two fetches that bring records have their last batch's last byte
            # flipped, as a bad network or memory would, before the check sees them.
            response = await send(node_id, request, **kwargs)
            for _, partitions in getattr(response, "topics", []) if request.API_KEY == 1 else []:
                for index, (*fields, records) in enumerate(partitions):
                    if records and len(corrupted) < 2:
                        last = _last_batch_at(records)
                        corrupted.append(int.from_bytes(records[last : last + 8], "big"))
                        partitions[index] = (*fields, records[:-1] + bytes([records[-1] ^ 1]))
            return response

        consumer._client.send = damaging
        assert record_crc.check_fetches(consumer)
        await consumer.start()
        try:
            assert consumer._fetcher._check_crcs is False
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got: list[tuple[int, bytes]] = []
            async with asyncio.timeout(20):
                while len(got) < len(values):
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    got.extend((m.offset, m.value) for m in batch.get(tp, []))
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(read()) == list(enumerate(values))  # each once, in order, intact
    assert len(corrupted) == 2


def _last_batch_at(records: bytes) -> int:
    """Where the last complete batch of a message set starts."""
    pos = last = 0
    while len(records) - pos >= 12:
        end = pos + 12 + int.from_bytes(records[pos + 8 : pos + 12], "big")
        if end > len(records):
            break
        last, pos = pos, end
    return last
