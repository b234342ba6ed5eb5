"""``ship --follow``: a durable position for ``s3://`` prefixes (only what is new is shipped,
across runs and processes), and files that do not read yet are retried until they do."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loopwatch.events.sources import Chunk
from loopwatch.events.times import parse_time
from loopwatch.service.s3_position import LOOKBACK, _start_after
from loopwatch.service.ship import ship
from loopwatch.settings import Settings
from loopwatch.testing import records as r
from loopwatch.testing.aws import DUMMY, REGION, MotoServer, moto_server
from loopwatch.testing.broker import Broker
from loopwatch.testing.trail import records_of, trail_files, trail_key
from loopwatch.topology import resolve_topology, write_simulation

BUCKET = "trail"


@pytest.fixture
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        server.s3().create_bucket(Bucket=BUCKET)
        yield server


def settings_for(broker: Broker) -> Settings:
    return Settings(
        kafka_broker=broker.bootstrap, topic_prefix=f"follow-{uuid.uuid4().hex[:8]}", partitions=1
    )


def upload(aws: MotoServer, files: list[tuple[Path, str]]) -> None:
    for path, key in files:
        aws.s3().put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def once(
    settings: Settings, aws: MotoServer, state: Path, topic: str, url: str = f"s3://{BUCKET}/"
) -> tuple[int, int, int]:
    """One run with the state file: (files, records, errors)."""
    stats = asyncio.run(
        asyncio.wait_for(
            ship([url], settings, topic=topic, s3_client=aws.s3(), state_path=state), 60
        )
    )
    return stats.files, stats.records, stats.error_count


def ids_on(broker: Broker, topic: str, messages: int) -> set[str]:
    received = broker.consume(topic, messages, timeout=15) if messages else []
    return {rec["eventID"] for m in received for rec in orjson.loads(m.value)["Records"]}


def test_each_run_ships_only_what_is_new_and_a_fresh_process_resumes(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    simulation = write_simulation(resolve_topology("s3-self-loop"), tmp_path / "sim")
    files = trail_files(simulation.distinct_records(), tmp_path / "trail", count=5)
    state = tmp_path / "state" / "ship-position.json"
    upload(aws, files[:3])
    first = once(settings, aws, state, "first")
    upload(aws, files[3:])

    second = once(settings, aws, state, "second")

    assert first[0] == 3 and second[0] == 2
    assert second[1] == sum(len(records_of(p)) for p, _ in files[3:])
    shipped = ids_on(kafka_broker, "second", 1)
    assert shipped == {rec["eventID"] for p, _ in files[3:] for rec in records_of(p)}
    saved = orjson.loads(state.read_bytes())
    [(stream, position)] = saved["streams"].items()
    assert stream == f"s3://{BUCKET}/AWSLogs/{r.ACCOUNT}/CloudTrail/us-east-1/"
    assert position["after"] == files[-1][1] and position["retry"] == {}

    env = dict(
        os.environ,
        LOOPWATCH_KAFKA_BROKER=settings.kafka_broker or "",
        LOOPWATCH_TOPIC_PREFIX=settings.topic_prefix,
        AWS_ENDPOINT_URL=aws.endpoint_url,
        AWS_ACCESS_KEY_ID=DUMMY,
        AWS_SECRET_ACCESS_KEY=DUMMY,
        AWS_DEFAULT_REGION=REGION,
    )
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", "ship", "--state", str(state), f"s3://{BUCKET}/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("shipped 0 files, 0 records"), done.stdout
    assert f"position in {state}" in done.stderr


def test_a_new_account_sorting_before_the_position_is_still_shipped(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    records = r.s3_self_loop(writes=4)
    later = trail_files(records, tmp_path / "b", count=2, account="999988887777")
    earlier = trail_files(records, tmp_path / "a", count=1, account="111100002222")
    state = tmp_path / "state.json"
    upload(aws, later)
    assert once(settings, aws, state, "t1")[0] == 2
    upload(aws, earlier)  # sorts before everything shipped, in a folder of its own

    assert once(settings, aws, state, "t2")[0] == 1
    assert once(settings, aws, state, "t3")[0] == 0


def test_a_file_landing_late_within_its_minute_is_shipped(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    when = parse_time(r.TIME)
    late_key = trail_key(r.ACCOUNT, when, "AAAAAAAAAAAAAAAA")  # sorts first, lands last
    first_key = trail_key(r.ACCOUNT, when, "zzzzzzzzzzzzzzzz")
    path = r.write_log(tmp_path / "a.json.gz", r.s3_self_loop(writes=2))
    state = tmp_path / "state.json"
    upload(aws, [(path, first_key)])
    assert once(settings, aws, state, "t1")[0] == 1
    upload(aws, [(path, late_key)])

    assert once(settings, aws, state, "t2")[0] == 1
    assert once(settings, aws, state, "t3")[0] == 0  # and shipped once, not on every run


def test_an_unreadable_file_is_retried_with_its_error_until_it_reads(
    aws: MotoServer, kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    [(path, key)] = trail_files(r.s3_self_loop(writes=3), tmp_path, count=1)
    whole = path.read_bytes()
    state = tmp_path / "state.json"
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=whole[: len(whole) // 2])  # being written

    assert once(settings, aws, state, "t1") == (0, 0, 1)
    assert once(settings, aws, state, "t2") == (0, 0, 1)  # tried again, said again
    assert key in orjson.loads(state.read_bytes())["streams"].popitem()[1]["retry"]
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=whole)

    assert once(settings, aws, state, "t3") == (1, len(records_of(path)), 0)
    assert once(settings, aws, state, "t4") == (0, 0, 0)


def test_a_local_file_being_written_is_read_again_on_the_next_poll(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    records = r.s3_self_loop(writes=3)
    whole = gzip.compress(orjson.dumps({"Records": records}))
    log = tmp_path / "logs" / "a.json.gz"
    log.parent.mkdir()
    log.write_bytes(whole[: len(whole) // 2])
    seen: list[Chunk] = []

    def landed(chunk: Chunk) -> None:
        seen.append(chunk)
        log.write_bytes(whole)  # the writer finishes between two polls

    stats = asyncio.run(
        asyncio.wait_for(
            ship(
                [str(log.parent)],
                settings,
                follow=True,
                poll=0.05,
                on_chunk=landed,
                should_stop=lambda: any(c.objects for c in seen),
            ),
            30,
        )
    )

    assert [bool(c.objects) for c in seen] == [False, True]
    assert "truncated gzip" in seen[0].errors[0].reason
    assert stats.records == len(records) and stats.error_count == 1


def test_listing_starts_a_lookback_before_the_position_in_cloudtrail_names() -> None:
    prefix = "AWSLogs/111122223333/CloudTrail/us-east-1/"
    after = prefix + "2026/10/05/111122223333_CloudTrail_us-east-1_20261005T0005Z_abc.json.gz"
    start = _start_after(after, prefix)
    back = parse_time("2026-10-05T00:05:00Z") - LOOKBACK
    assert start == prefix + "2026/10/04/111122223333_CloudTrail_us-east-1_20261004T2350Z"
    assert back == parse_time("2026-10-04T23:50:00Z")
    assert start < after
    assert _start_after("logs/b.jsonl", "logs/") == "logs/b.jsonl"  # no name time: no lookback
