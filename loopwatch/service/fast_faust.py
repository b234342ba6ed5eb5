"""Faust with its per-message overhead trimmed: the worker's consumer, conductor and stream.

Stock Faust spends ~200 µs of bookkeeping per message, which caps a one-record-per-message
topic at ~0.04x of a plain aiokafka consumer. The parts below remove that cost and nothing else:
group management, rebalances, table changelogs and commits are Faust's own code paths, and
acks keep Faust's bookkeeping exactly (inlined for a batch of events, see EventBatchStream).

    getmany ──► FastConsumer._drain_messages ──► FastConductor handler ──► channel queue
      (100 ms fetch wait)    (no task per message;    (one channel, no codec)     │
                              an input partition's                                │
                              records as RecordChunks)                            │
                                                         EventBatchStream ◄───────┘
                                  (the events queued now, as one batch, acked once handled)

The input topics (:class:`RecordChunkTopic`) get up to CHUNK_MAX_RECORDS consecutive records
of a partition as one message, a :class:`RecordChunk`: one message, event and queue trip per
chunk instead of per record, which is most of what a topic of one record per message costs.
Acking a chunk acks each of its offsets with ``Consumer.ack``'s bookkeeping; the agent reads
the records with :func:`records_of`.

Every override copies or wraps a private method of **faust-streaming 0.15.3** (pinned exactly
in pyproject.toml, with the aiokafka it was measured on). :data:`UPSTREAM` holds the sha256 of
the source of every upstream object replaced, wrapped or copied here, and a test fails naming
the one whose source changed: when upgrading, diff each against the new upstream, port the
change into the override, then update its hash. Only the ``kafka://`` (aiokafka) transport is
replaced; any other broker URL gets stock Faust. ``LOOPWATCH_FAST_PATH=false`` runs stock Faust
throughout (``app.py``, :class:`StockApp`), with the same results, but for one change it keeps:
a commit waits for the producer buffer ahead of it (:class:`CommitConsumer`).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import inspect
import logging
import pkgutil
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    MutableSet,
)
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.channels import Channel
from faust.events import Event
from faust.exceptions import KeyDecodeError, Skip, ValueDecodeError
from faust.sensors import Monitor
from faust.streams import Stream, _current_event
from faust.transport import consumer as faust_consumer
from faust.transport.conductor import Conductor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP, AppT, CollectionT, EventT, Message, StreamT, TransportT
from faust.types.transports import ConsumerCallback
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.futures import maybe_async, notify

from loopwatch.service import record_crc

log = logging.getLogger(__name__)

__all__ = [
    "OPTIONS",
    "UPSTREAM",
    "App",
    "CommitConsumer",
    "EventBatchStream",
    "RawTopic",
    "RecordChunk",
    "RecordChunkTopic",
    "StockApp",
    "records_of",
    "tune_gc",
    "tune_gc_task",
    "upstream_source",
]

FETCH_MAX_WAIT_MS = 100
"""How long the broker may hold a fetch that has no data. Faust hard-codes 1500 ms; because
every worker is also assigned the always-empty ``<app>-__assignor-__leader`` partition (and idle
changelogs), fetches for a busy partition then stall up to 1.5 s behind it. 100 ms keeps an idle
worker from polling the broker more than ten times a second."""

STREAM_YIELD_EVERY = 64

CHUNK_MAX_RECORDS = STREAM_YIELD_EVERY
"""How many records of one partition one :class:`RecordChunk` carries at most: a batch of the
agent's (``EventBatchStream.batch_max_records``) counts records, and a chunk is never split."""

BATCH_MAX_BYTES = 1024 * 1024
"""How much message value one batch of ``EventBatchStream.event_batches`` takes beyond its
first event: a batch is processed without yielding to the loop, and ship's batched messages
carry ~800 KB each, so a cap on events alone would hold the loop for seconds."""

OPTIONS: dict[str, Any] = {
    # One getmany hands over up to this many messages; the stream buffer must hold 1.25x that
    # (Faust pauses a partition at maxsize / 1.25, and a paused partition's next getmany
    # waits out its 1 s timeout). 4096 is Faust's own default buffer size.
    "broker_max_poll_records": 2000,
    "stream_buffer_maxsize": 4096,
    # ``faust.App`` resolves these by class; see the classes below.
    "Stream": "loopwatch.service.fast_faust:EventBatchStream",
    "Monitor": "loopwatch.service.fast_faust:NullMonitor",
}
"""Faust settings that go with :class:`App` (merged into ``app.faust_options``)."""


