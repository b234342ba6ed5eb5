"""``loopwatch up --simulate``: bundled broker, worker and simulated loop, caught live, by itself."""

from __future__ import annotations

import io
from pathlib import Path

from loopwatch.service.up import run_up
from loopwatch.settings import Settings
from loopwatch.testing.worker import free_port


def test_up_catches_a_simulated_loop_live_and_stops(tmp_path: Path) -> None:
    # No broker configured: `up` starts the bundled one, as `make demo` does on a new machine.
    settings = Settings(kafka_broker=None, web_port=free_port(), data_dir=str(tmp_path))
    out = io.StringIO()
    assert run_up(settings, out, simulate="s3-self-loop", timeout=60) == 0
    text = out.getvalue()
    assert "started the bundled Kafka-compatible broker" in text
    assert "ESCALATED active  bucket uploads → function thumbnailer → bucket uploads" in text
    assert "caught   every declared loop" in text


def test_up_with_a_benign_topology_reads_everything_and_reports_no_loop(tmp_path: Path) -> None:
    settings = Settings(kafka_broker=None, web_port=free_port(), data_dir=str(tmp_path))
    out = io.StringIO()
    assert run_up(settings, out, simulate="busy-pipeline", timeout=60) == 0
    text = out.getvalue()
    assert "the worker read all" in text and "reported no active loop" in text
    assert "OPENED" not in text and "ESCALATED" not in text
