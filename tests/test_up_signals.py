"""``loopwatch up`` stops cleanly: SIGTERM, Ctrl-C and kill -9, checked process by process.

Each test runs ``python -m loopwatch up`` in its own process group with no broker configured, so
it starts the bundled Tansu; the processes below it are collected from /proc while it runs, and
after it exits each is checked with ``os.kill(pid, 0)``: none may be left, not even a zombie.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from loopwatch.testing.processes import command_line, leftovers, up_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

READY = "worker   ready"
STOP_WITHIN = 10.0


def test_sigterm_stops_worker_and_broker_in_time_with_status_0(tmp_path: Path) -> None:
    with up_process(tmp_path) as up:
        up.wait_for(READY)
        started = up.descendants()
        assert any("broker" in command_line(pid) for pid in started), started
        up.process.send_signal(signal.SIGTERM)
        status = up.wait(STOP_WITHIN)
        out, err = up.stdout(), up.stderr()
    assert status == 0, (out, err)
    assert "Traceback" not in err and "Unclosed" not in err, err
    assert "stopped  on SIGTERM" in out
    assert not leftovers(up.seen)


def test_ctrl_c_while_shipping_a_simulation_stops_everything_with_status_130(
    tmp_path: Path,
) -> None:
    # busy-pipeline takes over a second to simulate right after the ready line, then ships
    # and is read: the Ctrl-C lands while the shipper is at work.
    with up_process(tmp_path, "--simulate", "busy-pipeline", "--timeout", "300") as up:
        up.wait_for(READY)
        assert up.descendants()
        # A terminal sends SIGINT to its whole foreground process group, not just to loopwatch.
        os.killpg(up.pid, signal.SIGINT)
        status = up.wait(STOP_WITHIN)
        out, err = up.stdout(), up.stderr()
    assert status == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Unclosed" not in err, err
    assert "stopped  on SIGINT" in out
    assert "no loop" not in out  # it was stopped, it did not finish by itself
    assert not leftovers(up.seen)


def test_sigterm_while_the_worker_starts_still_stops_the_broker(tmp_path: Path) -> None:
    with up_process(tmp_path) as up:
        # Printed once the broker answers, before the worker is created and started.
        up.wait_for("started the bundled Kafka-compatible broker")
        assert up.descendants()
        up.process.send_signal(signal.SIGTERM)
        status = up.wait(STOP_WITHIN)
        out, err = up.stdout(), up.stderr()
    assert status == 0, (out, err)
    assert "Traceback" not in err and "Unclosed" not in err, err
    assert READY not in out  # the stop came before the worker was ready
    assert not leftovers(up.seen)


def test_kill_9_takes_the_bundled_broker_with_it(tmp_path: Path) -> None:
    with up_process(tmp_path) as up:
        up.wait_for(READY)
        assert up.descendants()
        up.process.kill()  # nothing of loopwatch runs: the kernel must end the broker
        assert up.wait(STOP_WITHIN) == -signal.SIGKILL
        assert not leftovers(up.seen, timeout=5.0)