# Each key names an upstream object by the class this module subclasses (so an override added
# upstream in between changes the hash too); each value is the sha256 of its source as
# :func:`upstream_source` reads it. Grouped by the override that depends on it.
UPSTREAM: dict[str, str] = {
    # FastConsumer._drain_messages copies it.
    "faust.transport.drivers.aiokafka.Consumer._drain_messages": "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    # FastConsumer._new_consumer_thread replaces it.
    "faust.transport.drivers.aiokafka.Consumer._new_consumer_thread": "0870ec53dea75083995e3565c0f0a25a1c63ecceaeb238e92e2585e3623af5a9",
    # _ShortPollConsumerThread wraps it (it passes fetch_max_wait_ms=1500) ...
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad95c2be36d6a255a86e2c57d18d36cc1082b5fb5c482d99d7",
    # ... and sets a private attribute that only this method reads.
    "aiokafka.consumer.consumer.AIOKafkaConsumer.start": "2f1ba70443327538800d348e61042cdedd5a5e6306f40ebe1a06dddba7494c45",
    # ... and record_crc.check_fetches sets another (check_crcs), wraps the client's send,
    # whose fetch responses the fetcher reads (a partition's records cut before a bad batch:
    # an empty or shorter message set, fetched on from where it ends), and walks the batches
    # as MemoryRecords does, in place of _unpack_records' check.
    "aiokafka.client.AIOKafkaClient.send": "246b277687d7b687d79fd81f0a9718633b61a5ead0a1e9898419a1151ae3a91d",
    "aiokafka.consumer.fetcher.Fetcher._proc_fetch_request": "59bf948fff47eed580671971252454daa614df479733f3bedfefe95bc4d8ad30",
    "aiokafka.consumer.fetcher.PartitionRecords._unpack_records": "b803e6d46480732c7a7faa8e784b338bcdd4e707ea67fba96c013654b04b8a08",
    "aiokafka.record.memory_records._MemoryRecordsPy": "795a0314fbca30afc19c221f90a6649de8d5b4803caf8fc46f36b28c4e7beafe",
    "aiokafka.record.default_records._DefaultRecordBatchPy.validate_crc": "d29d51d221b527b1da04123afbf765bd5aa01b92904c51f6a9d85b2909f89a53",
    "aiokafka.record.legacy_records._LegacyRecordBatchPy.validate_crc": "71ffc8e3ee2046d56b85275c9a9d9b0734ac6097f2556020152a350156ac6b2d",
    # CommitConsumer._commit (both paths) wraps it and drains the producer buffer first: upstream
    # flushes the producer before it commits, but the buffer's flush returns once 0.1 s passes
    # without a send.
    "faust.transport.drivers.aiokafka.Consumer._commit": "a20eec84e4b2ed5072f6c6ab7707ac03d69e2255d67f115c31f8dc9cc246dc66",
    "faust.transport.consumer.Consumer._commit_offsets": "1a6979904118844111259d182ca1c6e92ccc16364ccbe55c58e59d6e254a7adb",
    "faust.transport.producer.ProducerBuffer.flush_atmost": "4966e8c5f9b42eb97abe3f93cbc9bc566a22bdea01ae5328c5a6593414820323",
    # FastConsumer.getmany copies it.
    "faust.transport.drivers.aiokafka.Consumer.getmany": "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
    # ... and iterates a single partition's records as its DefaultSchedulingStrategy would.
    "faust.transport.utils.DefaultSchedulingStrategy": "93e70bad15f8e7e131bab7a079f16504bdc95b3b9852f9c88a6ee6051de19d38",
    "faust.transport.utils.TopicBuffer": "8dc48b97e13cfd26b91941f4b662af7ab668d81b2333e49862698922b289c62b",
    # RecordChunk builds on the message's constructor, makes the messages _to_message would
    # (when a chunk must be split), and its final ack does Consumer.ack's bookkeeping (below)
    # for every record, reached through Message.ack as upstream's final ack is.
    "faust.types.tuples.ConsumerMessage.__init__": "afe1f75975597bc3bfb55386ea3c57e9705ecb42dcfa932c445672172f03bf40",
    "faust.transport.drivers.aiokafka.Consumer._to_message": "7c24f6511b2fcef7cbfe73526e78de033bfe0df211f1fd30509d699c9deb6ce4",
    # FastConsumer._deliver_chunks adds gaps as the drain loop does.
    "faust.transport.consumer.Consumer._add_gap": "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
    # FastConductor._compile_message_handler replaces it.
    "faust.transport.conductor.Conductor._compile_message_handler": "9fbc0538097aa4eca6113b99df8d17605ae72a6b5030482f041a183f4cc34df1",
    # FastConductor._build_handler wraps it, and its handler copies the one built by the
    # compiler, or by the Cython handler that stock Faust runs when it is compiled.
    "faust.transport.conductor.Conductor._build_handler": "5c071d1277988c57e4bb62e25551981babd67d6544d85db9b14bdb0d8aa1b56d",
    "faust.transport.conductor.ConductorCompiler.build": "837cf521368c1ee4b22c235a2b137f665eca03d0e3e01b5ddedb65232ee73bf2",
    "faust.transport._cython.conductor.ConductorHandler": "dde1f974267881cf8c5f7e4fd2b114a2c6d754633a2aa9a2a2fc92f93e143dba",
    # ... and it reads the producer buffer's size as ProducerBuffer.size does.
    "faust.transport.producer.ProducerBuffer.size.fget": "b543a978fdece62e7d7c434eea6e842995d67cc1d3288434f5f26ad72c10a779",
    # _FastTransport replaces the Consumer and Conductor classes that these instantiate.
    "faust.transport.drivers.aiokafka.Transport.create_consumer": "46cc2bf5ab14acfab4e00d77004a1f4b9306b7f4f86293b6708d11bfce11188a",
    "faust.transport.drivers.aiokafka.Transport.create_conductor": "eeedfbe95f17eff1047c94cd9670c2a3121914a0e0dd379cccc7f494cd4e0c5e",
    # StockApp._new_transport (and so App's) replaces it.
    "faust.app.base.App._new_transport": "42db531312dd776fc3937154a32f19eeb9ad7d4ebc2722a92d081a2d271baea1",
    # RawTopic._compile_decode replaces it, and its decoder stands in for the schema's.
    "faust.topics.Topic._compile_decode": "6474178f8c211c056192d1b1a470cd9a617a3d7c59babf9b9297b24e3e507c26",
    "faust.serializers.schemas.Schema.compile": "d46eec5ce3195b2c6752cb860a10946cee66ddf6a955f2ea44ac1568c0ecb9ad",
    # NullMonitor replaces these.
    "faust.sensors.monitor.Monitor.on_message_in": "b2a9a9045b2f456cc736fdbf99f47f4f45335896050c9e48703dfc8146ca51ea",
    "faust.sensors.monitor.Monitor.on_stream_event_in": "df6d2e5f6397ce441d1fdeb83cb7cb5893a33e507e5e0c8caad38e6a916d838d",
    "faust.sensors.monitor.Monitor.on_stream_event_out": "2d2277a6dbda754cd655207496c08adb6b9141e59556cd9373593c1ef28a18bd",
    "faust.sensors.monitor.Monitor.on_message_out": "7c4054247cde96c35740d0f5876b90d67549eed0af16f19cdcb3337e719a6c3b",
    "faust.sensors.monitor.Monitor.track_tp_end_offset": "94ceb4542d7c1082f7c59da60c76399f2ad71f2bb9c276fdc3b3ccdb7b716d4d",
    "faust.sensors.monitor.Monitor.on_table_get": "240aac793cfe60027fc2ac92951319c2fafce5f60860db858a830b77cd8b037c",
    "faust.sensors.monitor.Monitor.on_table_set": "fe5ba12e91b2f6d4de611d82d7856f9641b97cc0c67d0a592d515167703ea127",
    # BatchYieldStream.__aiter__ replaces it; _batch_aiter copies the Python iterator, and
    # stands in for the Cython one that stock Faust runs when it is compiled.
    "faust.streams.Stream.__aiter__": "e815c0e831f1d2ccf43b083b725f87403dc38142dedda59d12b249ab2e044c50",
    "faust.streams.Stream._py_aiter": "3a48ee257a65435b482d51edb74f2993a67867949b1ef89b49fea893769e0614",
    "faust.streams.Stream._c_aiter": "fa44582a5882e9df5240199eabc475668bcd3c13b1816c45805dc746145b80bf",
    "faust._cython.streams.StreamIterator": "0041622f4a251188f53d73e6d51d18d16f0f427512df1e96c043cfdeea4c3250",
    # EventBatchStream._ack_unsensed inlines these.
    "faust.events.Event.ack": "2d29a6eda87c4ce5f7a491e486c88be99b96f92bb05a7a70e9bf57a7609a3cda",
    "faust.types.tuples.Message.ack": "4751b72c4ed84153a7b6c14fdfe41cc92e477b38a6c6089cb785532ef5771688",
    "faust.types.tuples.Message.decref": "f23396189d0e55922d5c9c627879af52e076aa2a14262b4ea72aee86534c729b",
    "faust.types.tuples.ConsumerMessage.on_final_ack": "45d670b6a8ac4bd07a3e5600c89358638415b7a2bf1d17c03c260cfc1b8a8e5a",
    "faust.transport.consumer.Consumer.ack": "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f",
    # EventBatchStream._event_batches copies the iterator's bookkeeping too (above), leaves
    # out on_merge (a pass-through without a join), and yields what events() would.
    "faust.streams.Stream.on_merge": "31d6008ee34da6842b764044d15fce4ef9cb38a08019337b34bae89b5c4f79bd",
    "faust.streams.Stream.events": "c62f4dd3a73fe7aaa7c61fd2658bffe97a05aa9c6926b96f9e4d49dcf3250f93",
}
"""sha256 of each upstream object's source that the overrides below were written against."""


