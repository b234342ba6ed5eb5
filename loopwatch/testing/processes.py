"""Run ``loopwatch up`` as a process of its own and account for every process it starts.

    with up_process(tmp_path) as up:             # own process group, bundled broker
        up.wait_for("worker   ready")
        children = up.descendants()              # collected while it runs
        up.process.send_signal(signal.SIGTERM)
        status = up.wait(10)
    assert not leftovers(children)

Linux only: the process tree is read from ``/proc``. Every wait is bounded; on leaving the
``with`` block whatever is still running (the process, its group and every descendant seen)
is killed, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from loopwatch.net import free_port

PROC = Path("/proc")


def children(pid: int) -> set[int]:
    """The direct children of ``pid`` (every thread's), empty once it is gone."""
    found: set[int] = set()
    for task in (PROC / str(pid) / "task").glob("*"):
        with suppress(OSError):
            found.update(int(p) for p in (task / "children").read_text().split())
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, at any depth."""
    seen: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - seen:
            seen.add(child)
            todo.append(child)
    return seen


def state(pid: int) -> str | None:
    """``pid``'s state letter from /proc (``Z`` for a zombie nobody reaped), None when gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]  # the name, in parentheses, may hold spaces


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` still exists in any state, a zombie included (``os.kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but is someone else's
        return True
    return True


def leftovers(pids: set[int], timeout: float = 3.0) -> dict[int, str]:
    """Those of ``pids`` that still exist after up to ``timeout`` seconds, each with its state
    and command line. Waits because the kernel may take a moment to deliver a parent-death
    signal; a process gone at once returns at once."""
    deadline = time.monotonic() + timeout
    while True:
        left = {pid: f"{state(pid)} {command_line(pid)}" for pid in pids if alive(pid)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


class UpProcess:
    """``python -m loopwatch up`` in a new session (its own process group), output in files."""

    def __init__(self, args: Sequence[str], data_dir: Path, out: IO[bytes], err: IO[bytes]):
        self.out, self.err = out, err
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWATCH_")}
        env |= {
            "LOOPWATCH_WEB_PORT": str(free_port()),
            "LOOPWATCH_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loopwatch", "up", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        self.seen: set[int] = set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return _read(self.out)

    def stderr(self) -> str:
        return _read(self.err)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Return once ``text`` is on stdout; TimeoutError (with both outputs) if the process
        exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while text not in self.stdout():
            self.descendants()
            if self.process.poll() is not None or time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no {text!r} within {timeout}s (exit {self.process.poll()});"
                    f" stdout:\n{self.stdout()[-3000:]}\nstderr:\n{self.stderr()[-3000:]}"
                )
            time.sleep(0.05)

    def descendants(self) -> set[int]:
        """Every process below it now; each one ever seen is also kept in ``seen``."""
        now = descendants(self.pid)
        self.seen |= now
        return now

    def wait(self, timeout: float) -> int:
        """Its exit status; TimeoutError if it is still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"still running {timeout}s later; stdout:\n{self.stdout()[-3000:]}"
                f"\nstderr:\n{self.stderr()[-3000:]}"
            ) from None

    def kill_everything(self) -> None:
        """SIGKILL the process, its group and every descendant ever seen; reap the process."""
        self.descendants()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in self.seen:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def _read(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")


@contextmanager
def up_process(data_dir: Path, *args: str) -> Iterator[UpProcess]:
    """Start ``loopwatch up *args`` with no broker configured (so it starts the bundled one)
    and a free web port; on exit kill whatever of it is left."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "up.out").open("w+b") as out, (data_dir / "up.err").open("w+b") as err:
        up = UpProcess(args, data_dir, out, err)
        try:
            yield up
        finally:
            up.kill_everything()
