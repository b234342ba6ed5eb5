"""Run service workers in tests: in this process (fast, inspectable) or as a subprocess (for
kill -9, restarts and groups of workers).

    settings = worker_settings(kafka_broker, tmp_path)        # unique app id, prefix, port
    with running_worker(settings, kafka_broker) as worker:    # in a background thread
        worker.get("/health")
    with worker_process(settings) as proc:                    # `python -m loopwatch.cli worker`
        proc.kill()

Every wait is bounded and fails with TimeoutError (with the worker's output, for a process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from pydantic import SecretStr

from loopwatch.net import free_port
from loopwatch.service.bundled_broker import BrokerError
from loopwatch.settings import Settings
from loopwatch.testing.broker import Broker

T = TypeVar("T")
READY_TIMEOUT = 30.0
STATE_SECRET_PREFIX = "state-secret-of-"
STOP_TIMEOUT = 15.0


def fresh_start() -> datetime:
    """A simulation start 5 to 10 minutes before now, on a five-minute boundary as the
    topologies' own starts are (so a simulation is cut into the same CloudTrail files, and
    shipped in the same messages): records a live worker takes as fresh (within
    LOOPWATCH_ACT_MAX_AGE_SECONDS), so it may act on them. A topology's default start is
    months old: history, never acted on live."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=5 + now.minute % 5)


def fresh_time() -> str:
    """``fresh_start`` as CloudTrail writes an event time (``loopwatch.testing.records.at``)."""
    return fresh_start().strftime("%Y-%m-%dT%H:%M:%SZ")


def enforcing_settings(broker: Broker, tmp_path: Path, hook: str, **overrides: Any) -> Settings:
    """``worker_settings`` of a worker that throttles (enforce mode) at once and alerts the
    receiver at ``hook``: data in ``tmp_path/data``, ledger ``tmp_path/ledger.json``. Acting
    at once is the action itself under test; the act guard has its own tests."""
    values: dict[str, Any] = {
        "alert_urls": [hook],
        "throttle_mode": "enforce",
        "act_after_seconds": 0,
        "ledger_path": str(tmp_path / "ledger.json"),
        **overrides,
    }
    return worker_settings(broker, tmp_path / "data", **values)


