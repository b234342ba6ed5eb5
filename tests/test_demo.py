"""The demo: a simulated loop hidden in background traffic is found, and nothing else is —
in the simulator's own management-event noise (what ``loopwatch demo`` replays), and in real
CloudTrail logs when the third-party data set is present beside the repository."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import orjson

from loopwatch.demo import DEMO_TOPOLOGY, build_demo, run_demo
from loopwatch.events import records
from loopwatch.replay import replay
from loopwatch.testing.data import INVICTUS_RECORDS, invictus_dir
from loopwatch.topology import (
    SimulationResult,
    background_placement,
    resolve_topology,
    write_simulation,
)


def repeated_relevant(simulated: SimulationResult) -> int:
    """Repeats of the records that yield facts, across the simulation's files."""
    ids = Counter(
        rec["eventID"]
        for path in simulated.files
        for rec in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    )
    relevant = {rec["eventID"] for rec in simulated.distinct_records() if records.parse(rec)[1]}
    return sum(n - 1 for event_id, n in ids.items() if event_id in relevant)


def test_simulated_loop_in_noise_is_exactly_the_loop_found(tmp_path: Path) -> None:
    simulated = build_demo(tmp_path, noise=2000)
    report = replay([str(tmp_path)])

    c = report.counts
    assert simulated.noise == 2000
    assert c.malformed == 0 and report.errors == []
    assert c.read == simulated.records + simulated.duplicates + simulated.invocation_events
    # Only records that matter are deduplicated (one policy, live and offline): a repeated
    # record of no interest is skipped again.
    assert c.duplicates == repeated_relevant(simulated) > 0
    assert c.skipped >= simulated.noise  # the background is read, and used for nothing
    (loop,) = report.loops
    (truth,) = simulated.truth
    assert set(loop.cycle) == set(truth.cycle)
    assert loop.status == "active"
    assert truth.third_traversal_at is not None and loop.detected_at is not None
    assert loop.detected_at <= truth.third_traversal_at
    assert report.runaway == []
    assert resolve_topology(DEMO_TOPOLOGY).expected_runaway() == set()


def test_simulated_loop_in_real_logs_is_exactly_the_loop_found(tmp_path: Path) -> None:
    real = invictus_dir(__file__)
    account, first, last = background_placement(sorted(real.glob("*.json")))
    start = first + (last - first) / 2 - timedelta(minutes=1)
    simulated = write_simulation(
        resolve_topology(DEMO_TOPOLOGY), tmp_path, start=start, account=account
    )
    report = replay([str(real), str(tmp_path)])

    c = report.counts
    assert c.malformed == 0 and report.errors == []
    assert c.read == (
        INVICTUS_RECORDS + simulated.records + simulated.duplicates + simulated.invocation_events
    )
    (loop,) = report.loops
    (truth,) = simulated.truth
    assert set(loop.cycle) == set(truth.cycle)
    # The loop lives in the real logs' account, not the topology's default one.
    assert all(account in node or node.startswith("arn:aws:s3") for node in loop.cycle)
    assert loop.status == "active"
    assert truth.third_traversal_at is not None and loop.detected_at is not None
    assert loop.detected_at <= truth.third_traversal_at
    assert report.runaway == []


def test_demo_command_prints_the_caught_loop() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "everyday management traffic" in text
    assert "ACTIVE  bucket" in text and "caught" in text and "fix" in text