def upstream_source(name: str) -> str:
    """The source text of the upstream object ``name`` (``package.module.Class.attr``).

    An attribute is looked up on the class as Python would (through its bases). A class
    compiled by Cython has no source to inspect: its ``.pyx`` file, shipped beside the
    extension module, is read whole instead. Raises ImportError or AttributeError when the
    object is gone, OSError when no source is installed.
    """
    obj = pkgutil.resolve_name(name)
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        module = inspect.getmodule(obj)
        compiled = getattr(module, "__file__", None)
        if compiled is None or not compiled.endswith(".so"):
            raise
        path = Path(compiled)  # e.g. streams.cpython-311-x86_64-linux-gnu.so
        return path.with_name(path.name.split(".", 1)[0] + ".pyx").read_text()


def source_sha256(name: str) -> str:
    """sha256 (hex) of :func:`upstream_source` of ``name``."""
    return hashlib.sha256(upstream_source(name).encode()).hexdigest()


# -- consumer --------------------------------------------------------------------------------------


class _Resume:
    """Await the rest of a coroutine that already ran up to its first suspension on ``fut``."""

    __slots__ = ("coro", "fut")

    def __init__(self, coro: Coroutine[Any, Any, Any], fut: Any) -> None:
        self.coro, self.fut = coro, fut

    def __await__(self) -> Generator[Any, None, Any]:
        coro, fut = self.coro, self.fut
        while True:
            try:
                yield fut
            except BaseException as exc:  # a cancellation, say: the coroutine must see it
                try:
                    fut = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    fut = coro.send(None)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Coroutine[Any, Any, Any], fut: Any) -> Any:
    return await _Resume(coro, fut)


def _seconds(timestamp_ms: int | None) -> float:
    # A record's timestamp (ms, or None) as a message's, as Consumer._to_message converts it.
    return cast(float, None) if timestamp_ms is None else timestamp_ms / 1000.0


class RecordChunk(ConsumerMessage):
    """Consecutive records of one partition, delivered to a stream as one message.

    Its offset is the last record's; ``records`` are aiokafka's ConsumerRecords, in order
    (each with its own offset, key, value and timestamp in ms); its key and value are None
    and ``serialized_value_size`` is the sum of the records' values. Acking the chunk acks
    every record's offset at once, with the bookkeeping of ``Consumer.ack``, so an offset is
    committable exactly when its record would have been as a message of its own. Made only
    by :class:`FastConsumer`, for a partition whose handler takes chunks
    (``FastConductor.takes_chunks``); :func:`records_of` reads them.
    """

    def __init__(self, tp: TP, records: list[Any], size: int, generation_id: int) -> None:
        last = records[-1]
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            _seconds(last.timestamp),
            last.timestamp_type,
            None,
            None,
            None,
            None,
            0,
            size,
            tp,
            generation_id=generation_id,
        )
        self.records = records

    def messages(self) -> list[ConsumerMessage]:
        """The records as the messages of their own that the consumer would have made."""
        return [
            ConsumerMessage(
                r.topic,
                r.partition,
                r.offset,
                _seconds(r.timestamp),
                r.timestamp_type,
                r.headers,
                r.key,
                r.value,
                r.checksum,
                r.serialized_key_size,
                r.serialized_value_size,
                self.tp,
                generation_id=self.generation_id,
            )
            for r in self.records
        ]

    def on_final_ack(self, consumer: Any) -> bool:
        # Upstream's final ack is consumer.ack(self), which marks one offset. Here:
        # Consumer.ack's bookkeeping for each record's offset, under one hold of its lock.
        if type(consumer).ack is not faust_consumer.Consumer.ack:
            acked = False
            for message in self.messages():
                acked = consumer.ack(message) or acked
            self.acked = True
            return acked
        with ack_lock:
            if self.acked:
                return False
            self.acked = True
            if not consumer.app.topics.acks_enabled_for(self.topic):
                return False
            tp = self.tp
            committed = consumer._committed_offset[tp]
            acked_index = consumer._acked_index[tp]
            acked_for_tp = consumer._acked[tp]
            added = 0
            try:
                for record in self.records:
                    offset = record.offset
                    if (committed is None or offset >= committed) and offset not in acked_index:
                        acked_index.add(offset)
                        acked_for_tp.append(offset)
                        added += 1
                consumer._n_acked += added
                # Upstream leaves a message whose offset is already committed in the unacked
                # set until it is collected (a weak set); a chunk leaves it when acked.
                consumer._unacked_messages.discard(self)
            finally:
                notify(consumer._waiting_for_ack)
            return added > 0


