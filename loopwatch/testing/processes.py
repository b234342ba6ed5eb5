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
from collections.abc import Callable, Iterator, Mapping, Sequence
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


def resident_kib(pid: int) -> int:
    """``pid``'s resident set size now (``VmRSS``), in KiB; OSError when it is gone."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise OSError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used so far, user and system (``utime + stime`` of its stat);
    OSError when it is gone."""
    fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    # After the name: state is field 3 of proc(5), so utime (14) and stime (15) are 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """``python -m loopwatch up`` (or ``command``) in a new session (its own process group),
    output in files, on a free web port (``web_port``), with no ``LOOPWATCH_`` variable of
    this process but those given: ``LOOPWATCH_DATA_DIR`` is ``data_dir`` unless that is None
    (the default data directory), and ``env`` adds or replaces variables."""

    def __init__(
        self,
        args: Sequence[str],
        data_dir: Path | None,
        out: IO[bytes],
        err: IO[bytes],
        *,
        command: str = "up",
        env: Mapping[str, str] | None = None,
    ):
        self.out, self.err = out, err
        self.web_port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWATCH_")}
        environ |= {"LOOPWATCH_WEB_PORT": str(self.web_port), "PYTHONUNBUFFERED": "1"}
        if data_dir is not None:
            environ["LOOPWATCH_DATA_DIR"] = str(data_dir)
        environ |= env or {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loopwatch", command, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=environ,
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
        self.wait_until(lambda: text in self.stdout(), f"{text!r} on stdout", timeout, every=0.05)

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = 60.0, *, every: float = 0.1
    ) -> None:
        """Return once ``ready()`` is true (``what`` names it), looking every ``every``
        seconds; TimeoutError (with both outputs) if the process exits or ``timeout`` passes
        first."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.descendants()
            if self.process.poll() is not None or time.monotonic() >= deadline:
                raise TimeoutError(
                    f"not {what} within {timeout}s (exit {self.process.poll()});"
                    f" stdout:\n{self.stdout()[-3000:]}\nstderr:\n{self.stderr()[-3000:]}"
                )
            time.sleep(every)

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
def loopwatch_process(
    folder: Path, command: str, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[UpProcess]:
    """Start ``loopwatch command *args`` with the default data directory (point HOME or
    XDG_STATE_HOME elsewhere through ``env``), its output in ``folder``; on exit kill whatever
    of it is left."""
    folder.mkdir(parents=True, exist_ok=True)
    with (
        (folder / f"{command}.out").open("w+b") as out,
        (folder / f"{command}.err").open("w+b") as err,
    ):
        process = UpProcess(args, None, out, err, command=command, env=env)
        try:
            yield process
        finally:
            process.kill_everything()


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
