"""The fast consumer delivers one partition's records as chunks, and a chunk keeps upstream's
promises: each record's offset becomes committable exactly as its own message's would, the
drain loop's bookkeeping (redeliveries dropped, gaps, read offsets) is the same per record, and
a chunk meant for a handler that no longer takes chunks goes out as the messages it holds.

Built on an app that is never started (nothing connects to the broker it names); the live
path, chunks and all, is what test_live_batches.py and the kill tests run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from loopwatch.service import fast_faust
from loopwatch.service.app import create_app
from loopwatch.settings import Settings

TP0 = TP("lw.cloudtrail", 0)
FIELDS = (
    "topic",
    "partition",
    "offset",
    "timestamp",
    "timestamp_type",
    "headers",
    "key",
    "value",
    "checksum",
    "serialized_key_size",
    "serialized_value_size",
    "tp",
    "generation_id",
)


def record(offset: int, value: bytes = b"{}", tp: TP = TP0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=1_700_000_000_000 + offset,
        timestamp_type=0,
        key=b"123456789012",
        value=value,
        checksum=None,
        serialized_key_size=12,
        serialized_value_size=len(value),
        headers=[("h", b"v")],
    )


@pytest.fixture
def consumer() -> fast_faust.FastConsumer:
    service = create_app(Settings(kafka_broker="127.0.0.1:9", topic_prefix="lw"))
    consumer = service.app.consumer
    assert isinstance(consumer, fast_faust.FastConsumer)
    service.app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]  # not subscribed: never started
    return consumer


def chunk_of(offsets: list[int], generation: int = 1) -> fast_faust.RecordChunk:
    records = [record(o) for o in offsets]
    return fast_faust.RecordChunk(TP0, records, sum(len(r.value) for r in records), generation)


def bookkeeping(consumer: fast_faust.FastConsumer) -> tuple[list[int], set[int], int, int | None]:
    return (
        list(consumer._acked[TP0]),
        set(consumer._acked_index[TP0]),
        consumer._n_acked,
        consumer._new_offset(TP0),
    )


def fresh(consumer: fast_faust.FastConsumer, committed: int | None) -> None:
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._n_acked = 0
    consumer._committed_offset[TP0] = committed


@pytest.mark.parametrize("committed", [None, 3, 12])
@pytest.mark.parametrize("offsets", [[5], [5, 6, 7, 8], [4, 5, 9, 10], list(range(100, 164))])
def test_acking_a_chunk_marks_every_offset_as_acking_each_message_would(
    consumer: fast_faust.FastConsumer, offsets: list[int], committed: int | None
) -> None:
    fresh(consumer, committed)
    for message in chunk_of(offsets).messages():  # upstream's path, one message at a time
        message.incref()
        consumer._unacked_messages.add(message)
        message.ack(consumer)
        assert message.acked
    upstream = bookkeeping(consumer)

    fresh(consumer, committed)
    chunk = chunk_of(offsets)
    chunk.incref()
    consumer._unacked_messages.add(chunk)
    expected_any = any(committed is None or o >= committed for o in offsets)
    assert chunk.ack(consumer) is expected_any
    assert chunk.acked and chunk not in consumer._unacked_messages
    assert bookkeeping(consumer) == upstream
    assert chunk.ack(consumer) is False  # acked once: the offsets are not counted again
    assert consumer._n_acked == upstream[2]


def test_a_chunk_is_acked_when_its_last_reference_is() -> None:
    service = create_app(Settings(kafka_broker="127.0.0.1:9", topic_prefix="lw"))
    consumer = service.app.consumer
    service.app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
    consumer._committed_offset[TP0] = None
    chunk = chunk_of([1, 2, 3])
    chunk.incref(2)  # two streams hold it
    assert chunk.ack(consumer) is False and not chunk.acked
    assert list(consumer._acked[TP0]) == []
    assert chunk.ack(consumer) is True and chunk.acked
    assert list(consumer._acked[TP0]) == [1, 2, 3]


def test_the_messages_of_a_chunk_are_the_ones_the_consumer_makes(
    consumer: fast_faust.FastConsumer,
) -> None:
    records = [record(7, b'{"a": 1}'), record(8, b"[]")]
    chunk = fast_faust.RecordChunk(TP0, records, 10, consumer.app.consumer_generation_id)
    made = [consumer._to_message(TP0, r) for r in records]
    assert [[getattr(m, f) for f in FIELDS] for m in chunk.messages()] == [
        [getattr(m, f) for f in FIELDS] for m in made
    ]
    assert all(type(m) is ConsumerMessage for m in chunk.messages())
    assert (chunk.offset, chunk.timestamp, chunk.serialized_value_size) == (
        8,
        made[1].timestamp,
        10,
    )
    assert chunk.key is None and chunk.value is None


def test_records_of_reads_chunks_and_plain_messages_in_order(
    consumer: fast_faust.FastConsumer,
) -> None:
    class Held:  # an event: records_of reads only its message
        def __init__(self, message: Any) -> None:
            self.message = message

    plain = consumer._to_message(TP0, record(3, b"three"))
    chunk = fast_faust.RecordChunk(TP0, [record(4, b"four"), record(5, b"five")], 8, 1)
    got = list(fast_faust.records_of([Held(plain), Held(chunk)]))  # type: ignore[list-item]
    assert got == [
        (0, 3, b"123456789012", b"three", plain.timestamp),
        (0, 4, b"123456789012", b"four", (1_700_000_000_000 + 4) / 1000),
        (0, 5, b"123456789012", b"five", (1_700_000_000_000 + 5) / 1000),
    ]


class Conductor:
    """Stands in for FastConductor: takes chunks for the partitions named, delivers at once."""

    def __init__(self, chunked: set[TP]) -> None:
        self.chunked = chunked
        self.delivered: list[fast_faust.RecordChunk] = []

    def takes_chunks(self, tp: TP) -> bool:
        return tp in self.chunked

    def deliver_now(self, message: Any) -> bool:
        self.delivered.append(message)
        return True


def deliver(
    consumer: fast_faust.FastConsumer, records: dict[TP, list[Any]], conductor: Conductor
) -> Any:
    generation = consumer.app.consumer_generation_id
    coro = consumer._deliver_chunks(records, None, generation, conductor)  # type: ignore[arg-type]
    return asyncio.run(coro)


def test_the_drain_cuts_chunks_drops_redeliveries_and_records_gaps(
    consumer: fast_faust.FastConsumer,
) -> None:
    other = TP("lw.changelog", 0)
    consumer._read_offset[TP0] = 10
    offsets = [8, 9, 10, 11, *range(20, 20 + fast_faust.CHUNK_MAX_RECORDS + 5)]
    conductor = Conductor({TP0})
    rest = deliver(
        consumer, {TP0: [record(o) for o in offsets], other: [record(0, tp=other)]}, conductor
    )

    assert rest is not None and list(rest[0]) == [other]  # not chunked: left to the message loop
    delivered = [[r.offset for r in c.records] for c in conductor.delivered]
    # 8 and 9 were read before (a redelivery after a seek); 10 is delivered again, as upstream
    # delivers an offset equal to the read offset.
    kept = offsets[2:]
    assert [o for chunk in delivered for o in chunk] == kept
    assert [len(c) for c in delivered] == [
        fast_faust.CHUNK_MAX_RECORDS,
        len(kept) - fast_faust.CHUNK_MAX_RECORDS,
    ]
    assert consumer._read_offset[TP0] == offsets[-1]
    # The jump from 11 to 20 is a gap, as the message loop records it.
    assert [(i.begin, i.end) for i in sorted(consumer._gap[TP0])] == [(12, 21)]
    assert all(c.tp == TP0 and c.offset == c.records[-1].offset for c in conductor.delivered)


def test_a_chunk_is_cut_at_the_byte_bound(consumer: fast_faust.FastConsumer) -> None:
    big = b"x" * (fast_faust.BATCH_MAX_BYTES // 2)
    conductor = Conductor({TP0})
    assert deliver(consumer, {TP0: [record(o, big) for o in range(5)]}, conductor) is None
    assert [[r.offset for r in c.records] for c in conductor.delivered] == [[0, 1], [2, 3], [4]]
    assert [c.serialized_value_size for c in conductor.delivered] == [len(big) * 2] * 2 + [len(big)]


def test_nothing_is_chunked_after_the_generation_changed(consumer: fast_faust.FastConsumer) -> None:
    conductor = Conductor({TP0})
    generation = consumer.app.consumer_generation_id
    coro = consumer._deliver_chunks({TP0: [record(1)]}, None, generation - 1, conductor)  # type: ignore[arg-type]
    assert asyncio.run(coro) is None
    assert conductor.delivered == []


def test_a_chunk_for_a_handler_that_takes_none_goes_out_as_its_messages(
    consumer: fast_faust.FastConsumer,
) -> None:
    conductor = consumer.app.topics
    assert isinstance(conductor, fast_faust.FastConductor)
    got: list[Any] = []

    async def plain_handler(message: Any) -> None:  # a handler of upstream's: no chunks
        got.append(message)

    conductor._tp_to_callback[TP0] = plain_handler
    chunk = chunk_of([3, 4])
    assert not conductor.takes_chunks(TP0)
    assert conductor.deliver_now(chunk) is False  # never queued whole for such a channel
    asyncio.run(conductor._compile_message_handler()(chunk))
    assert [type(m) for m in got] == [ConsumerMessage, ConsumerMessage]
    assert [m.offset for m in got] == [3, 4]


def test_the_handler_of_an_input_topic_queues_a_chunk_as_one_event() -> None:
    service = create_app(Settings(kafka_broker="127.0.0.1:9", topic_prefix="lw"))
    conductor = service.app.topics
    assert isinstance(conductor, fast_faust.FastConductor)
    inputs = service.topics["cloudtrail"]
    findings = service.topics["findings"]
    assert isinstance(inputs, fast_faust.RecordChunkTopic)
    assert not isinstance(findings, fast_faust.RecordChunkTopic)

    async def deliver() -> tuple[bool, Any]:
        handler = conductor._build_handler(TP0, {inputs})
        assert getattr(handler, "takes_chunks", False) is True
        assert getattr(conductor._build_handler(TP0, {findings}), "takes_chunks", False) is False
        conductor._tp_to_callback[TP0] = handler
        service.app.flow_control.resume()  # as a started worker's is
        chunk = chunk_of([1, 2, 3])
        return conductor.deliver_now(chunk), inputs.queue.get_nowait()

    delivered, event = asyncio.run(deliver())
    assert delivered
    assert type(event.message) is fast_faust.RecordChunk
    assert [r.offset for r in event.message.records] == [1, 2, 3]
    assert event.message.refcount == 1  # held by the one stream it was queued for


def test_no_chunk_is_delivered_once_flow_stops(consumer: fast_faust.FastConsumer) -> None:
    class Stopping(Conductor):  # a rebalance begins while the first chunk is delivered
        def deliver_now(self, message: Any) -> bool:
            consumer.stop_flow()
            return super().deliver_now(message)

    conductor = Stopping({TP0})
    offsets = range(fast_faust.CHUNK_MAX_RECORDS * 2)
    assert deliver(consumer, {TP0: [record(o) for o in offsets]}, conductor) is None
    assert [len(c.records) for c in conductor.delivered] == [fast_faust.CHUNK_MAX_RECORDS]
    assert consumer._read_offset[TP0] == fast_faust.CHUNK_MAX_RECORDS - 1  # the rest unread