def records_of(events: Iterable[EventT[Any]]) -> Iterator[tuple[int, int, Any, Any, float | None]]:
    """(partition, offset, key, value, timestamp in s) of each record the events carry, in
    order: one per event, or each record of an event whose message is a :class:`RecordChunk`."""
    for event in events:
        message = event.message
        if type(message) is RecordChunk:
            for record in message.records:
                yield (
                    record.partition,
                    record.offset,
                    record.key,
                    record.value,
                    _seconds(record.timestamp),
                )
        else:
            yield message.partition, message.offset, message.key, message.value, message.timestamp


class _ShortPollConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    # Upstream passes fetch_max_wait_ms=1500 straight to AIOKafkaConsumer with no setting to
    # change it; AIOKafkaConsumer reads the attribute only in start(), so setting it here works.
    # It also checks the fetched batches' CRCs with the CPU's CRC32C (record_crc), not
    # aiokafka's table: the same check, at a fraction of the cost.
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        record_crc.check_fetches(consumer)
        return consumer


class CommitConsumer(faust_aiokafka.Consumer):
    """The aiokafka consumer whose commit waits for the producer buffer: the one change the
    stock path (``LOOPWATCH_FAST_PATH=false``) makes to Faust, and the fast path's base."""

    async def _commit(self, offsets: Any) -> bool:
        # Upstream flushes the producer before it commits offsets, so that the table writes
        # their messages caused are on the broker first; but its buffer's flush gives up once
        # 0.1 s passes without a send (ProducerBuffer.flush_atmost), and under load thousands
        # of writes were left behind while their inputs' offsets were committed: a worker
        # killed then lost those writes, and its successor skipped their messages. Wait for
        # every message queued before this commit (the buffer is FIFO), then flush on.
        producer = self.app.producer
        buffer = producer.buffer
        ahead = buffer.size
        while ahead > 0 and buffer.size:
            ahead -= await buffer.flush_atmost(ahead)
        await producer.flush()  # what left the buffer: aiokafka's own batches, delivered
        return bool(await super()._commit(offsets))