def worker_settings(broker: Broker, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a fresh service on ``broker``: its own app id and topics, a free web port,
    and its own state secret (``STATE_SECRET_PREFIX`` + the app id), as a deployment has."""
    name = f"lw-{uuid.uuid4().hex[:10]}"
    values: dict[str, Any] = {
        "state_secret": STATE_SECRET_PREFIX + name,
        "kafka_broker": broker.bootstrap,
        "kafka_flavor": "kafka" if broker.external else "tansu",
        "app_id": name,
        "topic_prefix": name,
        "partitions": 2,
        "web_host": "127.0.0.1",
        "web_port": free_port(),
        "data_dir": str(data_dir),
        **overrides,
    }
    return Settings(**values)


def http_get(
    url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Status and body of a GET; error statuses are returned, not raised."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class _Web:
    url: str

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return http_get(self.url + path, headers=headers)

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        if status >= 500 and path != "/health":
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return orjson.loads(body)

    def metric(self, name: str) -> float:
        """The value of sample ``name`` on /metrics (``loopwatch_accounts_evicted_total``),
        summed over its labels; 0 when it has none."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.get("/metrics")[1].decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        )

    def wait_ready(
        self, timeout: float = READY_TIMEOUT, alive: Callable[[], bool] = lambda: True
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"worker at {self.url} not ready within {timeout}s")


class InProcessWorker(_Web):
    """A service running on an event loop in a background thread."""

    def __init__(self, service: Any, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.service = service
        self.loop = loop
        self.url = url

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run a coroutine on the worker's loop and wait for its result."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def read_findings(self, broker: Broker, timeout: float = 60.0) -> list[Any]:
        """Every value on the findings topic once each finding this worker has published so
        far is there (the processor counts a finding as it makes it, before it is sent);
        TimeoutError with what was read if they are not within ``timeout`` seconds. For a
        topic no other worker writes findings to."""

        async def published() -> int:  # read on the worker's own loop
            return sum(self.service.processor.metrics.findings.values())

        made = self.call(published)
        return read_until(
            broker,
            self.service.settings.topic("findings"),
            lambda vs: sum(1 for v in vs if v.get("kind") in ("loop", "runaway")) >= made,
            timeout=timeout,
        )

    def wait_applied(self, broker: Broker, timeout: float = 60.0) -> None:
        """Return once the worker has applied every input message produced before the call,
        sent what they produced (its group committed their offsets) and settled each
        account's open second; TimeoutError (with what it had reached) after ``timeout``.

        A settle changes the state at once, but the findings it publishes may still be on
        their way: wait for those on the findings topic (``read_until``).
        """
        from loopwatch.service.processor import INPUTS

        settings = self.service.settings
        topics = [settings.topic(name) for name in INPUTS]
        ends = {topic: broker.end_offsets(topic) for topic in topics}
        deadline = time.monotonic() + timeout
        while True:
            committed = {topic: broker.committed(topic, settings.app_id) for topic in topics}
            behind = {
                (topic, partition): (committed[topic].get(partition, 0), end)
                for topic, by_partition in ends.items()
                for partition, end in by_partition.items()
                if committed[topic].get(partition, 0) < end
            }
            accounts = self.service.processor.accounts
            unsettled = sorted(a for a, tracked in list(accounts.items()) if tracked.unsettled)
            if not behind and not unsettled:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"worker {settings.app_id} not caught up in {timeout}s: (committed, end)"
                    f" {behind}, unsettled accounts {unsettled}"
                )
            time.sleep(0.1)

    def wait_acted(self, broker: Broker, timeout: float = 60.0) -> None:
        """Return once the actions agent has handled every message on the findings topic (its
        group committed the offsets the topic ended at, read after them), every alert it
        enqueued is delivered or dead-lettered and no throttle is armed: from then on nothing
        more reaches a sink until something new is produced. TimeoutError with what it had
        reached after ``timeout``.

        Faust commits a message's offset only after the agent has handled it (``uncommitted``).
        The audit record of a throttle taken at its deadline may still be on its way to the
        findings topic (``read_until`` it): it is sent apart from any message read.
        """
        actions = self.service.actions
        if actions is None:
            raise RuntimeError("this worker runs no actions agent")
        settings = self.service.settings
        topic = settings.topic("findings")
        deadline = time.monotonic() + timeout
        while True:
            behind = uncommitted(broker, topic, settings.app_id)
            left = max(deadline - time.monotonic(), 0.1)
            armed = None if behind else self.call(partial(actions.drain, left), timeout=left + 5)
            if not behind and armed == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"actions of {settings.app_id} not done in {timeout}s: {topic} (committed,"
                    f" end) {behind}, throttles armed or being taken {armed}"
                )
            time.sleep(0.1)


@contextmanager
def running_worker(
    settings: Settings,
    broker: Broker | None = None,
    *,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[InProcessWorker]:
    """Start ``create_app(settings)`` in a background thread; yield once /health says ready.

    ``broker``'s Faust settings (timeouts for the test broker) override the service's. On
    exit the app is stopped (state saved, producer flushed) and the thread joined.
    """
    from loopwatch.service.app import create_app

    loop = asyncio.new_event_loop()
    started: threading.Event = threading.Event()
    holder: dict[str, Any] = {}
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            overrides = {} if broker is None else _timeouts(broker)
            service = holder["service"] = create_app(settings, overrides)
            await service.app.start()
        except BaseException as exc:
            holder["error"] = exc
            started.set()
            raise
        started.set()
        try:
            await stop.wait()
        finally:
            await service.app.stop()

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            holder.setdefault("error", exc)
        finally:
            loop.close()

    thread = threading.Thread(target=thread_main, name=f"worker-{settings.app_id}", daemon=True)
    thread.start()
    try:
        if not started.wait(ready_timeout) or "error" in holder:
            raise TimeoutError(f"worker did not start: {holder.get('error')!r}")
        worker = InProcessWorker(
            holder["service"], loop, f"http://{settings.web_host}:{settings.web_port}"
        )
        worker.wait_ready(ready_timeout, alive=thread.is_alive)
        yield worker
    finally:
        if thread.is_alive() and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise TimeoutError(f"worker {settings.app_id} did not stop within {STOP_TIMEOUT}s")


def _timeouts(broker: Broker) -> dict[str, Any]:
    # Only the group timeouts: the rest of the test broker's Faust settings are the service's own.
    keep = ("broker_session_timeout", "broker_heartbeat_interval", "broker_rebalance_timeout")
    return {k: v for k, v in broker.faust_settings().items() if k in keep}


def settings_env(settings: Settings) -> dict[str, str]:
    """The LOOPWATCH_* variables that rebuild ``settings`` (fields left at their default are
    left out, so the child's own defaults apply)."""
    env = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, list | tuple):  # comma-separated, as the settings document
            text = ",".join(_revealed(item) for item in value)
        else:
            text = _revealed(value)
        env[f"LOOPWATCH_{name.upper()}"] = text
    return env


