"""Audit records on ``<prefix>.findings``: read them back (to rebuild the ledger), write them
from outside a worker (``loopwatch release``); and where a new consumer group starts reading
the topic (``history_ends``).

Audit records are keyed by function ARN, so all records of one function sit on one
partition, in the order they were written: enough to fold them into holds. They are signed
with the deployment's key (``loopwatch.trust``); reading back keeps only those whose
signature holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loopwatch.service.topics import FINDINGS, bootstrap
from loopwatch.settings import Settings
from loopwatch.trust import RecordKey, seal, trusted

log = logging.getLogger(__name__)

# orjson writes no spaces: a cheap test that skips parsing the (many) findings between audits.
_AUDIT_MARK = b'"kind":"audit"'


async def read_audit(
    settings: Settings, key: RecordKey, timeout: float = 15.0
) -> list[dict[str, object]]:
    """Every audit record signed with ``key`` on the findings topic now, partition by
    partition in offset order; the others are counted in a warning and left out.

    Reads up to the end offsets seen at the start, without joining a group (nothing is
    committed). Raises TimeoutError when the end is not reached within ``timeout`` seconds:
    a partial read could miss a release and resurrect a hold.
    """
    topic = settings.topic(FINDINGS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    deadline = time.monotonic() + timeout
    await consumer.start()
    try:
        await consumer.topics()  # fills the metadata of every topic
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        by_partition: dict[int, list[dict[str, object]]] = {tp.partition: [] for tp in tps}
        refused: Counter[str] = Counter()
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{topic}: audit records not read to the end in {timeout}s")
            batches = await consumer.getmany(*behind, timeout_ms=int(min(left, 0.5) * 1000))
            for tp, messages in batches.items():
                for message in messages:
                    value = message.value
                    if value is None or _AUDIT_MARK not in value:
                        continue
                    document, why = trusted(value, key)
                    if document is None or document.get("kind") != "audit":
                        continue
                    if why is None:
                        by_partition[tp.partition].append(document)
                    else:
                        refused[why] += 1
        if refused:
            log.warning(
                "%s: audit records left out of the ledger rebuild: %s",
                topic,
                ", ".join(f"{n} {why}" for why, n in sorted(refused.items())),
            )
        return [record for p in sorted(by_partition) for record in by_partition[p]]
    finally:
        await consumer.stop()


async def history_ends(settings: Settings, timeout: float = 15.0) -> dict[int, int]:
    """Partition → end offset now, for each partition of the findings topic on which the
    worker's consumer group (``app_id``) has committed nothing: what lies below is history to
    this group, which starts reading the topic from its end, not its beginning (a new app id,
    or offsets lost, must not alert and act on months of findings again).

    Asks the group's coordinator without joining the group. Raises TimeoutError when the
    broker does not answer within ``timeout`` seconds.
    """
    topic = settings.topic(FINDINGS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap(settings), group_id=settings.app_id, enable_auto_commit=False
    )

    async def ask() -> dict[int, int]:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        ends = await consumer.end_offsets(tps)
        return {tp.partition: int(ends[tp]) for tp in tps if await consumer.committed(tp) is None}

    await consumer.start()  # no subscription: this never joins the group
    try:
        return await asyncio.wait_for(ask(), timeout)
    finally:
        await consumer.stop()


async def publish_audit(
    settings: Settings,
    records: Iterable[Mapping[str, object]],
    key: RecordKey,
    timeout: float = 15.0,
) -> int:
    """Send audit records (``AuditRecord.to_json()``) to the findings topic, signed with
    ``key`` and keyed by function; how many were sent. Raises TimeoutError or a KafkaError
    when the broker does not take them."""
    documents = list(records)
    if not documents:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(settings), acks="all")

    async def send_all() -> None:
        await producer.start()
        try:
            for document in documents:
                function = str(document.get("function", "")).encode()
                await producer.send_and_wait(
                    settings.topic(FINDINGS), seal(document, key), key=function
                )
        finally:
            await producer.stop()

    await asyncio.wait_for(send_all(), timeout)
    return len(documents)