class FastConsumer(CommitConsumer):
    """The aiokafka consumer with a short fetch wait and a drain loop without a task per message."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ShortPollConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        # Upstream's (faust/transport/consumer.py, Consumer.getmany), split in two so that the
        # drain loop iterates the records without an async generator: _fetched is what awaits,
        # _fetched_messages the loop over the records (a plain generator).
        fetched = await self._fetched(timeout)
        if fetched is not None:
            for item in self._fetched_messages(*fetched):
                yield item

    async def _fetched(self, timeout: float) -> tuple[Any, set[TP] | None, int] | None:
        """The records of one fetch, the active partitions and the consumer generation they
        were fetched in; None when there are none to deliver (stopping, or flow suspended:
        then, as upstream does, the consumer seeks back to the committed offsets)."""
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return None
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")
            return None
        return records, active_partitions, generation_id

    def _fetched_messages(
        self, records: Any, active_partitions: set[TP] | None, generation_id: int
    ) -> Iterator[tuple[TP, Message]]:
        # Upstream's loop, with its per-record ``self.highwater(tp)`` (a call through the
        # consumer thread's delegate) skipped when the monitor it is handed to is the
        # NullMonitor, which ignores it.
        app = self.app
        to_message = self._to_message
        monitor = app.monitor
        track_end = None if isinstance(monitor, NullMonitor) else monitor.track_tp_end_offset
        buffered = self._buffered_partitions
        if len(records) == 1 and type(self.scheduler) is DefaultSchedulingStrategy:
            # One partition's records: the round-robin over topics and partitions is that
            # partition's list, in order, without two generators per record.
            [(only, only_records)] = records.items()
            records_it: Iterator[tuple[TP, Any]] = zip(repeat(only), only_records)
        else:
            records_it = self.scheduler.iterate(records)
        for tp, record in records_it:
            if not self.flow_active:
                break
            new_generation_id = app.consumer_generation_id
            if new_generation_id != generation_id:
                self.log.dev(
                    "Generation id changed from %r to %r. Cancelling getmany.",
                    generation_id,
                    new_generation_id,
                )
                break
            if active_partitions is None or tp in active_partitions or tp in buffered:
                if track_end is not None:
                    track_end(tp, self.highwater(tp))
                yield tp, to_message(tp, record)

    async def _deliver_chunks(
        self,
        records: Any,
        active_partitions: set[TP] | None,
        generation_id: int,
        conductor: FastConductor,
    ) -> tuple[Any, set[TP] | None, int] | None:
        """Deliver the fetched records of every partition whose handler takes
        :class:`RecordChunk` s, as chunks; what is left of the fetch, for the message loop.

        Per record, this is the drain loop's bookkeeping (read offsets, dropped redeliveries,
        gaps) and ``_fetched_messages``' checks (flow, generation, active partitions); what it
        saves is a ConsumerMessage, an Event and a trip through the channel's queue per record.
        Partitions follow one another instead of being interleaved record by record: a chunk
        is at most CHUNK_MAX_RECORDS records or BATCH_MAX_BYTES of values, so none waits long.
        """
        chunked = [tp for tp in records if conductor.takes_chunks(tp)]
        if not chunked:
            return records, active_partitions, generation_id
        app = self.app
        buffered = self._buffered_partitions
        monitor = app.monitor
        track_end = None if isinstance(monitor, NullMonitor) else monitor.track_tp_end_offset
        read_offsets = self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        for tp in chunked:
            tp_records = records[tp]
            if not self._may_deliver(generation_id):
                return None
            if not (active_partitions is None or tp in active_partitions or tp in buffered):
                continue
            if track_end is not None:  # once for the partition: its high water is the fetch's
                track_end(tp, self.highwater(tp))
            chunk: list[Any] = []
            size = 0
            r_offset = read_offsets[tp]
            for record in tp_records:
                offset = record.offset
                if r_offset is not None and offset < r_offset:
                    self.log.dev("DROPPED MESSAGE ROFF %r", offset)
                    continue
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and acks_enabled_for(tp.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                r_offset = offset
                chunk.append(record)
                value = record.value
                size += len(value) if value else 0
                if len(chunk) >= CHUNK_MAX_RECORDS or size >= BATCH_MAX_BYTES:
                    if not await self._deliver_chunk(tp, chunk, size, generation_id, conductor):
                        return None
                    chunk, size = [], 0
            if chunk and not await self._deliver_chunk(tp, chunk, size, generation_id, conductor):
                return None
        rest = {tp: tp_records for tp, tp_records in records.items() if tp not in chunked}
        return (rest, active_partitions, generation_id) if rest else None

    def _may_deliver(self, generation_id: int) -> bool:
        """``_fetched_messages``' test before each record, made before each chunk: flow is
        active and the generation the fetch was made in is current; when not, upstream
        delivers nothing more of the fetch, and neither does the chunk path."""
        return bool(self.flow_active) and self.app.consumer_generation_id == generation_id

    async def _deliver_chunk(
        self,
        tp: TP,
        records: list[Any],
        size: int,
        generation_id: int,
        conductor: FastConductor,
    ) -> bool:
        """The drain loop's steps for one message, once for the chunk: commit when due,
        deliver (waiting, raced against a rebalance, only when the handler must), mark read.
        False, with nothing done, when the fetch may deliver no more (``_may_deliver``)."""
        if not self._may_deliver(generation_id):
            return False
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()
        chunk = RecordChunk(tp, records, size, self.app.consumer_generation_id)
        if not conductor.deliver_now(chunk):
            await self.wait_first(conductor.on_message(chunk), self.suspend_flow.wait())
        self._read_offset[tp] = chunk.offset
        return True

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        # Upstream (faust/transport/consumer.py, Consumer._drain_messages) delivers each message
        # with ``await self.wait_first(callback(message), self.suspend_flow.wait())``: four tasks
        # and an asyncio.wait per message, most of Faust's per-message cost. Here the callback
        # runs eagerly; when it completes without suspending (flow active, producer buffer and
        # the stream's queue not full: the common case) nothing else is needed. Only when it
        # does suspend is its remainder raced against ``suspend_flow`` exactly as upstream does,
        # so a rebalance still interrupts a blocked delivery. getmany is iterated in its two
        # halves (see there), without an async generator. The rest is upstream's loop.
        callback = self.callback
        # FastConductor delivers a message without a coroutine when nothing is to be waited
        # for; when it cannot, the handler's coroutine below does as before.
        topics = self.app.topics
        conductor = (
            topics if isinstance(topics, FastConductor) and callback == topics.on_message else None
        )
        deliver_now = conductor.deliver_now if conductor is not None else None
        fetch, fetched_messages = self._fetched, self._fetched_messages  # getmany, in two
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = cast(faust_aiokafka.Consumer, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspend_flow = self.suspend_flow
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if not self.should_stop:
                    fetched = await fetch(timeout=1.0)
                    if fetched is not None and conductor is not None:
                        fetched = await self._deliver_chunks(*fetched, conductor)
                    if fetched is not None:
                        for tp, message in fetched_messages(*fetched):
                            num_since_yield += 1
                            if num_since_yield > yield_every:
                                await sleep(0)
                                num_since_yield = 0
                            offset = message.offset
                            r_offset = get_read_offset(tp)
                            if r_offset is None or offset >= r_offset:
                                gap = offset - (r_offset or 0)
                                if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                    await self._add_gap(tp, r_offset + 1, offset)
                                if commit_every is not None and self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                                if deliver_now is None or not deliver_now(message):
                                    coro = cast(Coroutine[Any, Any, Any], callback(message))
                                    try:
                                        fut = coro.send(None)
                                    except StopIteration:
                                        pass  # delivered without suspending
                                    else:
                                        await self.wait_first(
                                            _resume(coro, fut), suspend_flow.wait()
                                        )
                                set_read_offset(tp, offset)
                            else:
                                self.log.dev("DROPPED MESSAGE ROFF %r", offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


# -- conductor -------------------------------------------------------------------------------------


class FastConductor(Conductor):
    """Conductor with a lean handler for a partition that feeds exactly one channel (ours all do).

    Upstream (faust/transport/conductor.py, ConductorCompiler.build) awaits flow control and the
    producer buffer and builds delivery sets on every message; this handler awaits only when
    there is something to wait for, and hands other partitions to upstream's handler.
    """

    def _compile_message_handler(self) -> ConsumerCallback:
        if self.app.client_only:
            return super()._compile_message_handler()
        callbacks = self._tp_to_callback
        lock = self._tp_to_callback_lock

        async def on_message(message: Message) -> None:
            # Upstream takes the lock for every message; an uncontended asyncio.Lock never
            # suspends, so only a rebuild of the callback map (under the lock) needs waiting for.
            if lock.locked():
                async with lock:
                    callback = callbacks[message.tp]
            else:
                callback = callbacks[message.tp]
            if type(message) is RecordChunk and not getattr(callback, "takes_chunks", False):
                for one in message.messages():  # the handler changed since the chunk was cut
                    await callback(one)
                return
            await callback(message)

        return on_message

    def takes_chunks(self, tp: TP) -> bool:
        """True when ``tp``'s handler now feeds one :class:`RecordChunkTopic` (whose stream
        reads chunks), so the consumer may deliver its records as :class:`RecordChunk` s."""
        if self._tp_to_callback_lock.locked():
            return False
        return getattr(self._tp_to_callback.get(tp), "takes_chunks", False) is True

    def _build_handler(self, tp: TP, channels: MutableSet[Any]) -> ConsumerCallback:
        upstream = super()._build_handler(tp, channels)
        if len(channels) != 1:
            return upstream
        [chan] = channels
        app = self.app
        consumer = app.consumer
        flow_active = app.flow_control.is_active
        acquire_flow_control = app.flow_control.acquire
        pbuffer = app.producer.buffer
        threaded = app.conf.producer_threaded
        wait_until_producer_ebb = pbuffer.wait_until_ebb
        on_topic_buffer_full = app.sensors.on_topic_buffer_full
        consumer_on_buffer_full = consumer.on_buffer_full
        consumer_on_buffer_drop = consumer.on_buffer_drop
        raw = isinstance(chan, RawTopic)
        make_event = _event_factory(app)

        def on_pressure_high() -> None:
            on_topic_buffer_full(tp)
            consumer_on_buffer_full(tp)

        def on_pressure_drop() -> None:
            consumer_on_buffer_drop(tp)

        async def on_message(message: Message) -> None:
            if len(channels) != 1 or chan not in channels:  # subscriptions changed under us
                if type(message) is RecordChunk:
                    for one in message.messages():
                        await upstream(one)
                else:
                    await upstream(message)
                return
            if not flow_active():
                await acquire_flow_control()
            # ProducerBuffer.size, unthreaded, without its per-message settings lookup.
            if threaded or pbuffer.pending.qsize() > pbuffer.max_messages:
                await wait_until_producer_ebb()
            message.incref(1)
            if raw:  # RawTopic.decode, without a coroutine per message
                event = make_event(app, message.key, message.value, message.headers, message)
            else:
                try:
                    event = await chan.decode(message, propagate=True)
                except KeyDecodeError as exc:
                    message.ack(consumer, n=1)
                    await chan.on_key_decode_error(exc, message)
                    return
                except ValueDecodeError as exc:
                    message.ack(consumer, n=1)
                    await chan.on_value_decode_error(exc, message)
                    return
            queue = chan.queue
            if queue.full():
                on_topic_buffer_full(tp)
                await chan.put(event)
            else:
                queue.put_nowait_enhanced(
                    event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop
                )

        def deliver_now(message: Message) -> bool:
            # on_message's path when nothing is to be waited for, without a coroutine.
            if not raw or threaded or len(channels) != 1 or chan not in channels:
                return False
            if not flow_active() or pbuffer.pending.qsize() > pbuffer.max_messages:
                return False
            queue = chan.queue
            if queue.full():
                return False
            message.incref(1)
            event = make_event(app, message.key, message.value, message.headers, message)
            queue.put_nowait_enhanced(
                event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop
            )
            return True

        on_message.deliver_now = deliver_now  # type: ignore[attr-defined]  # see deliver_now
        # Only a channel whose stream knows chunks gets them; the handler still checks, per
        # message, that the channel is the one it was built for (see on_message).
        on_message.takes_chunks = isinstance(chan, RecordChunkTopic) and not threaded  # type: ignore[attr-defined]
        return on_message

    def deliver_now(self, message: Message) -> bool:
        """Deliver ``message`` as its partition's handler would, if that needs no waiting
        (flow active, buffers not full, no rebuild of the handlers under way); False when it
        was not delivered: the caller awaits the handler instead."""
        if self._tp_to_callback_lock.locked():
            return False
        handler = self._tp_to_callback.get(message.tp)
        if type(message) is RecordChunk and not getattr(handler, "takes_chunks", False):
            # The handler's channel changed since the chunk was cut: on_message splits it.
            return False
        deliver = getattr(handler, "deliver_now", None)
        return deliver is not None and bool(deliver(message))


class _CommitTransport(faust_aiokafka.Transport):
    Consumer = CommitConsumer


class _FastTransport(faust_aiokafka.Transport):
    Consumer = FastConsumer
    Conductor = FastConductor


class StockApp(faust.App):
    """``faust.App`` whose ``kafka://`` consumer only commits once the producer buffer ahead
    of the commit is sent (:class:`CommitConsumer`); stock Faust otherwise."""

    _transport_class: type[faust_aiokafka.Transport] = _CommitTransport

    def _new_transport(self) -> TransportT:
        if self.conf.broker_consumer[0].scheme not in ("kafka", "aiokafka"):
            return super()._new_transport()
        return self._transport_class(self.conf.broker_consumer, self)


class App(StockApp):
    """``faust.App`` whose ``kafka://`` consumer transport is the fast one above."""

    _transport_class = _FastTransport


