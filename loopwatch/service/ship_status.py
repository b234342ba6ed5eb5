"""What ``loopwatch ship`` tells the person running it, on stderr.

    ship     s3://trail/AWSLogs/ → loopwatch.cloudtrail on kafka:9092 (following every 5 s)
    loopwatch ship: s3://trail/…/bad.json.gz: truncated gzip             an error, as it happens
    ship     so far: 120 files, 38,400 records, 96 Kafka messages, 1 error   once a minute
    ship [##########--------------------]  33% 1.2/3.6 MB                 a terminal only

A long-running shipper that says nothing cannot be told from a stuck one; one line a minute
says it is alive and how far it got, without flooding a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from loopwatch.events.sources import SourceError
from loopwatch.progress import Progress
from loopwatch.render.terminal import printable

SUMMARY_SECONDS = 60.0
MAX_KEPT_ERRORS = 100
"""Errors kept for the final report; a shipper that runs for weeks only counts the rest."""


@dataclass(slots=True)
class ShipStats:
    """What a ship run did so far (every counter only grows)."""

    files: int = 0
    records: int = 0
    messages: int = 0
    """Kafka messages sent."""
    malformed: int = 0
    skipped: int = 0
    """Records left out because their event time lies outside ``--since`` / ``--until``."""
    files_outside: int = 0
    """Files left unread because their names lie more than an hour outside the range."""
    queue_messages: int = 0
    """SQS messages handled and deleted (``ship --sqs``)."""
    dead_lettered: int = 0
    extended: int = 0
    """Visibility timeouts extended (a large object, or slow processing)."""
    error_count: int = 0
    errors: list[SourceError] = field(default_factory=list)
    """The first MAX_KEPT_ERRORS errors."""
    failure: str = ""
    """Why the run stopped early (Kafka unreachable); "" when it did not."""

    def add_error(self, error: SourceError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    def summary(self) -> str:
        parts = [
            _count(self.files, "file"),
            _count(self.records, "record"),
            _count(self.messages, "Kafka message"),
        ]
        if self.queue_messages or self.dead_lettered:
            parts.append(_count(self.queue_messages, "queue message"))
            parts.append(f"{self.dead_lettered:,} dead-lettered")
        if self.skipped or self.files_outside:
            parts.append(
                f"{_count(self.skipped, 'record')} and {_count(self.files_outside, 'file')}"
                " out of the time range"
            )
        parts.append(_count(self.error_count, "error"))
        return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


class ShipStatus:
    """Start line, errors as they happen, a summary every ``every`` seconds, and a progress
    bar when ``stream`` is a terminal. ``clock`` is monotonic seconds (injected for tests)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        every: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._every = every
        self._clock = clock
        self._last = clock()
        self._bar: Progress | None = None

    def start(self, what: str, where: str, how: str = "") -> None:
        self._line(f"ship     {what} → {where}" + (f" ({how})" if how else ""))

    def error(self, stats: ShipStats, source: str, reason: str) -> None:
        error = SourceError(source, reason)
        stats.add_error(error)
        self._line(f"loopwatch ship: {source}: {reason}")

    def errors(self, stats: ShipStats, errors: tuple[SourceError, ...]) -> None:
        for error in errors:
            self.error(stats, error.source, error.reason)

    def tick(self, stats: ShipStats) -> None:
        """A summary line if ``every`` seconds passed since the last one."""
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self._line(f"ship     so far: {stats.summary()}")

    def bar(self, total: int, unit: str = "MB") -> None:
        """Start a progress bar of ``total`` (bytes, or ``unit``s); drawn on a terminal only."""
        self.done()
        self._bar = Progress(total, "ship", self._stream, worth=1, unit=unit)

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.advance(amount)

    def done(self) -> None:
        """End the progress bar, if one is drawn."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _line(self, text: str) -> None:
        text = printable(text)  # sources are S3 keys and file names someone chose
        if self._bar is not None:
            self._bar.note(text)
        else:
            self._stream.write(text + "\n")
            self._stream.flush()
