"""``ship --sqs``: a trail announced on a queue (S3, SNS and EventBridge notifications, in the
AWS emulator) reaches the real broker, record for record, and the queue ends empty."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loopwatch.events.sources import Chunk
from loopwatch.net import free_port
from loopwatch.service.ship_sqs import ship_sqs
from loopwatch.settings import Settings
from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer, moto_server
from loopwatch.testing.broker import Broker
from loopwatch.testing.trail import ROUTES, notified_trail, records_of, trail_files
from loopwatch.topology import resolve_topology, write_simulation


@pytest.fixture
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def settings_for(broker: Broker) -> Settings:
    prefix = f"sqs-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_broker=broker.bootstrap, topic_prefix=prefix, partitions=2)
    broker.create_topics(
        {settings.topic(t): 2 for t in ("cloudtrail", "invocations", "deadletter")}
    )
    return settings


def run(coroutine: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def event_ids(broker: Broker, topic: str, messages: int) -> list[str]:
    received = broker.consume(topic, messages, timeout=15)
    ids: list[str] = []
    for message in received:
        for record in orjson.loads(message.value)["Records"]:
            detail = record.get("detail", record)  # an EventBridge envelope, shipped as it is
            ids.append(detail["eventID"])
    return ids


def test_a_notified_trail_reaches_kafka_record_for_record_and_the_queue_ends_empty(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    trail = notified_trail(aws)
    simulation = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim", noise=200)
    files = trail_files(simulation.distinct_records(), tmp_path / "trail", count=20)
    assert len(files) == 20
    expected: list[str] = []
    for index, (path, key) in enumerate(files):
        if index == 7:  # S3 URL-encodes keys in its notifications: a space and a plus
            key = key.replace("/CloudTrail/", "/Cloud Trail+copy/")
        trail.upload(path, key, ROUTES[index % 3])
        expected += [rec["eventID"] for rec in records_of(path)]
    digest = r.write_log(tmp_path / "digest.json.gz", [])
    digest_key = f"AWSLogs/{r.ACCOUNT}/CloudTrail-Digest/us-east-1/2026/10/05/digest.json.gz"
    trail.upload(digest, digest_key, "s3")
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"not gzip at all" * 20)
    broken_key = files[3][1].replace("_0000000000000003", "_broken")
    broken_url = trail.upload(broken, broken_key, "sns")
    sqs = aws.client("sqs")
    envelopes = [r.eventbridge(rec) for rec in r.s3_self_loop(writes=3, bucket="other")]
    for envelope in envelopes:  # CloudTrail records put on the queue by an EventBridge rule
        sqs.send_message(QueueUrl=trail.queue_url, MessageBody=orjson.dumps(envelope).decode())
    garbage = sqs.send_message(QueueUrl=trail.queue_url, MessageBody="<not json>")
    expected += [e["detail"]["eventID"] for e in envelopes]
    # 20 files, a digest, a broken file, the envelopes, the garbage, two test events
    assert trail.messages_left() == 20 + 1 + 1 + len(envelopes) + 1 + 2

    stats = run(ship_sqs(trail.queue_url, settings, sqs_client=sqs, s3_client=aws.s3(), wait=1))

    assert stats.failure == ""
    assert stats.queue_messages == 25 + len(envelopes)
    shipped = event_ids(kafka_broker, settings.topic("cloudtrail"), stats.messages)
    assert sorted(shipped) == sorted(expected)  # every record, once per time it was in a file
    assert stats.records == len(expected)
    letters = kafka_broker.consume(settings.topic("deadletter"), 2, timeout=15)
    by_location = {orjson.loads(m.value)["s3"]: orjson.loads(m.value) for m in letters}
    assert set(by_location) == {broken_url, None}
    assert "gzip" in by_location[broken_url]["reason"]
    assert by_location[broken_url]["queue_url"] == trail.queue_url
    assert by_location[None]["message_id"] == garbage["MessageId"]
    assert by_location[None]["body"] == "<not json>"
    assert by_location[None]["reason"].startswith("not JSON")
    assert stats.dead_lettered == 2
    assert trail.messages_left() == 0
    assert sqs.receive_message(QueueUrl=trail.queue_url, WaitTimeSeconds=1).get("Messages") is None


def test_a_message_is_not_deleted_when_kafka_is_unreachable(
    aws: MotoServer, tmp_path: Path
) -> None:
    closed = Settings(kafka_broker=f"127.0.0.1:{free_port()}", topic_prefix="nowhere")
    trail = notified_trail(aws)
    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=trail.queue_url)  # the test events
    [(path, key)] = trail_files(r.s3_self_loop(), tmp_path, count=1)
    trail.upload(path, key, "s3")

    stats = run(ship_sqs(trail.queue_url, closed, sqs_client=sqs, s3_client=aws.s3(), wait=1))

    assert "cannot reach Kafka" in stats.failure
    assert stats.queue_messages == 0
    # Given back at once, not left to time out: visible again, and received twice by now.
    again = sqs.receive_message(
        QueueUrl=trail.queue_url,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )["Messages"]
    assert len(again) == 1
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert key.split("/")[-1] in again[0]["Body"]


def test_a_slow_message_stays_hidden_while_in_hand(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    trail = notified_trail(aws, visibility_timeout=2)
    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=trail.queue_url)
    [(path, key)] = trail_files(r.s3_self_loop(), tmp_path, count=1)
    trail.upload(path, key, "eventbridge")
    seen_meanwhile: list[object] = []

    def slow(chunk: Chunk) -> None:
        # Another shipper polls for 3 s, past the queue's 2 s visibility timeout: without the
        # heartbeat, the message in hand would be handed to it.
        answer = sqs.receive_message(QueueUrl=trail.queue_url, WaitTimeSeconds=3)
        seen_meanwhile.extend(answer.get("Messages", []))

    stats = run(
        ship_sqs(
            trail.queue_url, settings, sqs_client=sqs, s3_client=aws.s3(), wait=1, on_chunk=slow
        )
    )

    assert seen_meanwhile == []
    assert stats.extended >= 2 and stats.queue_messages == 1
    shipped = event_ids(kafka_broker, settings.topic("cloudtrail"), stats.messages)
    assert sorted(shipped) == sorted(rec["eventID"] for rec in records_of(path))
    assert trail.messages_left() == 0


def test_stopping_finishes_the_message_in_hand_and_gives_back_the_rest(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    trail = notified_trail(aws)
    sqs = aws.client("sqs")
    sqs.purge_queue(QueueUrl=trail.queue_url)
    for path, key in trail_files(r.s3_self_loop(writes=6), tmp_path, count=3):
        trail.upload(path, key, "s3")
    chunks: list[Chunk] = []

    stats = run(
        ship_sqs(
            trail.queue_url,
            settings,
            follow=True,
            sqs_client=sqs,
            s3_client=aws.s3(),
            wait=1,
            on_chunk=chunks.append,
            should_stop=lambda: bool(chunks),
        )
    )

    assert len(chunks) == 1 and stats.queue_messages == 1
    answer = sqs.get_queue_attributes(
        QueueUrl=trail.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert answer["Attributes"]["ApproximateNumberOfMessages"] == "2"  # visible again at once


def test_a_queue_that_does_not_exist_cannot_be_opened(aws: MotoServer) -> None:
    from loopwatch.events.sources import SourceUnavailable

    missing = f"{aws.endpoint_url}/123456789012/missing"
    settings = Settings(kafka_broker="127.0.0.1:1")
    with pytest.raises(SourceUnavailable, match="missing"):
        run(ship_sqs(missing, settings, sqs_client=aws.client("sqs"), s3_client=aws.s3()))


def test_a_worker_fed_through_the_queue_finds_what_replay_finds(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    from loopwatch.replay import replay
    from loopwatch.report import loop_json
    from loopwatch.testing.worker import read_until, running_worker, worker_settings

    settings = worker_settings(kafka_broker, tmp_path / "data")
    trail = notified_trail(aws)
    simulation = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim", noise=100)
    files = trail_files(simulation.distinct_records(), tmp_path / "trail", count=20)
    for index, (path, key) in enumerate(files):
        trail.upload(path, key, ROUTES[index % 3])
    offline = replay([str(tmp_path / "trail")])
    [expected] = offline.loops
    assert expected.status == "active"

    with running_worker(settings, kafka_broker):
        sqs, s3 = aws.client("sqs"), aws.s3()
        stats = run(ship_sqs(trail.queue_url, settings, sqs_client=sqs, s3_client=s3, wait=1))
        assert stats.records == sum(len(records_of(p)) for p, _ in files)

        def active(findings: list[Any]) -> bool:
            return any(f.get("status") == "active" for f in findings)

        findings = read_until(kafka_broker, settings.topic("findings"), active, timeout=30)
    live = next(f for f in findings if f.get("status") == "active")
    assert set(live["cycle"]) == set(expected.cycle)
    assert live["incident"] == expected.incident
    assert live["detected_at"] == loop_json(expected)["detected_at"]