# -- topics, streams, sensors ----------------------------------------------------------------------


def _event_factory(app: AppT) -> Callable[..., EventT[Any]]:
    # conf.Event is typed as the EventT protocol class, which mypy will not call.
    return cast(Callable[..., EventT[Any]], app.conf.Event or Event)


class RawTopic(faust.Topic):
    """A topic whose messages reach the stream as bytes, without the codec registry.

    Upstream ``Topic.decode`` goes through the serializer machinery even for ``raw`` (a few
    µs per message). Producing to it is unchanged. Declare it with raw key and value serializers
    so that both directions agree.
    """

    def _compile_decode(self) -> None:
        app = self.app
        make_event = _event_factory(app)

        async def decode(message: Message, *, propagate: bool = False) -> EventT[Any]:
            return make_event(app, message.key, message.value, message.headers, message)

        self.decode = decode  # type: ignore[method-assign]  # per-instance compiled decoder, as upstream


class RecordChunkTopic(RawTopic):
    """A :class:`RawTopic` whose events may each carry several records as one
    :class:`RecordChunk` (the fast consumer makes them): for an agent that reads its events
    with :func:`records_of`, never ``event.value``. Producing to it is unchanged."""


class NullMonitor(Monitor):
    """The default sensor without its per-message bookkeeping.

    Loopwatch keeps its own counters (``metrics.py``) and exposes none of the Monitor's, so its
    per-message dict updates and timestamps are pure cost. Rebalance and commit hooks stay.
    """

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        pass

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        pass

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        pass


