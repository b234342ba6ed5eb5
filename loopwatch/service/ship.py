"""``loopwatch ship``: send CloudTrail logs and invocation events to Kafka, batched per account.

    sources ──chunks──► in the time range? ──► split by account and kind
        ──► messages of ≤ 500 records (≤ 800 KB) ──► <prefix>.cloudtrail / <prefix>.invocations,
        keyed by account id

A whole batch travels as one message (``{"Records": [...]}``) because Faust's cost is per
message, not per byte. With ``follow``, the sources are listed again every ``poll`` seconds
and files not shipped yet are sent as they land; a file that does not read yet (still being
written) is tried again on the next poll. ``s3://`` prefixes followed (or given a
``state_path``) keep a durable position (``s3_position``), so a restart ships only what is
new. ``ship --sqs`` (``ship_sqs``) ships through the same ``Shipper``.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from loopwatch.events.intake import account_key
from loopwatch.events.sources import Chunk, plan, read_s3_object
from loopwatch.events.timerange import TimeRange
from loopwatch.events.times import parse_time
from loopwatch.service.kafka_out import KafkaOut
from loopwatch.service.s3_position import OUTSIDE, Due, S3Position
from loopwatch.service.ship_status import ShipStats, ShipStatus
from loopwatch.service.topics import CLOUDTRAIL, DEADLETTER, INVOCATIONS
from loopwatch.settings import Settings

__all__ = ["MAX_BYTES", "MAX_RECORDS", "ShipStats", "Shipper", "batches", "pause", "ship"]

MAX_RECORDS = 500
MAX_BYTES = 800_000  # under Kafka's default 1 MB message limit, with room for headers
ACK_EVERY_FILES = 50
"""Followed S3 files shipped between two acknowledged, saved positions."""


class Shipper:
    """The one code path from a Chunk to Kafka messages, for files, S3 and SQS alike."""

    def __init__(
        self,
        kafka: KafkaOut,
        settings: Settings,
        *,
        topic: str | None = None,
        time_range: TimeRange | None = None,
        status: ShipStatus | None = None,
        stats: ShipStats | None = None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.topic = topic
        self.time_range = time_range
        self.status = status if status is not None else ShipStatus(_Discard())
        self.stats = stats if stats is not None else ShipStats()
        self.count_bytes = True
        """Whether the progress bar counts the bytes shipped (ship --sqs counts messages)."""

    @property
    def destination(self) -> str:
        return self.topic or self.settings.topic(CLOUDTRAIL)

    async def ship(self, chunk: Chunk) -> list[asyncio.Future[Any]]:
        """Send ``chunk``'s records (its errors are said and counted); the futures of the
        messages sent, which resolve once Kafka acknowledged them."""
        stats = self.stats
        if chunk.objects or not chunk.errors:
            stats.files += 1  # one that did not read at all is an error, not a file shipped
        stats.malformed += chunk.malformed
        self.status.errors(stats, chunk.errors)
        groups: dict[tuple[str, str], list[object]] = {}
        for obj in chunk.objects:
            if self.time_range is not None and not _inside(obj, self.time_range):
                stats.skipped += 1
                continue
            kind = (
                INVOCATIONS
                if isinstance(obj, dict) and obj.get("kind") == "lambda.invocation"
                else CLOUDTRAIL
            )
            # The key the worker holds the record's account by: the account replay routes it
            # to (loopwatch.detect.router).
            account = account_key(obj)
            groups.setdefault((kind, account), []).append(obj)
        futures: list[asyncio.Future[Any]] = []
        for (kind, account), objects in groups.items():
            # A log file's records are unordered; the worker orders each message by event
            # time, so ordering the file before cutting it into messages keeps the stream in
            # time order.
            objects.sort(key=_event_time)
            destination = self.destination if kind == CLOUDTRAIL else self.settings.topic(kind)
            for value in batches(objects):
                futures.append(await self.kafka.send(destination, value, account.encode()))
                stats.messages += 1
            stats.records += len(objects)
        if self.count_bytes:
            self.status.advance(chunk.size)
        self.status.tick(stats)
        return futures

    async def dead_letter(
        self, document: dict[str, object], key: str | None
    ) -> asyncio.Future[Any]:
        """Send one dead letter to ``<prefix>.deadletter``; its future resolves on the ack."""
        self.stats.dead_lettered += 1
        value = orjson.dumps(document)
        return await self.kafka.send(
            self.settings.topic(DEADLETTER), value, key.encode() if key else None
        )


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
    time_range: TimeRange | None = None,
    state_path: Path | None = None,
    status: ShipStatus | None = None,
) -> ShipStats:
    """Ship every object of ``names``; with ``follow``, keep shipping new files until stopped.

    ``topic`` overrides where CloudTrail records go (invocation events always go to the
    invocations topic). ``time_range`` leaves out records (and whole CloudTrail files, by
    name) outside it. ``s3://`` names keep their position in ``state_path`` when given, and
    in memory when only following. Raises SourceUnavailable for a source that cannot be
    opened, KafkaUnavailable when Kafka cannot be reached or does not acknowledge.
    """
    kafka = KafkaOut(settings)
    shipper = Shipper(kafka, settings, topic=topic, time_range=time_range, status=status)
    stats = shipper.stats
    tracked = follow or state_path is not None
    s3_urls = [n for n in names if n.startswith("s3://")] if tracked else []
    local = [n for n in names if n not in s3_urls]
    position = S3Position(state_path) if s3_urls else None
    if s3_urls and s3_client is None:
        import boto3  # only when an s3:// source is followed; boto3 honours AWS_ENDPOINT_URL

        s3_client = boto3.client("s3")
    shipped: set[str] = set()
    first = True
    how = f"following every {poll:g} s" if follow else ""
    if state_path is not None:
        how = f"{how + '; ' if how else ''}position in {state_path}"
    shipper.status.start(", ".join(names), f"{shipper.destination} on {kafka.address}", how)
    try:
        await kafka.start()  # inside: a stop (cancellation) while it connects closes it too
        while True:
            if local:
                source_plan = plan(local, s3_client=s3_client, stdin=stdin, time_range=time_range)
                stats.files_outside += source_plan.outside_range
                if first:
                    shipper.status.bar(source_plan.total_bytes)
                for chunk in source_plan.chunks(skip=shipped):
                    await shipper.ship(chunk)
                    if not (follow and chunk.errors and not chunk.objects):
                        # Unreadable while following: most likely still being written, so
                        # it is read again on the next poll (and its error said again).
                        shipped.add(chunk.source)
                    if on_chunk is not None:
                        on_chunk(chunk)
                await kafka.flush()
                shipper.status.done()
            if position is not None:
                await _ship_followed(shipper, position, s3_client, s3_urls, on_chunk)
            first = False
            shipper.status.tick(stats)
            if not follow or should_stop():
                return stats
            stdin = None  # standard input is read once
            local = [n for n in local if n != "-"]
            await pause(poll, should_stop)
            if should_stop():
                return stats
    finally:
        shipper.status.done()
        await kafka.close()


async def _ship_followed(
    shipper: Shipper,
    position: S3Position,
    client: Any,
    urls: list[str],
    on_chunk: Callable[[Chunk], None] | None,
) -> None:
    """Ship what is due under the followed prefixes; the position moves (and is saved) only
    after Kafka acknowledged the records, every ACK_EVERY_FILES files."""
    pending: list[tuple[Due, str | None]] = []  # (due, None: shipped | reason it failed)
    passed: list[Due] = []
    futures: list[asyncio.Future[Any]] = []

    async def commit() -> None:
        await shipper.kafka.acked(futures)
        for due in passed:
            position.passed(due)
        for due, failure in pending:
            if failure is None:
                position.shipped(due)
            else:
                position.failed(due, failure)
        position.save()
        pending.clear()
        passed.clear()
        futures.clear()

    for due in position.due(client, urls, shipper.time_range):
        if due.skip:
            if due.skip == OUTSIDE:
                shipper.stats.files_outside += 1
            passed.append(due)
            continue
        chunk = await asyncio.to_thread(read_s3_object, client, due.bucket, due.key, due.size)
        if chunk.errors and not chunk.objects:
            shipper.status.errors(shipper.stats, chunk.errors)
            pending.append((due, "; ".join(e.reason for e in chunk.errors)))
            continue
        futures.extend(await shipper.ship(chunk))
        pending.append((due, None))
        if on_chunk is not None:
            on_chunk(chunk)
        if len(pending) >= ACK_EVERY_FILES:
            await commit()
    await commit()


def _inside(obj: object, time_range: TimeRange) -> bool:
    """Whether a record's event time is in the range; a record without a readable time is
    shipped (the worker judges it, and says so in its dead letters)."""
    text = _event_time(obj)
    if not text:
        return True
    try:
        return time_range.contains(parse_time(text))
    except ValueError:
        return True


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


async def pause(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Wait ``seconds``, or less once ``should_stop`` says so (checked every quarter second)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not should_stop():
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.25))


class _Discard(io.StringIO):
    """Where a shipper nobody watches writes its status: nowhere."""

    def write(self, text: str) -> int:
        return len(text)
