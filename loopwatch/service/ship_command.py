"""``loopwatch ship``'s command: check the options, run the shipper, stop cleanly on a signal.

Exit status: 0 shipped (or stopped when asked); 1 Kafka could not be reached or did not
acknowledge (nothing unacknowledged was deleted from a queue); 2 bad usage or a source (a path,
a bucket, a queue) that cannot be opened at all; 130 a second Ctrl-C, quitting mid-message
(that message is not deleted, and comes again).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from loopwatch.events.sources import SourceUnavailable
from loopwatch.events.timerange import TimeRange
from loopwatch.service.kafka_out import KafkaUnavailable
from loopwatch.service.ship_status import ShipStats, ShipStatus
from loopwatch.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STATE_FILE = "ship-position.json"
MAX_SQS_WAIT = 20  # SQS's longest long poll


def run_ship(
    sources: Sequence[str],
    settings: Settings,
    out: TextIO,
    err: TextIO,
    *,
    sqs: str | None = None,
    topic: str | None = None,
    follow: bool = False,
    poll: float = 5.0,
    state: str | None = None,
    since: str | None = None,
    until: str | None = None,
    stdin: IO[bytes] | None = None,
) -> int:
    """Ship ``sources`` or the ``sqs`` queue's notifications; the exit status (module doc)."""

    def usage(message: str) -> int:
        err.write(f"loopwatch ship: {message}\n")
        return EXIT_USAGE

    try:
        time_range = TimeRange.parse(since, until)
    except ValueError as exc:
        return usage(str(exc))
    if not settings.kafka_broker:
        return usage("set LOOPWATCH_KAFKA_BROKER=host:port")
    if (sqs is None) == (not sources):
        return usage("name SOURCEs or --sqs QUEUE_URL (one of them)")
    if sqs is not None and state is not None:
        return usage("--state keeps the position of s3:// sources; a queue keeps its own")
    if not poll > 0:
        return usage(f"--poll must be more than 0 seconds, not {poll:g}")
    if sqs is not None and poll > MAX_SQS_WAIT:
        return usage(f"--poll with --sqs is a long-poll wait, at most {MAX_SQS_WAIT} s")
    from loopwatch.service.preflight import require_broker, require_data_dir

    require_broker(settings)  # BrokerUnreachable: one line and exit 2, before anything is read
    state_path = Path(state) if state is not None else None
    if state_path is None and follow and any(s.startswith("s3://") for s in sources):
        state_path = require_data_dir(settings) / STATE_FILE  # DataDirUnusable: one line too
    status = ShipStatus(err)
    stop = _Stop(err)
    try:
        stats = asyncio.run(
            stop.running(
                lambda: _ship(
                    sources,
                    settings,
                    status,
                    stop.asked,
                    sqs,
                    topic,
                    follow,
                    poll,
                    state_path,
                    time_range,
                    stdin,
                )
            )
        )
    except (SourceUnavailable, ValueError) as exc:  # ValueError: a damaged state file
        return usage(str(exc))
    except KafkaUnavailable as exc:
        err.write(f"loopwatch ship: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write("loopwatch ship: interrupted\n")
        return EXIT_INTERRUPTED
    if stats.failure:
        err.write(f"loopwatch ship: {stats.failure}\n")
    out.write(f"shipped {stats.summary()}\n")
    out.flush()
    return EXIT_FAILED if stats.failure else EXIT_OK


async def _ship(
    sources: Sequence[str],
    settings: Settings,
    status: ShipStatus,
    should_stop: Callable[[], bool],
    sqs: str | None,
    topic: str | None,
    follow: bool,
    poll: float,
    state_path: Path | None,
    time_range: TimeRange | None,
    stdin: IO[bytes] | None,
) -> ShipStats:
    if sqs is not None:
        from loopwatch.service.ship_sqs import ship_sqs

        return await ship_sqs(
            sqs,
            settings,
            topic=topic,
            follow=follow,
            wait=max(1, round(poll)),
            time_range=time_range,
            status=status,
            should_stop=should_stop,
        )
    from loopwatch.service.ship import ship

    return await ship(
        sources,
        settings,
        topic=topic,
        follow=follow,
        poll=poll,
        stdin=stdin,
        should_stop=should_stop,
        time_range=time_range,
        state_path=state_path,
        status=status,
    )


class _Stop:
    """The first SIGINT or SIGTERM asks the shipper to stop after what it has in hand; the
    next one has its usual effect (KeyboardInterrupt, or termination)."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._asked = False

    def asked(self) -> bool:
        return self._asked

    async def running(self, make: Callable[[], Coroutine[Any, Any, ShipStats]]) -> ShipStats:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def ask() -> None:
            self._asked = True
            self._err.write("ship     stopping after the message in hand (again to quit now)\n")
            self._err.flush()
            for sig in signals:
                loop.remove_signal_handler(sig)

        for sig in signals:
            loop.add_signal_handler(sig, ask)
        try:
            return await make()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
