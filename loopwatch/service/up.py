"""``loopwatch up``: the whole service on one machine, with one command.

    no LOOPWATCH_KAFKA_BROKER? ──► bundled Tansu on 127.0.0.1 ──► worker (in this process)
    --simulate TOPOLOGY ──► simulated CloudTrail ──ship──► worker ──► findings printed live

With ``--simulate`` it stops by itself once every loop the topology declares active has been
reported active on the findings topic (or when ``timeout`` runs out); without, it runs until
interrupted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from loopwatch.detect.explain import draw
from loopwatch.service.topics import FINDINGS, bootstrap
from loopwatch.settings import Settings

if TYPE_CHECKING:
    from loopwatch.topology import Topology


def run_up(
    settings: Settings, out: TextIO, *, simulate: str | None = None, timeout: float = 120.0
) -> int:
    """Run until interrupted, or with ``simulate`` until its loops are caught (0) or time out (1).

    Before anything starts, raises TopologyError for an unknown ``simulate``, PortBusy for a
    web port that is taken, and BrokerUnreachable for a configured broker that does not answer.
    """
    from loopwatch.service.preflight import require_broker, require_port
    from loopwatch.topology import resolve_topology

    topology = resolve_topology(simulate) if simulate is not None else None
    require_port(settings.web_host, settings.web_port)
    if settings.kafka_broker:
        require_broker(settings)
    with ExitStack() as stack:
        if not settings.kafka_broker:
            from loopwatch.service.bundled_broker import running_tansu

            address = stack.enter_context(running_tansu())
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="loopwatch-up-"))
            settings = settings.model_copy(
                update={"kafka_broker": address, "kafka_flavor": "tansu", "data_dir": data_dir}
            )
            out.write(
                f"broker   started the bundled Kafka-compatible broker (Tansu) at {address}\n"
            )
        try:
            return asyncio.run(_up(settings, out, topology, timeout))
        except KeyboardInterrupt:
            return 0


async def _up(settings: Settings, out: TextIO, simulate: Topology | None, timeout: float) -> int:
    from loopwatch.service.app import create_app

    service = create_app(settings)
    await service.app.start()
    try:
        out.write(
            f"worker   ready; web views at http://{settings.web_host}:{settings.web_port}/loops\n"
        )
        out.flush()
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
        out.write(
            f"\ntimeout  not every declared loop was reported active within {timeout:.0f} s\n"
        )
        return 1
    finally:
        await service.app.stop()


async def _ship_simulation(
    settings: Settings, topology: Topology, out: TextIO
) -> tuple[set[frozenset[str]], int]:
    """Simulate ``topology``, ship it; the node sets of the loops it must produce as active,
    and how many records were shipped."""
    from loopwatch.service.ship import ship
    from loopwatch.topology import write_simulation

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
    await consumer.start()
    try:
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
    if finding.get("kind") == "runaway":
        return f"RUNAWAY  {finding['function']}: {finding['rate_per_min']:.0f}/min at {finding['detected_at']}"
    text = f"{finding['change'].upper():<9} {finding['status']:<7} {draw(tuple(finding['cycle']))}  (event time {finding['time']})"
    if finding["change"] != "resolved" and finding["status"] == "active":
        text += f"\n          why  {finding['explanation']}\n          fix  {finding['fix']}"
    return text