class BatchYieldStream(Stream[Any]):
    """A stream that yields to the event loop every ``yield_every`` events, not after each.

    Upstream (faust/streams.py, Stream._py_aiter) runs ``await asyncio.sleep(0)`` before every
    event: a full loop turn per message. Waiting on an empty queue yields anyway, so this only
    changes how long a busy stream runs before letting the consumer and timers in. Otherwise
    it is upstream's iterator: acks, generation checks, current_event, processors, sensors.
    """

    yield_every = STREAM_YIELD_EVERY

    def __aiter__(self) -> AsyncIterator[Any]:  # pragma: no cover
        if not isinstance(self.channel, Channel):  # a stream over a plain iterable
            return super().__aiter__()
        it = self._batch_aiter()
        self._active_agens.add(it)
        return it

    async def _batch_aiter(self) -> AsyncGenerator[Any, None]:  # pragma: no cover
        self._finalized = True
        started_by_aiter = await self.maybe_start()
        on_merge = self.on_merge
        on_stream_event_out = self._on_stream_event_out
        on_message_out = self._on_message_out
        channel = cast(Channel[Any], self.channel)
        chan_queue = channel.queue
        chan_queue_empty = chan_queue.empty
        chan_errors = chan_queue._errors
        chan_quick_get = chan_queue.get_nowait
        chan_slow_get = channel.__anext__
        processors = self._processors
        on_stream_event_in = self._on_stream_event_in
        create_ref = weakref.ref
        app = self.app
        add_unacked = app.consumer.unacked.add
        acking_topics = app.topics.acking_topics
        on_message_in = self._on_message_in
        sleep = asyncio.sleep
        skipped_value = self._skipped_value
        flow_active = app.flow_control.is_active
        yield_every = self.yield_every
        since_yield = 0
        try:
            while not self.should_stop:
                event: EventT[Any] | None = None
                do_ack = self.enable_acks
                value: Any = None
                sensor_state = None
                while value is None and event is None:
                    since_yield += 1
                    if since_yield >= yield_every:
                        since_yield = 0
                        await sleep(0)
                    if chan_errors:
                        raise chan_errors.popleft()
                    if chan_queue_empty():
                        since_yield = 0  # the get below waits in the loop anyway
                        channel_value = await chan_slow_get()
                    else:
                        channel_value = chan_quick_get()
                    if isinstance(channel_value, EventT):
                        event = channel_value
                        message = event.message
                        tp = message.tp
                        offset = message.offset
                        if not flow_active() or message.generation_id != app.consumer_generation_id:
                            value = skipped_value
                            break
                        if message.topic in acking_topics and not message.tracked:
                            message.tracked = True
                            add_unacked(message)
                            on_message_in(tp, offset, message)
                        sensor_state = on_stream_event_in(tp, offset, self, event)
                        _current_event.set(create_ref(event))
                        self.current_event = event
                        value = event.value
                    else:
                        value = channel_value
                        self.current_event = None
                        sensor_state = None
                    try:
                        for processor in processors:
                            value = await maybe_async(processor(value))
                        value = await on_merge(value)
                    except Skip:
                        value = skipped_value
                try:
                    if value is not skipped_value:
                        self.events_total += 1
                        yield value
                finally:
                    self.current_event = None
                    if event is not None and (do_ack or value is skipped_value):
                        last_stream_to_ack = event.ack()
                        message = event.message
                        on_stream_event_out(message.tp, message.offset, self, event, sensor_state)
                        if last_stream_to_ack:
                            on_message_out(message.tp, message.offset, message)
        except StopAsyncIteration:
            return
        finally:
            self._channel_stop_iteration(channel)
            if started_by_aiter:
                await self.stop()
                self.service_reset()