def _revealed(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


class WorkerProcess(_Web):
    """``python -m loopwatch.cli worker`` with the settings in its environment."""

    def __init__(self, settings: Settings, log: IO[bytes]) -> None:
        self.settings = settings
        self.url = f"http://{settings.web_host}:{settings.web_port}"
        self.log = log
        env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loopwatch.cli", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(
        self, timeout: float = READY_TIMEOUT, alive: Callable[[], bool] | None = None
    ) -> None:
        try:
            super().wait_ready(timeout, alive=alive or self.alive)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}; exit {self.process.poll()}; output:\n{self.output()}"
            ) from None

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Return once ``ready()`` is true (``what`` names it); TimeoutError with the worker's
        output if it exits or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive() or time.monotonic() > deadline:
                raise TimeoutError(
                    f"not {what} within {timeout}s (exit {self.process.poll()}):\n{self.output()}"
                )
            time.sleep(0.1)

    def output(self, limit: int = 4000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def kill(self) -> None:
        """SIGKILL: no snapshot, no commit, no goodbye to the group."""
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; the exit status (SIGKILL after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
                raise TimeoutError(f"worker did not stop on SIGTERM:\n{self.output()}") from None
        return int(self.process.returncode)


@contextmanager
def worker_process(settings: Settings, *, wait: bool = True) -> Iterator[WorkerProcess]:
    """Start a worker process (ready once /health answers 200, unless ``wait`` is False);
    terminated on exit."""
    with tempfile.TemporaryFile() as log:
        worker = WorkerProcess(settings, log)
        try:
            if wait:
                worker.wait_ready()
            yield worker
        finally:
            if worker.alive():
                worker.terminate()


def uncommitted(broker: Broker, topic: str, group_id: str) -> dict[int, tuple[int, int]]:
    """The partitions of ``topic`` whose messages ``group_id`` has not all handled: partition
    → (committed, end). Committed is read first, the ends after: a Faust commit waits for what
    the handled messages produced, so when ``topic`` is also where they write (the actions
    agent's audit records on the findings topic) the ends count those too."""
    committed = broker.committed(topic, group_id)
    ends = broker.end_offsets(topic)
    return {
        partition: (committed.get(partition, 0), end)
        for partition, end in ends.items()
        if committed.get(partition, 0) < end
    }


def wait_handled(broker: Broker, topic: str, group_id: str, *, timeout: float = 60.0) -> None:
    """Return once ``group_id`` has committed every message on ``topic`` (``uncommitted`` is
    empty); TimeoutError with the partitions behind after ``timeout`` seconds. For workers in
    other processes, whose state a test cannot read."""
    deadline = time.monotonic() + timeout
    while behind := uncommitted(broker, topic, group_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{group_id} not through {topic} in {timeout}s: {behind}")
        time.sleep(0.1)


def read_until(
    broker: Broker,
    topic: str,
    done: Callable[[list[Any]], bool],
    *,
    timeout: float = 20.0,
) -> list[Any]:
    """The JSON values on ``topic`` once ``done(values)`` holds; TimeoutError with what was
    read if it does not within ``timeout`` seconds.

    Each try reads the topic to its end (``Broker.read_to_end``), so ``values`` is always every
    value produced before that try, never what a short read happened to fetch; a topic that
    does not exist yet counts as empty until the deadline.
    """
    deadline = time.monotonic() + timeout
    values: list[Any] = []
    while True:
        left = deadline - time.monotonic()
        try:
            read = broker.read_to_end(topic, timeout=max(left, 1.0))
        except BrokerError:  # not created yet (the worker declares its outputs as it starts)
            read = []
        values = [orjson.loads(m.value) for m in read]
        if done(values):
            return values
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: condition not met in {timeout}s; read {values!r}"[:3000])
        time.sleep(0.2)


def read_all(broker: Broker, topic: str, *, timeout: float = 20.0) -> list[Any]:
    """Every JSON value on ``topic`` now (read to its end offsets): once whatever writes to it
    has stopped, or has observably written all it will, this is all it wrote."""
    return [orjson.loads(m.value) for m in broker.read_to_end(topic, timeout=timeout)]
