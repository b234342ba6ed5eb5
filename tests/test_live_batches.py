"""The fast path's agent takes the events queued now as one batch: each is acked (so its
offset may be committed) only once the whole batch is processed and its output sent.

The kill test (a successor ends exactly where a worker never stopped ends) is in
test_service_durability.py; this one holds a batch open to look at its acks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from loopwatch.service import fast_faust, record_crc
from loopwatch.testing.broker import Broker
from loopwatch.testing.records import at, create_function
from loopwatch.testing.worker import running_worker, worker_settings

ACCOUNT = "210000000031"


def test_a_batch_is_acked_only_once_it_is_handled_then_committed(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data", partitions=1)
    topic = settings.topic("cloudtrail")
    key = ACCOUNT.encode()
    messages = [
        (key, orjson.dumps(create_function(f"fn-{i}", "worker", time=at(i), account=ACCOUNT)))
        for i in range(500)
    ]
    held: list[Any] = []  # the events of the batch held open
    handled, release = threading.Event(), threading.Event()

    with running_worker(settings, kafka_broker) as worker:
        service = worker.service
        assert isinstance(service.app.conf.Stream, type)
        assert issubclass(service.app.conf.Stream, fast_faust.EventBatchStream)
        handle = service._handle

        async def hold_one_batch(name: str, events: Sequence[Any]) -> None:
            await handle(name, events)
            records = list(fast_faust.records_of(events))
            if len(records) > 1 and not handled.is_set():
                held.extend(events)
                handled.set()
                # Blocks the worker's loop: processed and sent, not yet back for the next batch.
                release.wait(timeout=30)

        service._handle = hold_one_batch  # type: ignore[method-assign]  # the agent looks it up per batch
        kafka_broker.produce(topic, messages)
        assert handled.wait(timeout=30), "no batch of more than one record"
        try:
            acked = [event.message.acked for event in held]
        finally:
            release.set()
        assert acked == [False] * len(held)
        # One partition's records come as chunks, each acked with the batch.
        assert any(type(event.message) is fast_faust.RecordChunk for event in held)

        deadline = time.monotonic() + 30
        while kafka_broker.committed(topic, settings.app_id).get(0, 0) < len(messages):
            assert time.monotonic() < deadline, "the worker did not commit every message"
        assert all(event.message.acked for event in held)
        # The worker's consumer checks its fetches' CRCs in record_crc, not in aiokafka.
        consumer = service.app.consumer._thread._consumer  # type: ignore[attr-defined]
        if record_crc.AVAILABLE:
            assert consumer._client.send.__name__ == "send_checked"
            assert consumer._fetcher._check_crcs is False
        processor = service.processor
        assert processor.accounts[ACCOUNT].state.offsets[("cloudtrail", 0)] == len(messages) - 1
