"""Deliver alerts to every sink at once, in the background, within a bounded time.

    enqueue(alert) ──► one task per sink ──► attempt ─► 2xx: delivered
                        (returns at once)        │  429/5xx/timeout/connection: back off, retry
                                                 │  other 4xx/3xx: give up at once
                                                 └─► deadline passed or gave up: dead letter

The caller never waits: ``enqueue`` schedules tasks and returns. Each sink has its own gate
(a few requests in flight) and its own backlog cap, so a dead receiver holds only its own
alerts; every alert is done (delivered or dead-lettered) within ``deadline`` of enqueueing.

A receiver's ``Retry-After`` is honoured within bounds: never shorter than the first backoff
delay (``Retry-After: 0`` or a date already past would otherwise have the client spin, tens of
thousands of requests and log lines in seconds), never longer than the deadline (such a retry
is not made: the alert is dead-lettered at once). A value that is neither seconds nor an HTTP
date gets the usual backoff, and is logged once per sink.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

import aiohttp

from loopwatch.actions.alert import Alert, payload
from loopwatch.actions.sinks.registry import Sink

if TYPE_CHECKING:
    from loopwatch.settings import Settings

log = logging.getLogger("loopwatch.actions.delivery")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempt_timeout: float = 5.0  # seconds to wait for one answer
    deadline: float = 30.0  # seconds from enqueue to delivered-or-dead-lettered
    backoff: float = 0.5  # first retry delay; doubles per attempt, jittered
    backoff_max: float = 8.0
    in_flight: int = 4  # concurrent requests per sink

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            attempt_timeout=settings.alert_attempt_timeout_seconds,
            deadline=settings.alert_deadline_seconds,
            backoff=settings.alert_backoff_seconds,
            backoff_max=settings.alert_backoff_max_seconds,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An alert a sink did not take in time. ``sink`` is the redacted label; ``last_error``
    holds no secret."""

    alert: Alert
    sink: str
    attempts: int
    last_error: str
    elapsed: float

    def to_json(self) -> dict[str, object]:
        """As published on ``loopwatch.deadletter``: the generic payload plus what went wrong."""
        return {
            "kind": "alert",
            "sink": self.sink,
            "attempts": self.attempts,
            "error": self.last_error,
            "elapsed_s": round(self.elapsed, 3),
            "alert": payload(self.alert),
        }


@dataclass(frozen=True, slots=True)
class Delivered:
    alert: Alert
    sink: str
    attempts: int
    status: int
    elapsed: float


