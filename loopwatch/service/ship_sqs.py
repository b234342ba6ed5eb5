"""``loopwatch ship --sqs QUEUE_URL``: follow a trail through its bucket's notifications.

    ReceiveMessage (long poll, up to 10) ──► each message, in turn: parse_notice
        S3 objects ──GetObject (bounded, the one decoder)──► Shipper.ship ──┐
        CloudTrail records (EventBridge envelopes) ─────────► Shipper.ship ──┤
        an unreadable message or object ──► <prefix>.deadletter ─────────────┤
        digests, other keys, s3:TestEvent ──► nothing                        │
                                               every message acknowledged ───┴──► DeleteMessage

At least once (DESIGN §10): a message is deleted only after Kafka acknowledged everything it
led to, dead letters included; the worker's eventID dedupe makes a redelivery harmless. While
messages are in hand their visibility is extended (ChangeMessageVisibility), at once for a
large object and every half visibility timeout after, so a slow file is not handed to another
shipper meanwhile. When Kafka cannot be reached, or stopping was asked for, the messages not
yet done go back on the queue at once (visibility 0): nothing is deleted unshipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopwatch.events.notifications import ObjectRef, parse_notice
from loopwatch.events.sources import Chunk, SourceUnavailable, is_log_key, read_s3_object, reason_of
from loopwatch.events.timerange import TimeRange
from loopwatch.service.kafka_out import KafkaOut, KafkaUnavailable
from loopwatch.service.ship import Shipper, pause
from loopwatch.service.ship_status import ShipStats, ShipStatus
from loopwatch.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

LARGE_OBJECT_BYTES = 32 * 1024 * 1024
"""A notified object this large gets a long visibility at once, before it is fetched."""
LARGE_OBJECT_VISIBILITY = 900
DEFAULT_VISIBILITY = 30
"""Seconds a message stays hidden where the queue's own timeout is 0."""
MAX_BODY_IN_DEAD_LETTER = 64 * 1024
RETRY_MAX_SECONDS = 60.0


async def ship_sqs(
    queue_url: str,
    settings: Settings,
    *,
    topic: str | None = None,
    follow: bool = False,
    wait: int = 5,
    sqs_client: Any = None,
    s3_client: Any = None,
    time_range: TimeRange | None = None,
    status: ShipStatus | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[Chunk], None] | None = None,
    large_object_bytes: int = LARGE_OBJECT_BYTES,
) -> ShipStats:
    """Ship what the queue's messages announce (see the module doc).

    Without ``follow`` it returns once a receive waiting ``wait`` seconds finds the queue
    empty; with it, once ``should_stop`` says so, after the message in hand. ``on_chunk`` sees
    each object read, in a worker thread (the event loop, and the visibility heartbeat, go on
    meanwhile). Raises SourceUnavailable when the queue cannot be read at all. When Kafka
    fails, ``stats.failure`` says why: without ``follow`` the run stops there; with it, it
    tries again, waiting longer each time (up to a minute).
    """
    import boto3  # boto3 honours AWS_ENDPOINT_URL and the usual credentials

    sqs: SQSClient = sqs_client if sqs_client is not None else boto3.client("sqs")
    s3: S3Client = s3_client if s3_client is not None else boto3.client("s3")
    timeout, waiting = _queue(sqs, queue_url)
    kafka = KafkaOut(settings)
    shipper = Shipper(kafka, settings, topic=topic, time_range=time_range, status=status)
    shipper.count_bytes = False  # the bar counts messages here
    run = _Run(queue_url, sqs, s3, shipper, timeout, large_object_bytes, on_chunk)
    shipper.status.start(
        f"{queue_url} ({waiting:,} messages waiting)",
        f"{shipper.destination} on {kafka.address}",
        "following; stop with Ctrl-C" if follow else "until the queue is empty",
    )
    if not follow:
        shipper.status.bar(waiting, unit="messages")
    backoff = 1.0
    try:
        while not should_stop():
            try:
                messages = await asyncio.to_thread(_receive, sqs, queue_url, wait)
            except Exception as exc:  # throttled, a dropped connection, credentials expired
                reason = f"cannot receive from {queue_url}: {reason_of(exc)}"
                if not follow:
                    shipper.stats.failure = reason
                    break
                shipper.status.error(shipper.stats, queue_url, reason)
                await pause(backoff, should_stop)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
                continue
            if not messages:
                shipper.status.tick(shipper.stats)
                if not follow:
                    break
                continue
            try:
                await run.batch(messages, should_stop)
                backoff = 1.0
            except KafkaUnavailable as exc:
                shipper.stats.failure = str(exc)
                if not follow:
                    break
                shipper.status.error(shipper.stats, "kafka", f"{exc}; messages left on the queue")
                await pause(backoff, should_stop)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
    finally:
        shipper.status.done()
        await kafka.close()
    return shipper.stats


def _queue(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """The queue's visibility timeout and how many messages wait; SourceUnavailable if the
    queue cannot be read."""
    try:
        answer = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["VisibilityTimeout", "ApproximateNumberOfMessages"],
        )
    except Exception as exc:  # QueueDoesNotExist, AccessDenied, no credentials, no endpoint
        raise SourceUnavailable(f"{queue_url}: {reason_of(exc)}") from exc
    attributes = answer.get("Attributes", {})
    timeout = int(attributes.get("VisibilityTimeout", "0")) or DEFAULT_VISIBILITY
    return timeout, int(attributes.get("ApproximateNumberOfMessages", "0"))


def _receive(sqs: SQSClient, queue_url: str, wait: int) -> list[MessageTypeDef]:
    answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
    return answer.get("Messages", [])


