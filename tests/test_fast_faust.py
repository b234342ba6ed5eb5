"""The Faust fast path is guarded: pinned, hashed against upstream, and can be turned off."""

from __future__ import annotations

import asyncio
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from faust.sensors import Monitor
from faust.transport.drivers import aiokafka as faust_aiokafka

from loopwatch.service import fast_faust
from loopwatch.service.app import LoopwatchService, create_app
from loopwatch.settings import Settings

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.mark.parametrize("name", sorted(fast_faust.UPSTREAM))
def test_upstream_source_is_the_one_the_override_was_written_against(name: str) -> None:
    try:
        actual = fast_faust.source_sha256(name)
    except (ImportError, AttributeError, OSError) as exc:
        pytest.fail(f"upstream {name} is gone ({exc}): review its override in fast_faust.py")
    assert actual == fast_faust.UPSTREAM[name], (
        f"upstream {name} changed (sha256 {actual}): review the override in"
        " loopwatch/service/fast_faust.py against the new source, then update UPSTREAM"
    )


def _upstream_base(cls: type) -> type | None:
    return next((b for b in cls.__mro__[1:] if b.__module__ != fast_faust.__name__), None)


def test_every_upstream_method_the_module_overrides_is_hashed() -> None:
    # Catches an override added later without its upstream hash.
    missing = []
    for cls in vars(fast_faust).values():
        if not inspect.isclass(cls) or cls.__module__ != fast_faust.__name__:
            continue
        base = _upstream_base(cls)
        if base is None or base is object:
            continue
        for attr, value in vars(cls).items():
            if inspect.isfunction(value) and hasattr(base, attr):
                name = f"{base.__module__}.{base.__qualname__}.{attr}"
                if name not in fast_faust.UPSTREAM:
                    missing.append(f"{cls.__name__}.{attr} overrides {name}")
    assert not missing, "overrides without an UPSTREAM hash: " + "; ".join(missing)


def test_upstream_libraries_are_pinned_to_the_installed_versions() -> None:
    # The hashes hold for one release: a range would let a fresh install pick another.
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for package in ("faust-streaming", "aiokafka"):
        pins = [d for d in dependencies if re.match(rf"{package}\s*==", d)]
        assert pins == [f"{package}=={version(package)}"], (package, dependencies)


def _service(fast_path: bool) -> LoopwatchService:
    # Built, never started: nothing connects to the broker named here.
    settings = Settings(kafka_broker="127.0.0.1:9", fast_path=fast_path)
    return create_app(settings)


def test_fast_path_swaps_in_its_parts() -> None:
    service = _service(True)
    app = service.app
    assert type(app) is fast_faust.App
    assert type(app.transport) is fast_faust._FastTransport
    assert type(app.consumer) is fast_faust.FastConsumer
    assert app.conf.Stream is fast_faust.EventBatchStream
    assert type(app.monitor) is fast_faust.NullMonitor
    assert app.conf.broker_max_poll_records == fast_faust.OPTIONS["broker_max_poll_records"]
    inputs = [service.topics[n] for n in ("cloudtrail", "invocations")]
    assert all(type(t) is fast_faust.RecordChunkTopic for t in inputs)
    assert "tune_gc_task" in [task.__name__ for task in app._app_tasks]


def test_fast_path_off_is_stock_faust_throughout_but_for_the_commit() -> None:
    service = _service(False)
    app = service.app
    stock = faust.App("stock", broker="kafka://127.0.0.1:9")
    assert type(app) is fast_faust.StockApp
    assert type(app.transport).__bases__ == (faust_aiokafka.Transport,)
    assert type(app.transport).Conductor is faust_aiokafka.Transport.Conductor
    # Its one change: a commit waits for the producer buffer ahead of it, as the fast path's.
    assert type(app.consumer) is fast_faust.CommitConsumer
    assert type(app.consumer).__bases__ == (faust_aiokafka.Consumer,)
    own = [name for name, value in vars(fast_faust.CommitConsumer).items() if callable(value)]
    assert own == ["_commit"]
    assert issubclass(fast_faust.FastConsumer, fast_faust.CommitConsumer)
    assert app.conf.Stream is faust.Stream
    assert type(app.monitor) is Monitor
    for option in ("broker_max_poll_records", "stream_buffer_maxsize"):
        assert getattr(app.conf, option) == getattr(stock.conf, option), option
    topics = service.topics.values()
    assert all(type(t) is faust.Topic for t in topics)
    assert "tune_gc_task" not in [task.__name__ for task in app._app_tasks]


class _StallingBuffer:
    """A producer buffer whose flush gives up after each send, as Faust's does once 0.1 s
    passes without one."""

    def __init__(self, queued: int) -> None:
        self.queued = queued

    @property
    def size(self) -> int:
        return self.queued

    async def flush_atmost(self, most: int) -> int:
        sent = min(1, most, self.queued)
        self.queued -= sent
        return sent


class _Producer:
    def __init__(self, queued: int) -> None:
        self.buffer = _StallingBuffer(queued)

    async def flush(self) -> None:
        pass


@pytest.mark.parametrize("consumer_class", [fast_faust.CommitConsumer, fast_faust.FastConsumer])
def test_a_commit_on_either_path_waits_for_the_producer_buffer_ahead_of_it(
    consumer_class: type[fast_faust.CommitConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    async def upstream_commit(self: faust_aiokafka.Consumer, offsets: object) -> bool:
        seen.append(producer.buffer.size)
        return True

    monkeypatch.setattr(faust_aiokafka.Consumer, "_commit", upstream_commit)
    producer = _Producer(queued=5)
    consumer = object.__new__(consumer_class)  # no broker: only _commit is exercised
    consumer.app = cast(Any, SimpleNamespace(producer=producer))
    assert asyncio.run(consumer._commit({})) is True
    assert seen == [0]  # upstream's flush alone would have left 4 behind