DeadLetterHandler = Callable[[DeadLetter], Awaitable[None] | None]
DeliveredHandler = Callable[[Delivered], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class _Attempt:
    ok: bool
    retryable: bool
    error: str
    status: int = 0
    retry_after: float | None = None


class RecentKeys:
    """The last ``size`` idempotency keys: enough to fold repeats of a state change."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already remembered."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True


class Dispatcher:
    """Sends alerts to ``sinks`` in the background. Use inside a running event loop::

    async with Dispatcher(sinks, policy, dead_letter=publish) as dispatcher:
        dispatcher.enqueue(alert)      # returns at once
        await dispatcher.drain()       # only where the caller wants to wait (replay, tests)
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        policy: RetryPolicy | None = None,
        *,
        dead_letter: DeadLetterHandler | None = None,
        on_delivered: DeliveredHandler | None = None,
        max_pending: int = 1000,
        dedupe_size: int = 10000,
        rng: random.Random | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.policy = policy or RetryPolicy()
        self._dead_letter = dead_letter
        self._on_delivered = on_delivered
        self._max_pending = max_pending
        self._recent = RecentKeys(dedupe_size)
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._gates = {id(s): asyncio.Semaphore(self.policy.in_flight) for s in self.sinks}
        self._pending: Counter[int] = Counter()
        self._unreadable_retry_after: set[int] = set()  # sinks already logged for one
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def seen(self, key: str) -> bool:
        """An alert with this idempotency key was enqueued recently."""
        return key in self._recent

    def enqueue(self, alert: Alert) -> bool:
        """Schedule ``alert`` for every sink and return at once; False when it is a repeat of
        one already enqueued (folded: nothing is sent). Needs a running event loop."""
        if not self._recent.add(alert.key):
            self.stats["folded"] += 1
            return False
        now = asyncio.get_running_loop().time()
        for sink in self.sinks:
            if self._pending[id(sink)] >= self._max_pending:
                error = f"backlog of {self._max_pending} alerts for this sink is full"
                self._spawn(self._dead(DeadLetter(alert, sink.label, 0, error, 0.0)))
                continue
            self._pending[id(sink)] += 1
            self._spawn(self._deliver(sink, alert, now))
        return True

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every enqueued alert is delivered or dead-lettered (or ``timeout``)."""
        pending = set(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Give deliveries ``timeout`` to finish, dead-letter the rest, close the session."""
        await self.drain(timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No pool limit: the per-sink gates bound concurrency, and a shared pool limit
            # would let a hanging receiver starve the others of connections.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def _deliver(self, sink: Sink, alert: Alert, enqueued: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = enqueued + self.policy.deadline
        attempts = 0
        last_error = "not attempted: earlier alerts to this sink held its slots"
        try:
            async with asyncio.timeout_at(deadline), self._gates[id(sink)]:
                while True:
                    attempts += 1
                    last_error = f"attempt {attempts} got no answer before the deadline"
                    result = await self._attempt(sink, alert)
                    if result.ok:
                        self.stats["delivered"] += 1
                        await self._notify(
                            self._on_delivered,
                            Delivered(
                                alert, sink.label, attempts, result.status, loop.time() - enqueued
                            ),
                        )
                        return
                    last_error = result.error
                    if not result.retryable:
                        break
                    delay = self._delay(attempts, result.retry_after)
                    if loop.time() + delay >= deadline:
                        last_error += f"; next retry (in {delay:.1f}s) would pass the deadline"
                        break
                    self.stats["retries"] += 1
                    log.warning(
                        "alert %s to %s: %s; retry %d in %.2fs",
                        alert.key,
                        sink.label,
                        result.error,
                        attempts,
                        delay,
                    )
                    await asyncio.sleep(delay)
        except TimeoutError:
            last_error = f"{last_error} (deadline {self.policy.deadline:g}s)"
        except asyncio.CancelledError:
            await self._dead(
                DeadLetter(
                    alert,
                    sink.label,
                    attempts,
                    "loopwatch stopped before delivery",
                    loop.time() - enqueued,
                )
            )
            raise
        finally:
            self._pending[id(sink)] -= 1
        await self._dead(
            DeadLetter(alert, sink.label, attempts, last_error, loop.time() - enqueued)
        )

    async def _attempt(self, sink: Sink, alert: Alert) -> _Attempt:
        rendered = sink.render(alert, time.time())
        try:
            async with self._client().post(
                sink.url.get_secret_value(),
                data=rendered.body,
                headers=rendered.headers,
                timeout=aiohttp.ClientTimeout(total=self.policy.attempt_timeout),
                # A redirect would carry the signed body to a host nobody configured.
                allow_redirects=False,
            ) as response:
                status = response.status
                response.release()
                if 200 <= status < 300:
                    return _Attempt(True, False, "", status)
                if status == 429 or status >= 500:
                    retry_after = self._retry_after(sink, response.headers.get("Retry-After"))
                    return _Attempt(False, True, f"HTTP {status}", status, retry_after)
                return _Attempt(
                    False,
                    False,
                    f"HTTP {status}: the receiver refused the alert (not retried)",
                    status,
                )
        except TimeoutError:
            return _Attempt(False, True, f"no answer within {self.policy.attempt_timeout:g}s")
        except aiohttp.ClientError as exc:
            return _Attempt(False, True, sink.scrub(f"{type(exc).__name__}: {exc}"))

    def _retry_after(self, sink: Sink, value: str | None) -> float | None:
        try:
            return parse_retry_after(value)
        except ValueError:
            if id(sink) not in self._unreadable_retry_after:
                self._unreadable_retry_after.add(id(sink))
                log.warning(
                    "%s answers with Retry-After %r, neither seconds nor an HTTP date: retrying"
                    " with the usual backoff (said once for this sink)",
                    sink.label,
                    (value or "")[:100],
                )
            return None

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The receiver's word, within bounds: 0 or a past date must not make the client
            # spin, nor an hour hold an alert past its deadline (_deliver then gives up).
            return min(max(retry_after, self.policy.backoff), self.policy.deadline)
        ceiling: float = min(self.policy.backoff_max, self.policy.backoff * 2.0 ** (attempts - 1))
        # Jitter spreads the retries of many alerts that failed together.
        return ceiling * self._rng.uniform(0.5, 1.0)

    async def _dead(self, letter: DeadLetter) -> None:
        self.stats["dead_lettered"] += 1
        log.error(
            "alert %s to %s dead-lettered after %d attempts: %s",
            letter.alert.key,
            letter.sink,
            letter.attempts,
            letter.last_error,
        )
        await self._notify(self._dead_letter, letter)

    async def _notify(self, handler: Callable[[T], Awaitable[None] | None] | None, item: T) -> None:
        if handler is None:
            return
        try:
            result = handler(item)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("alert callback failed")


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now, as the receiver said it: delta-seconds or an HTTP
    date (a date past is a negative delay); None if absent. Raises ValueError when it is
    neither (the caller bounds the delay either way: ``Dispatcher._delay``)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ValueError(f"not delta-seconds nor an HTTP date: {value[:100]!r}") from exc
    if when.tzinfo is None:
        raise ValueError(f"an HTTP date without a time zone: {value[:100]!r}")
    return when.timestamp() - time.time()
