"""``loopwatch ship``: send CloudTrail logs and invocation events to Kafka, batched per account.

    sources ──chunks──► split by account and kind ──► messages of ≤ 500 records (≤ 800 KB)
        ──► <prefix>.cloudtrail / <prefix>.invocations, keyed by account id

A whole batch travels as one message (``{"Records": [...]}``) because Faust's cost is per
message, not per byte. With ``follow``, the sources are listed again every ``poll`` seconds
and files not shipped yet are sent as they land.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from loopwatch.events.records import account_of
from loopwatch.events.sources import Chunk, SourceError, plan
from loopwatch.service.topics import CLOUDTRAIL, INVOCATIONS, bootstrap
from loopwatch.settings import Settings

MAX_RECORDS = 500
MAX_BYTES = 800_000  # under Kafka's default 1 MB message limit, with room for headers
_UNKNOWN_ACCOUNT = "unknown"


@dataclass(slots=True)
class ShipStats:
    files: int = 0
    records: int = 0
    messages: int = 0
    malformed: int = 0
    errors: list[SourceError] = field(default_factory=list)


async def ship(
    names: Sequence[str],
    settings: Settings,
    *,
    topic: str | None = None,
    follow: bool = False,
    poll: float = 5.0,
    stdin: IO[bytes] | None = None,
    s3_client: Any = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> ShipStats:
    """Ship every object of ``names``; with ``follow``, keep shipping new files until stopped.

    ``topic`` overrides where CloudTrail records go (invocation events always go to the
    invocations topic). Raises SourceUnavailable for a source that cannot be opened.
    """
    from aiokafka import AIOKafkaProducer

    stats = ShipStats()
    shipped: set[str] = set()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap(settings), acks="all", linger_ms=5, max_request_size=1_048_576
    )
    try:
        await producer.start()  # inside: a stop (cancellation) while it connects closes it too
        while True:
            for chunk in plan(names, s3_client=s3_client, stdin=stdin).chunks():
                if chunk.source in shipped:
                    continue
                shipped.add(chunk.source)
                await _ship_chunk(producer, chunk, settings, topic, stats)
                if on_chunk is not None:
                    on_chunk(chunk)
            await producer.flush()
            if not follow or should_stop():
                return stats
            stdin = None  # standard input is read once
            names = [n for n in names if n != "-"]
            await asyncio.sleep(poll)
            if should_stop():
                return stats
    finally:
        await producer.stop()


async def _ship_chunk(
    producer: Any, chunk: Chunk, settings: Settings, topic: str | None, stats: ShipStats
) -> None:
    stats.files += 1
    stats.malformed += chunk.malformed
    stats.errors.extend(chunk.errors)
    groups: dict[tuple[str, str], list[object]] = {}
    for obj in chunk.objects:
        kind = (
            INVOCATIONS
            if isinstance(obj, dict) and obj.get("kind") == "lambda.invocation"
            else CLOUDTRAIL
        )
        account = account_of(obj) or _UNKNOWN_ACCOUNT
        groups.setdefault((kind, account), []).append(obj)
    for (kind, account), objects in groups.items():
        # A log file's records are unordered; the worker orders each message by event time, so
        # ordering the file before cutting it into messages keeps the stream in time order.
        objects.sort(key=_event_time)
        destination = topic if topic is not None and kind == CLOUDTRAIL else settings.topic(kind)
        for value in batches(objects):
            await producer.send(destination, value, key=account.encode())
            stats.messages += 1
        stats.records += len(objects)


def _event_time(obj: object) -> str:
    """ISO event time of a record, envelope or invocation event ('' sorts unknown first).

    Compared as text: exact across seconds, which is all the worker's per-second settling needs.
    """
    if not isinstance(obj, dict):
        return ""
    detail = obj.get("detail")
    record = detail if isinstance(detail, dict) else obj
    value = record.get("eventTime") or record.get("time")
    return value if isinstance(value, str) else ""


def batches(objects: list[object]) -> list[bytes]:
    """``{"Records": [...]}`` messages of at most MAX_RECORDS objects and about MAX_BYTES."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for obj in objects:
        encoded = orjson.dumps(obj)
        if batch and (len(batch) >= MAX_RECORDS or size + len(encoded) > MAX_BYTES):
            out.append(_records(batch))
            batch, size = [], 0
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        out.append(_records(batch))
    return out


def _records(encoded: list[bytes]) -> bytes:
    return b'{"Records":[' + b",".join(encoded) + b"]}"
