"""A simulated loop mixed into the real invictus logs is found, and nothing else is."""

from __future__ import annotations

import io
from pathlib import Path

from loopwatch.demo import DEMO_TOPOLOGY, build_demo, run_demo
from loopwatch.replay import replay
from loopwatch.topology import resolve_topology

DATA = Path(__file__).parent / "data" / "cloudtrail-invictus"


def test_simulated_loop_in_real_logs_is_exactly_the_loop_found(tmp_path: Path) -> None:
    simulated = build_demo(tmp_path, background=DATA)
    report = replay([str(DATA), str(tmp_path)])

    c = report.counts
    assert c.malformed == 0 and report.errors == []
    assert c.read == 2900 + simulated.records + simulated.duplicates + simulated.invocation_events
    assert c.duplicates == simulated.duplicates
    (loop,) = report.loops
    (truth,) = simulated.truth
    assert set(loop.cycle) == set(truth.cycle)
    # The loop lives in the real logs' account, not the topology's default one.
    assert all("123837392027" in node or node.startswith("arn:aws:s3") for node in loop.cycle)
    assert loop.status == "active"
    assert truth.third_traversal_at is not None and loop.detected_at is not None
    assert loop.detected_at <= truth.third_traversal_at
    assert report.runaway == []
    assert resolve_topology(DEMO_TOPOLOGY).expected_runaway() == set()


def test_demo_command_prints_the_caught_loop() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "ACTIVE  bucket" in text and "caught" in text and "fix" in text
