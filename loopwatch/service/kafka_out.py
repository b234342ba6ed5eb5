"""The shipper's Kafka producer: started when first needed, started again after a failure.

Every failure (no broker at the address, a broker that went away, an ack that never came)
comes out as one ``KafkaUnavailable`` with a sentence, so a shipper can keep what it has not
delivered (``ship --sqs`` leaves the message on its queue) and say why in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from loopwatch.service.topics import bootstrap
from loopwatch.settings import Settings


class KafkaUnavailable(Exception):
    """Kafka could not take or did not acknowledge what was sent."""


class KafkaOut:
    """Sends to Kafka with ``acks=all``; ``acked`` waits for the brokers' answers."""

    def __init__(self, settings: Settings, *, request_timeout_ms: int = 30_000) -> None:
        self._bootstrap = bootstrap(settings)
        self._timeout_ms = request_timeout_ms
        self._producer: Any = None

    @property
    def address(self) -> str:
        return self._bootstrap

    async def start(self) -> None:
        """Connect now (raises KafkaUnavailable), rather than at the first send."""
        await self._started()

    async def send(self, topic: str, value: bytes, key: bytes | None) -> asyncio.Future[Any]:
        """Queue one message; its future resolves when Kafka acknowledged it."""
        producer = await self._started()
        try:
            future: asyncio.Future[Any] = await producer.send(topic, value, key=key)
        except Exception as exc:  # KafkaTimeoutError (no metadata), a closed connection…
            await self._drop()
            raise KafkaUnavailable(
                f"Kafka at {self._bootstrap} took no message: {_why(exc)}"
            ) from exc
        return future

    async def acked(self, futures: Iterable[asyncio.Future[Any]]) -> None:
        """Wait until every message is acknowledged; KafkaUnavailable if one was not."""
        pending = list(futures)
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self._drop()
            raise KafkaUnavailable(
                f"Kafka at {self._bootstrap} did not acknowledge {len(failed)} of"
                f" {len(pending)} messages: {_why(failed[0])}"
            )

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def close(self) -> None:
        await self._drop()

    async def _started(self) -> Any:
        if self._producer is not None:
            return self._producer
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=1_048_576,
            request_timeout_ms=self._timeout_ms,
        )
        try:
            await producer.start()
        except BaseException as exc:  # a stop (cancellation) while it connects closes it too
            with contextlib.suppress(Exception):
                await producer.stop()
            if not isinstance(exc, Exception):
                raise
            # KafkaConnectionError: nothing listens there.
            raise KafkaUnavailable(f"cannot reach Kafka at {self._bootstrap}: {_why(exc)}") from exc
        self._producer = producer
        return producer

    async def _drop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            # Stopping a producer whose broker is gone may fail too; it is dropped either way.
            with contextlib.suppress(Exception):
                await producer.stop()


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