class EventBatchStream(BatchYieldStream):
    """:class:`BatchYieldStream` that can also hand over the events queued now as one list.

    One record per message costs the agent a trip through two generators (``events()`` over
    the iterator), a contextvar and a weakref per message; :meth:`event_batches` does the
    iterator's bookkeeping for a whole batch in one loop instead. Acks keep their promise: an
    event is acked only once the consumer of the batch comes back for the next one (it has
    processed and sent everything), never before; if it raises instead, none of the batch is
    acked, so a crash never commits an offset whose message was not fully handled.
    """

    batch_max_records = STREAM_YIELD_EVERY
    batch_max_bytes = BATCH_MAX_BYTES

    def event_batches(self) -> AsyncIterator[list[EventT[Any]]]:
        """The stream's events in batches (lists, in order, never empty), like ``events()``.

        A batch is what the channel holds when it is taken: at least one event, at most
        ``batch_max_records`` records (a :class:`RecordChunk` counts its records) and, beyond
        the first event, no more than ``batch_max_bytes`` of values.
        A stream with processors or a join, or over a plain iterable, gets one event a
        batch, through ``events()``.
        """
        if self._processors or self.join_strategy or not isinstance(self.channel, Channel):
            return self._single_batches()
        it = self._event_batches()
        self._active_agens.add(it)
        return it

    async def _single_batches(self) -> AsyncGenerator[list[EventT[Any]], None]:
        async for event in self.events():
            yield [event]

    async def _event_batches(self) -> AsyncGenerator[list[EventT[Any]], None]:  # pragma: no cover
        # _batch_aiter's bookkeeping per event (acks tracked, generation and flow checks,
        # sensors), minus what only a value iterator needs: there are no processors and no
        # join (see event_batches), so Stream.on_merge would pass values through unchanged,
        # and events() skips non-event values. The generation check is upstream's, made as each event is taken;
        # the agent processes a batch without suspending, so no rebalance falls in between.
        self._finalized = True
        started_by_aiter = await self.maybe_start()
        on_stream_event_out = self._on_stream_event_out
        on_message_out = self._on_message_out
        channel = cast(Channel[Any], self.channel)
        chan_queue = channel.queue
        chan_queue_empty = chan_queue.empty
        chan_errors = chan_queue._errors
        chan_quick_get = chan_queue.get_nowait
        chan_slow_get = channel.__anext__
        on_stream_event_in = self._on_stream_event_in
        app = self.app
        add_unacked = app.consumer.unacked.add
        acking_topics = app.topics.acking_topics
        on_message_in = self._on_message_in
        sleep = asyncio.sleep
        flow_active = app.flow_control.is_active
        max_records = self.batch_max_records
        max_bytes = self.batch_max_bytes
        do_ack = self.enable_acks
        sensors = app.sensors
        try:
            while not self.should_stop:
                # The sensors' per-event calls do nothing when the only sensor is the
                # NullMonitor (looked at per batch: a sensor may be added at any time).
                sensed = any(type(sensor) is not NullMonitor for sensor in sensors)
                batch: list[EventT[Any]] = []
                states: list[dict[str, Any] | None] = []
                skipped: list[EventT[Any]] = []
                size = records = 0
                while not batch:
                    if chan_errors:
                        raise chan_errors.popleft()
                    if chan_queue_empty():
                        channel_value = await chan_slow_get()
                    else:
                        channel_value = chan_quick_get()
                    while True:
                        if isinstance(channel_value, EventT):
                            event = channel_value
                            message = event.message
                            tp = message.tp
                            offset = message.offset
                            if (
                                not flow_active()
                                or message.generation_id != app.consumer_generation_id
                            ):
                                skipped.append(event)
                            else:
                                if message.topic in acking_topics and not message.tracked:
                                    message.tracked = True
                                    add_unacked(message)
                                    if sensed:
                                        on_message_in(tp, offset, message)
                                if sensed:
                                    states.append(on_stream_event_in(tp, offset, self, event))
                                batch.append(event)
                                if type(message) is RecordChunk:
                                    records += len(message.records)
                                    size += message.serialized_value_size
                                else:
                                    records += 1
                                    value = message.value
                                    size += len(value) if value else 0
                        if (
                            records >= max_records
                            or size >= max_bytes
                            or chan_errors
                            or chan_queue_empty()
                        ):
                            break
                        channel_value = chan_quick_get()
                    for event in skipped:  # acked at once, as upstream acks a skipped value
                        self._ack_event(event, None, on_stream_event_out, on_message_out)
                    skipped.clear()
                self.events_total += len(batch)
                yield batch
                # Only reached when the agent asks for more: the whole batch is handled.
                if do_ack and sensed:
                    for event, state in zip(batch, states, strict=True):
                        self._ack_event(event, state, on_stream_event_out, on_message_out)
                elif do_ack:
                    self._ack_unsensed(batch)
                if not chan_queue_empty():
                    await sleep(0)  # a busy stream lets the consumer and timers in
        except StopAsyncIteration:
            return
        finally:
            self._channel_stop_iteration(channel)
            if started_by_aiter:
                await self.stop()
                self.service_reset()

    def _ack_unsensed(self, batch: list[EventT[Any]]) -> None:
        """``event.ack()`` for each event of ``batch``, under one hold of ``ack_lock``.

        With no sensor to tell, that is Event.ack -> Message.ack (decref) ->
        ConsumerMessage.on_final_ack -> Consumer.ack, inlined here: four calls and two lock
        acquisitions per message otherwise. Waiters for acks are woken once, after the batch.
        Any other kind of consumer or message takes upstream's own path.
        """
        if type(self.app.consumer).ack is not faust_consumer.Consumer.ack:
            for event in batch:
                event.ack()
            return
        consumer = cast(faust_consumer.Consumer, self.app.consumer)
        acks_enabled_for = self.app.topics.acks_enabled_for
        committed_offsets = consumer._committed_offset
        acked_indexes = consumer._acked_index
        acked = consumer._acked
        unacked = consumer._unacked_messages
        notify_waiters = False
        with ack_lock:
            try:
                for event in batch:
                    message = event.message
                    if type(message) is not ConsumerMessage or event.app is not self.app:
                        message.ack(event.app.consumer)
                        continue
                    if message.acked:
                        continue
                    refcount = message.refcount = max(message.refcount - 1, 0)
                    if refcount:
                        continue
                    message.acked = True
                    if acks_enabled_for(message.topic):
                        notify_waiters = True
                        tp, offset = message.tp, message.offset
                        committed = committed_offsets[tp]
                        if committed is None or offset >= committed:
                            acked_index = acked_indexes[tp]
                            if offset not in acked_index:
                                unacked.discard(message)
                                acked_index.add(offset)
                                acked[tp].append(offset)
                                consumer._n_acked += 1
            finally:
                if notify_waiters:
                    notify(consumer._waiting_for_ack)

    def _ack_event(
        self,
        event: EventT[Any],
        state: dict[str, Any] | None,
        on_stream_event_out: Callable[..., None],
        on_message_out: Callable[..., None],
    ) -> None:
        last_stream_to_ack = event.ack()
        message = event.message
        on_stream_event_out(message.tp, message.offset, self, event, state)
        if last_stream_to_ack:
            on_message_out(message.tp, message.offset, message)


# -- garbage collector -----------------------------------------------------------------------------

_gc_tuned = False


def tune_gc() -> None:
    """Move everything alive now out of the collector's sight and make gen-0 collections rarer.

    A worker allocates a few container objects per message and frees them by reference
    counting; with the default threshold (700) the cyclic collector runs every few messages and
    rescans the whole started app (Faust, aiokafka, the detection engine) each time. Freezing
    after start excludes that long-lived heap; the higher threshold makes the young collections
    rare. Process-wide and applied once per process (tests run several apps in one process);
    cycles are still collected, only less often.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    log.debug("gc: froze %d objects, threshold %s", gc.get_freeze_count(), gc.get_threshold())


async def tune_gc_task() -> None:
    """:func:`tune_gc` as a Faust app task: ``app.task(tune_gc_task)`` runs it once the worker
    has started and recovered, so the frozen heap is the running app's, not a half-built one."""
    tune_gc()
