"""``loopwatch up``: the whole service on one machine, with one command.

    no LOOPWATCH_KAFKA_BROKER? ──► bundled Tansu on 127.0.0.1 ──► worker (in this process)
    --simulate TOPOLOGY ──► simulated CloudTrail ──ship──► worker ──► findings printed live

With ``--simulate`` it stops by itself once every loop the topology declares active has been
reported active on the findings topic (or when ``timeout`` runs out); without, it runs until
stopped. SIGTERM or Ctrl-C (SIGINT) stops it in order, within seconds: the shipper and the
findings reader, then the worker (its state saved, its producer flushed), then the bundled
broker, whose process is killed and reaped on every way out (see ``shutdown.py``).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson

from loopwatch.detect.explain import draw
from loopwatch.render.terminal import printable

# Imported with this module, not once running: Faust takes seconds to import, and a stop signal
# that comes then should find nothing started yet (and nothing started be kept waiting).
from loopwatch.service.app import LoopwatchService, create_app
from loopwatch.service.shutdown import Interrupted, Shutdown
from loopwatch.service.topics import FINDINGS, bootstrap
from loopwatch.settings import Settings

T = TypeVar("T")
WORKER_STOP_TIMEOUT = 6.0
"""Longest wait for the worker's own stop; the broker's (at most 5 s) follows it."""


class _Stopped(Exception):
    """A stop signal came while a step was under way; the step was cancelled."""


def run_up(
    settings: Settings, out: TextIO, *, simulate: str | None = None, timeout: float = 120.0
) -> int:
    """Run until stopped, or with ``simulate`` until its loops are caught (0) or time out (1).

    A stop by SIGTERM returns 0, by SIGINT (Ctrl-C) 130, once everything it started has stopped.
    Before anything starts, raises TopologyError for an unknown ``simulate``, PortBusy for a
    web port that is taken, and BrokerUnreachable for a configured broker that does not answer
    or DataDirUnusable for its data directory (made, with its parents, when missing).
    """
    from loopwatch.service.preflight import require_broker, require_data_dir, require_port
    from loopwatch.topology import resolve_topology

    if simulate is not None:
        resolve_topology(simulate)  # an unknown name is said before any broker starts
    if settings.kafka_broker:  # else the bundled broker's worker keeps its data in a temp folder
        require_data_dir(settings)
    require_port(settings.web_host, settings.web_port)
    if settings.kafka_broker:
        require_broker(settings)
    with Shutdown() as shutdown:
        try:
            with ExitStack() as stack:
                if not settings.kafka_broker:
                    from loopwatch.service.bundled_broker import running_tansu

                    address = stack.enter_context(running_tansu())
                    data_dir = stack.enter_context(
                        tempfile.TemporaryDirectory(prefix="loopwatch-up-")
                    )
                    settings = settings.model_copy(
                        update={
                            "kafka_broker": address,
                            "kafka_flavor": "tansu",
                            "data_dir": data_dir,
                        }
                    )
                    out.write(
                        f"broker   started the bundled Kafka-compatible broker (Tansu) at {address}\n"
                    )
                    out.flush()
                main = _up(settings, out, simulate, timeout, shutdown)
                try:
                    status = asyncio.run(main)
                finally:
                    main.close()  # a no-op once it ran; else no "never awaited" warning
                # Leaving the stack stops the broker: signals are only noted from here on.
                shutdown.stopping()
            if shutdown.signum is not None:
                out.write(f"stopped  on {shutdown.name}\n")
            return status
        except Interrupted:  # a signal while starting: the stack above has unwound
            out.write(f"stopped  on {shutdown.name}, while starting\n")
            return shutdown.exit_status


async def _up(
    settings: Settings, out: TextIO, simulate: str | None, timeout: float, shutdown: Shutdown
) -> int:
    stop = shutdown.running()
    service = create_app(settings)
    try:
        await _unless_stopped(service.app.start(), stop)
        out.write(
            f"worker   ready; web views at http://{settings.web_host}:{settings.web_port}/loops\n"
        )
        out.flush()
        return await _unless_stopped(_serve(service, settings, out, simulate, timeout), stop)
    except _Stopped:
        out.write(f"stopping on {shutdown.name}: the shipper, the worker, then the broker\n")
        out.flush()
        return shutdown.exit_status
    finally:
        shutdown.stopping()
        _quiet_unclosed_kafka()
        try:
            await asyncio.wait_for(service.app.stop(), WORKER_STOP_TIMEOUT)
        except TimeoutError:
            out.write(f"worker   did not stop within {WORKER_STOP_TIMEOUT:.0f} s; leaving it\n")


class _UnclosedKafka(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unclosed AIOKafka")


def _quiet_unclosed_kafka() -> None:
    """Once stopping: drop aiokafka's "Unclosed AIOKafkaConnection" reports. On a loaded
    machine Faust's consumer can still hold a fetch connection when its loop is torn down; the
    process is exiting and the OS closes the socket, so the report is noise on a clean stop,
    not a leak of a running service."""
    logging.getLogger("asyncio").addFilter(_UnclosedKafka())


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T:
    """``await work``, unless ``stop`` is set first: then ``work`` is cancelled, waited for,
    and _Stopped raised."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    raise _Stopped


