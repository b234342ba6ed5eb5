"""Stream throughput and latency: a raw aiokafka consumer against the loopwatch worker, one run.

    .venv/bin/python bench/stream_bench.py

Starts its own broker (the bundled Tansu; or $LOOPWATCH_TEST_KAFKA), puts real-shaped records
(the invictus CloudTrail records, read from ../shared/data/cloudtrail-invictus beside the
repository, replicated with fresh ids and times) on a topic, and measures
side by side, for batched messages (500 records each) and for one record per message:
  raw     an aiokafka consumer that reads the topic and orjson-parses every record
  worker  the loopwatch Faust worker (in this process) reading the same topic
as records/s from the first record to the last, and their ratio. Then end-to-end latency:
with the worker idle, the closing write of a fresh S3 self-loop is produced and the time until
its `escalated` finding arrives on the findings topic is taken, 30 times (p50 / p99).
Targets: batched >= 0.5x raw, single-record >= 0.15x raw, p99 <= 1 s on an idle machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loopwatch.service.ship import batches
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker, create_topics_async, running_broker
from loopwatch.testing.data import shared_data_dir
from loopwatch.testing.worker import running_worker, worker_settings

INVICTUS = shared_data_dir(__file__, "cloudtrail-invictus")
ACCOUNT = "123837392027"
# The raw consumer fetches as much per round trip and waits as long as the worker's consumer
# (consumer_max_fetch_size, fast_faust's fetch wait): the ratio compares processing, not fetch settings.
FETCH_BYTES = 16 * 1024 * 1024


def real_records(count: int) -> list[dict[str, Any]]:
    if not any(INVICTUS.glob("*.json")):
        sys.exit(
            f"stream_bench: no CloudTrail logs at {INVICTUS}: the bench replicates the real"
            " invictus-ir/aws_dataset records, which are kept beside the repository, not in it"
        )
    originals = [
        rec
        for p in sorted(INVICTUS.glob("*.json"))
        for rec in orjson.loads(p.read_bytes())["Records"]
    ]
    out = []
    for i in range(count):
        rec = dict(originals[i % len(originals)])
        rec["eventID"] = f"{i:08x}" + rec["eventID"][8:]
        out.append(rec)
    return out


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_request_size=2_000_000
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=ACCOUNT.encode()) for v in values]
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_rate(bootstrap: str, topic: str, expected: int, batched: bool) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH_BYTES,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, first = 0, None
        while seen < expected:
            for messages in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                first = first or time.perf_counter()
                for message in messages:
                    document = orjson.loads(message.value)
                    seen += len(document["Records"]) if batched else 1
        return expected / (time.perf_counter() - (first or 0.0))
    finally:
        await consumer.stop()


def worker_rate(broker: Broker, prefix: str, data_dir: Path, expected: int) -> float:
    settings = worker_settings(broker, data_dir, app_id=prefix, topic_prefix=prefix)
    with running_worker(settings, broker) as worker:
        metrics = worker.service.metrics
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = sum(metrics.records_in.values())
            if done and first is None:
                first = time.perf_counter()
            if done >= expected:
                return expected / (time.perf_counter() - (first or 0.0))
            time.sleep(0.002)
    raise TimeoutError(f"worker read {sum(metrics.records_in.values())} of {expected} records")


def loop_records(account: str, start: float) -> list[dict[str, Any]]:
    fn = r.function_arn("thumb", account=account)
    setup = r.record(
        "s3.amazonaws.com",
        "PutBucketNotification",
        {
            "bucketName": f"up-{account}",
            "NotificationConfiguration": {
                "CloudFunctionConfiguration": {"CloudFunction": fn, "Event": "s3:ObjectCreated:*"}
            },
        },
        time=r.at(start),
        account=account,
    )
    writes = [
        r.record(
            "s3.amazonaws.com",
            "PutObject",
            {"bucketName": f"up-{account}", "key": f"k{i}"},
            identity=r.assumed_role("thumb-role", "thumb", account=account),
            time=r.at(start + 1 + i),
            account=account,
        )
        for i in range(3)
    ]
    return [setup, *writes]


async def latencies(broker: Broker, settings: Any, probes: int) -> list[float]:
    findings = settings.topic("findings")
    source = settings.topic("cloudtrail")
    arrived: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        findings, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()

    async def listen() -> None:
        async for message in consumer:
            finding = orjson.loads(message.value)
            if finding.get("change") == "escalated":
                arrived.setdefault(finding["account"], time.perf_counter())

    listener = asyncio.create_task(listen())
    out = []
    try:
        for i in range(probes):
            account = f"{900000000000 + i}"
            *lead, closing = loop_records(account, start=i * 100.0)
            for rec in lead:
                await producer.send_and_wait(source, orjson.dumps(rec), key=account.encode())
            await asyncio.sleep(0.4)  # the worker has the loop open, latent, and is idle again
            await producer.send_and_wait(source, orjson.dumps(closing), key=account.encode())
            sent = time.perf_counter()
            deadline = sent + 10
            while account not in arrived and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if account not in arrived:
                raise TimeoutError(f"no escalated finding for probe {i} within 10 s")
            out.append(arrived[account] - sent)
    finally:
        listener.cancel()
        await producer.stop()
        await consumer.stop()
    return out


def main() -> None:
    started = time.perf_counter()
    with running_broker() as broker, tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        data_dir = Path(tmp)
        for mode, per_message, count in (("batched", 500, 100_000), ("single-record", 1, 60_000)):
            prefix = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
            topic = f"{prefix}.cloudtrail"
            records = real_records(count)
            values = batches(records) if per_message > 1 else [orjson.dumps(x) for x in records]
            asyncio.run(
                create_topics_async(
                    broker.bootstrap,
                    {
                        f"{prefix}.{n}": 2
                        for n in ("cloudtrail", "invocations", "findings", "deadletter")
                    },
                )
            )
            asyncio.run(produce(broker.bootstrap, topic, values))
            raw = asyncio.run(raw_rate(broker.bootstrap, topic, count, batched=per_message > 1))
            worker = worker_rate(broker, prefix, data_dir / prefix, count)
            target = 0.5 if per_message > 1 else 0.15
            print(f"{mode:>13}: {count:,} records in {len(values):,} messages")
            print(
                f"{mode:>13}: raw aiokafka+orjson {raw:,.0f} records/s, loopwatch worker {worker:,.0f} records/s, ratio {worker / raw:.2f} (target >= {target})"
            )
            sys.stdout.flush()
        prefix = f"bench-latency-{uuid.uuid4().hex[:6]}"
        settings = worker_settings(broker, data_dir / prefix, app_id=prefix, topic_prefix=prefix)
        with running_worker(settings, broker):
            samples = asyncio.run(latencies(broker, settings, probes=30))
        samples.sort()
        p50 = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        print(
            f"latency produce -> finding over {len(samples)} loops: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (target p99 <= 1000 ms)"
        )
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
