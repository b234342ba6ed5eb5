"""Every command starts on a bare machine: the default data directory
($XDG_STATE_HOME/loopwatch, else ~/.local/state/loopwatch) is made with its parents, or one line
names the path that cannot be made, with exit status 2 and no traceback.

The worker and ``up`` run as processes of their own, HOME and XDG_STATE_HOME pointing at empty
temporary folders, against the session's broker; each wait is on something observable (/health
answering, ``worker   ready`` printed) and bounded.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import uuid
from pathlib import Path

import pytest

from loopwatch.testing.broker import Broker
from loopwatch.testing.processes import UpProcess, loopwatch_process
from loopwatch.testing.worker import STOP_TIMEOUT, http_get

START_TIMEOUT = 60.0


def _service_env(broker: Broker, home: Path, xdg_state_home: Path | None) -> dict[str, str]:
    """A fresh service's variables on ``broker``; nothing names a data directory."""
    name = f"lw-{uuid.uuid4().hex[:10]}"
    return {
        "HOME": str(home),
        # Empty is ignored, as a relative one is (XDG Base Directory): then ~/.local/state.
        "XDG_STATE_HOME": "" if xdg_state_home is None else str(xdg_state_home),
        "LOOPWATCH_KAFKA_BROKER": broker.bootstrap,
        "LOOPWATCH_KAFKA_FLAVOR": "kafka" if broker.external else "tansu",
        "LOOPWATCH_APP_ID": name,
        "LOOPWATCH_TOPIC_PREFIX": name,
        "LOOPWATCH_PARTITIONS": "2",
    }


def _empty(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _answers_health(process: UpProcess) -> bool:
    try:
        status, _ = http_get(f"http://127.0.0.1:{process.web_port}/health", timeout=2)
    except (urllib.error.URLError, OSError):
        return False
    return status in (200, 503)  # answering at all: Faust made its folders and started


def _stops_cleanly(process: UpProcess) -> None:
    process.process.send_signal(signal.SIGTERM)
    assert process.wait(STOP_TIMEOUT) == 0, process.stderr()[-3000:]
    assert "Traceback" not in process.stderr(), process.stderr()[-3000:]


@pytest.mark.parametrize("xdg", [False, True], ids=["home", "xdg-state-home"])
def test_the_worker_makes_its_default_data_dir(
    kafka_broker: Broker, tmp_path: Path, xdg: bool
) -> None:
    home = _empty(tmp_path / "home")
    state = _empty(tmp_path / "state") if xdg else None
    expected = (state or home / ".local" / "state") / "loopwatch"
    env = _service_env(kafka_broker, home, state)

    with loopwatch_process(tmp_path / "out", "worker", env=env) as worker:
        worker.wait_until(lambda: _answers_health(worker), "answering /health", START_TIMEOUT)
        assert expected.is_dir()
        _stops_cleanly(worker)


def test_up_on_a_configured_broker_makes_its_default_data_dir(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    home = _empty(tmp_path / "home")
    env = _service_env(kafka_broker, home, None)

    with loopwatch_process(tmp_path / "out", "up", env=env) as up:
        up.wait_for("worker   ready", START_TIMEOUT)
        assert (home / ".local" / "state" / "loopwatch").is_dir()
        _stops_cleanly(up)


@pytest.mark.parametrize("command", ["worker", "up"])
def test_a_data_dir_that_cannot_be_made_is_one_line_and_exit_2(
    tmp_path: Path, command: str
) -> None:
    regular_file = tmp_path / "state"
    regular_file.write_text("not a folder\n")
    env = {
        "HOME": str(_empty(tmp_path / "home")),
        "XDG_STATE_HOME": str(regular_file),  # the data directory would be inside a file
        # Never contacted: the data directory is checked before the broker.
        "LOOPWATCH_KAFKA_BROKER": "127.0.0.1:9",
        "PATH": "/usr/bin:/bin",
    }

    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", command],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"loopwatch {command}: cannot make the data directory ")
    assert str(regular_file / "loopwatch") in lines[0]
    assert done.stdout == ""