async def _serve(
    service: LoopwatchService, settings: Settings, out: TextIO, simulate: str | None, timeout: float
) -> int:
    if simulate is None:
        await _print_findings(settings, out, expected=None, deadline=None)
        return 0
    started = time.monotonic()
    expected, shipped = await _ship_simulation(settings, simulate, out)

    def everything_read() -> bool:
        return sum(service.metrics.records_in.values()) >= shipped

    caught = await _print_findings(
        settings, out, expected=expected, deadline=started + timeout, read=everything_read
    )
    if caught and not expected:
        out.write(
            f"\nno loop  the worker read all {shipped:,} records and reported no active loop\n"
        )
        return 0
    if caught:
        out.write(
            f"\ncaught   every declared loop, {time.monotonic() - started:.1f} s after shipping began\n"
        )
        return 0
    out.write(f"\ntimeout  not every declared loop was reported active within {timeout:.0f} s\n")
    return 1


async def _ship_simulation(
    settings: Settings, name: str, out: TextIO
) -> tuple[set[frozenset[str]], int]:
    """Simulate topology ``name``, ship it; the node sets of the loops it must produce as
    active, and how many records were shipped."""
    from loopwatch.service.ship import ship
    from loopwatch.topology import resolve_topology, write_simulation

    topology = resolve_topology(name)

    with tempfile.TemporaryDirectory(prefix="loopwatch-simulate-") as folder:
        write_simulation(topology, Path(folder))
        stats = await ship([folder], settings)
    out.write(
        f"ship     {stats.records:,} simulated CloudTrail records of {topology.name} in {stats.messages} messages\n"
    )
    out.flush()
    expected = {
        frozenset(cycle)
        for cycle, loop in zip(topology.expected_cycles(), topology.expect.loops, strict=True)
        if loop.status == "active"
    }
    return expected, stats.records


async def _print_findings(
    settings: Settings,
    out: TextIO,
    *,
    expected: set[frozenset[str]] | None,
    deadline: float | None,
    read: Callable[[], bool] = lambda: True,
) -> bool:
    """Print findings as they arrive; True once all ``expected`` loops were reported active
    (with none expected: once ``read()`` says the worker has read everything shipped)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic(FINDINGS),
        bootstrap_servers=bootstrap(settings),
        auto_offset_reset="earliest",
    )
    try:
        # Inside the try: a stop while it connects must close it too.
        await consumer.start()
        waiting = set(expected or ())
        while deadline is None or time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    finding = orjson.loads(record.value)
                    out.write(_line(finding) + "\n")
                    if finding.get("kind") == "loop" and finding.get("status") == "active":
                        waiting.discard(frozenset(finding["cycle"]))
            out.flush()
            if expected is not None and not waiting and (expected or read()):
                return True
        return False
    finally:
        await consumer.stop()


def _line(finding: dict[str, Any]) -> str:
    """A finding for people; names from records escaped, so only its own newlines break it."""
    if finding.get("kind") == "runaway":
        return printable(
            f"RUNAWAY  {finding['function']}: {finding['rate_per_min']:.0f}/min at {finding['detected_at']}"
        )
    text = printable(
        f"{finding['change'].upper():<9} {finding['status']:<7} {draw(tuple(finding['cycle']))}  (event time {finding['time']})"
    )
    if finding["change"] != "resolved" and finding["status"] == "active":
        why, fix = printable(str(finding["explanation"])), printable(str(finding["fix"]))
        text += f"\n          why  {why}\n          fix  {fix}"
    return text