class _Run:
    """One shipper's handling of received messages."""

    def __init__(
        self,
        queue_url: str,
        sqs: SQSClient,
        s3: S3Client,
        shipper: Shipper,
        timeout: int,
        large_object_bytes: int,
        on_chunk: Callable[[Chunk], None] | None,
    ) -> None:
        self.queue_url = queue_url
        self.sqs = sqs
        self.s3 = s3
        self.shipper = shipper
        self.timeout = timeout
        self.large = large_object_bytes
        self.on_chunk = on_chunk

    async def batch(self, messages: list[MessageTypeDef], should_stop: Callable[[], bool]) -> None:
        """Handle ``messages`` in turn; those not done when Kafka fails or stopping is asked
        for go back on the queue. Raises KafkaUnavailable."""
        lease = _Lease(self.sqs, self.queue_url, self.timeout, messages, self.shipper)
        try:
            for message in messages:
                if should_stop():
                    break
                await self.message(message, lease)
        finally:
            await lease.close()

    async def message(self, message: MessageTypeDef, lease: _Lease) -> None:
        shipper = self.shipper
        body = message.get("Body", "")
        notice = parse_notice(body)
        futures: list[asyncio.Future[Any]] = []
        if notice.problem:
            futures.append(await self.dead(message, notice.problem, None))
        for ref in notice.objects:
            futures.extend(await self.object(message, ref, lease))
        if notice.records:
            source = f"{self.queue_url} message {message.get('MessageId', '?')}"
            futures.extend(await shipper.ship(Chunk(source, list(notice.records), 0, (), 0)))
        await shipper.kafka.acked(futures)
        lease.done(message)
        try:
            await asyncio.to_thread(
                self.sqs.delete_message,
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
            )
        except Exception as exc:  # its lease ran out: it comes again, and dedupe absorbs it
            shipper.status.error(
                shipper.stats, self.queue_url, f"cannot delete a shipped message: {reason_of(exc)}"
            )
        shipper.stats.queue_messages += 1
        shipper.status.advance(1)
        shipper.status.tick(shipper.stats)

    async def object(
        self, message: MessageTypeDef, ref: ObjectRef, lease: _Lease
    ) -> list[asyncio.Future[Any]]:
        """Fetch and ship one announced object; a dead letter when it does not read."""
        shipper = self.shipper
        if not is_log_key(ref.key):
            return []  # a CloudTrail digest, or something else in the bucket
        if shipper.time_range is not None and not shipper.time_range.may_hold(ref.key):
            shipper.stats.files_outside += 1
            return []
        if ref.size >= self.large:
            await lease.extend(message, max(self.timeout, LARGE_OBJECT_VISIBILITY))
        chunk = await asyncio.to_thread(read_s3_object, self.s3, ref.bucket, ref.key, ref.size)
        futures: list[asyncio.Future[Any]] = []
        if chunk.errors:
            reason = "; ".join(e.reason for e in chunk.errors)
            futures.append(await self.dead(message, reason, ref.url))
        if chunk.objects:
            futures.extend(await shipper.ship(chunk))  # says its errors too
        else:
            shipper.status.errors(shipper.stats, chunk.errors)
        if self.on_chunk is not None:
            await asyncio.to_thread(self.on_chunk, chunk)
        return futures

    async def dead(
        self, message: MessageTypeDef, reason: str, location: str | None
    ) -> asyncio.Future[Any]:
        body = message.get("Body", "")
        document: dict[str, object] = {
            "reason": reason,
            "source": "ship --sqs",
            "queue_url": self.queue_url,
            "message_id": message.get("MessageId", ""),
            "s3": location,
            "body": body[:MAX_BODY_IN_DEAD_LETTER],
        }
        if len(body) > MAX_BODY_IN_DEAD_LETTER:
            document["truncated"] = f"first {MAX_BODY_IN_DEAD_LETTER:,} of {len(body):,} characters"
        if location is None:  # an object's error is said where it is read
            self.shipper.status.error(
                self.shipper.stats, f"{self.queue_url} message {document['message_id']}", reason
            )
        return await self.shipper.dead_letter(document, str(document["message_id"]) or None)


class _Lease:
    """The messages of one receive, kept hidden from other receivers while in hand."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        timeout: int,
        messages: list[MessageTypeDef],
        shipper: Shipper,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._timeout = timeout
        self._shipper = shipper
        self._handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        self._beat = asyncio.create_task(self._heartbeat())

    async def extend(self, message: MessageTypeDef, seconds: int) -> None:
        handle = self._handles.get(message["MessageId"])
        if handle is not None:
            await self._set(message["MessageId"], handle, seconds)

    def done(self, message: MessageTypeDef) -> None:
        self._handles.pop(message["MessageId"], None)

    async def close(self) -> None:
        """Stop extending; whatever is still in hand goes back on the queue at once."""
        self._beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._beat
        for message_id, handle in list(self._handles.items()):
            await self._set(message_id, handle, 0)
        self._handles.clear()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._timeout / 2)
            for message_id, handle in list(self._handles.items()):
                await self._set(message_id, handle, self._timeout)

    async def _set(self, message_id: str, handle: str, seconds: int) -> None:
        try:
            await asyncio.to_thread(
                self._sqs.change_message_visibility,
                QueueUrl=self._queue_url,
                ReceiptHandle=handle,
                VisibilityTimeout=seconds,
            )
        except Exception as exc:
            if message_id in self._handles:  # not a race with its own deletion
                stats = self._shipper.stats
                self._shipper.status.error(
                    stats,
                    self._queue_url,
                    f"cannot change a message's visibility: {reason_of(exc)}",
                )
            return
        if seconds:
            self._shipper.stats.extended += 1
