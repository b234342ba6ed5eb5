"""Live equals replay (DESIGN §5): every topology's simulated files, shipped to a real worker in
three shuffled file orders, give the incidents ``loopwatch replay`` gives for the same files.

One worker for the module: each (topology, order) is simulated into an account of its own, so
the worker holds every case at once and the suite pays for one start. The demo's loop hidden
in the simulator's background noise is one more case.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loopwatch.detect.findings import finding_json
from loopwatch.replay import replay
from loopwatch.service.ship import ship
from loopwatch.testing.broker import Broker
from loopwatch.testing.verdicts import Verdict
from loopwatch.testing.worker import InProcessWorker, running_worker, worker_settings
from loopwatch.topology import builtin_topologies, load_topology, write_simulation

ORDERS = (1, 2, 3)  # seeds of the file shuffles
NOISE = 1500  # background records around the demo's loop


@dataclass(frozen=True)
class Case:
    name: str
    order: int
    account: str
    files: tuple[str, ...]
    replayed: Verdict


def _cases(tmp: Path) -> list[Case]:
    topologies = {p.stem: load_topology(p) for p in builtin_topologies()}
    sources = [(name, topology, 0) for name, topology in topologies.items()]
    sources.append(("s3-self-loop-in-noise", topologies["s3-self-loop"], NOISE))
    cases = []
    for number, (name, topology, noise, order) in enumerate(
        ((n, t, k, o) for n, t, k in sources for o in ORDERS), 1
    ):
        account = f"31{number:010d}"
        out = tmp / f"{name}-{order}"
        write_simulation(topology, out, account=account, noise=noise)
        files = sorted(str(p) for p in out.rglob("*.gz"))
        random.Random(order).shuffle(files)
        findings: list[dict[str, Any]] = []

        def keep(finding: Any, out: list[dict[str, Any]] = findings, a: str = account) -> None:
            out.append(finding_json(finding, a))

        report = replay(files, on_finding=keep)
        replayed = Verdict.of(findings, report.loops)
        placed = topology.with_overrides(account=account)
        expected = {
            frozenset(cycle)
            for cycle, loop in zip(placed.expected_cycles(), placed.expect.loops, strict=True)
            if loop.status == "active"
        }
        # Replay itself is right (the topology's own verdict), so agreeing with it means something.
        assert replayed.ever_active == expected, name
        assert replayed.runaway == placed.expected_runaway(), name
        cases.append(Case(name, order, account, tuple(files), replayed))
    return cases


@pytest.fixture(scope="module")
def live(
    kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[InProcessWorker, list[Case], list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("live-equals-replay")
    cases = _cases(tmp)
    settings = worker_settings(kafka_broker, tmp / "data")
    with running_worker(settings, kafka_broker) as worker:
        shipped = 0
        for case in cases:  # each case's files in its own shuffled order
            shipped += asyncio.run(ship(list(case.files), settings)).records
        processor = worker.service.processor

        def settled() -> bool:
            read = sum(processor.metrics.records_in.values())
            accounts = [processor.accounts.get(c.account) for c in cases]
            return read >= shipped and all(a is not None and not a.unsettled for a in accounts)

        deadline = time.monotonic() + 90
        while not worker.call(lambda: _async(settled)):
            assert time.monotonic() < deadline, "the worker did not read and settle everything"
            time.sleep(0.2)
        findings = worker.read_findings(kafka_broker)  # every one it made, on the topic
        yield worker, cases, findings


async def _async(check: Any) -> bool:
    return bool(check())  # read on the worker's own loop: its state is not shared across threads


def _case_ids() -> list[str]:
    names = [p.stem for p in builtin_topologies()] + ["s3-self-loop-in-noise"]
    return [f"{name}-order{order}" for name in names for order in ORDERS]


@pytest.mark.parametrize("case_id", _case_ids())
def test_the_worker_reaches_the_incidents_replay_reaches(
    live: tuple[InProcessWorker, list[Case], list[dict[str, Any]]], case_id: str
) -> None:
    worker, cases, findings = live
    (case,) = [c for c in cases if f"{c.name}-order{c.order}" == case_id]
    state = worker.call(lambda: _async_state(worker, case.account))
    mine = [f for f in findings if f.get("account") == case.account]
    assert Verdict.of(mine, state) == case.replayed, case.files
    # Out of order, and still: no incident is active before it began, and the findings of one
    # incident never go back in event time.
    for incident in state:
        assert incident.detected_at is None or incident.first_seen <= incident.detected_at
    for key in {f["incident"] for f in mine if f.get("kind") == "loop"}:
        times = [f["time"] for f in mine if f.get("incident") == key]
        assert times == sorted(times), times


async def _async_state(worker: InProcessWorker, account: str) -> list[Any]:
    tracked = worker.service.processor.accounts.get(account)
    return [] if tracked is None else list(tracked.state.engine.incidents.incidents.values())
