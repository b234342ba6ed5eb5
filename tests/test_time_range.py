"""``--since`` / ``--until``: event times bound in the one intake (replay) and as ship ships;
CloudTrail files named more than an hour outside are not even read."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.events.intake import Intake
from loopwatch.events.timerange import NAME_SLACK, TimeRange, name_time
from loopwatch.events.times import parse_time
from loopwatch.replay import replay
from loopwatch.service.ship import ship
from loopwatch.settings import Settings
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker
from loopwatch.testing.trail import trail_key

START = parse_time(r.TIME)  # the self-loop's writes are at START + 10, 11, 12, 13 s


def test_the_range_parses_iso_times_with_offsets_and_refuses_the_rest() -> None:
    assert TimeRange.parse(None, None) is None
    span = TimeRange.parse("2026-10-05T16:00:00+02:00", "2026-10-05T14:30:00Z")
    assert span == TimeRange(parse_time("2026-10-05T14:00:00Z"), parse_time("2026-10-05T14:30:00Z"))
    with pytest.raises(ValueError, match="--since"):
        TimeRange.parse("yesterday", None)
    with pytest.raises(ValueError, match="--until"):
        TimeRange.parse(None, "2026-10-05T14:00:00")  # no offset: naive
    with pytest.raises(ValueError, match="after --until"):
        TimeRange.parse("2026-10-05T15:00:00Z", "2026-10-05T14:00:00Z")


def test_file_names_are_judged_with_an_hour_of_slack() -> None:
    span = TimeRange(START, START + 600)
    key = trail_key(r.ACCOUNT, START, "x" * 16)
    assert name_time(key) == START - START % 60
    assert span.may_hold(trail_key(r.ACCOUNT, START - NAME_SLACK + 60, "x" * 16))
    assert not span.may_hold(trail_key(r.ACCOUNT, START - NAME_SLACK - 120, "x" * 16))
    assert not span.may_hold(trail_key(r.ACCOUNT, START + 600 + NAME_SLACK + 60, "x" * 16))
    assert span.may_hold("logs/no-time-in-this-name.jsonl")
    assert name_time("x_CloudTrail_us-east-1_20261399T2561Z_y") is None


def test_the_intake_counts_records_outside_the_range_as_skipped() -> None:
    records: list[object] = list(r.s3_self_loop(writes=4))
    inside = Intake(time_range=TimeRange(START + 11, START + 12)).take(records, START)
    everything = Intake().take(records, START)
    assert everything.counts.used == 6
    assert inside.counts.used == 2 and inside.counts.skipped == 4
    assert {f.time for f in inside.facts} == {START + 11, START + 12}


def test_replay_bounds_the_event_times_it_replays(tmp_path: Path) -> None:
    log = r.write_log(tmp_path / "loop.json.gz", r.s3_self_loop(writes=4))
    far = r.write_log(
        tmp_path / "later" / trail_key(r.ACCOUNT, START + 3 * 3600, "o" * 16),
        [r.s3_self_loop(writes=1)[-1]],
    )
    assert far.exists()
    whole = replay([str(tmp_path)])
    assert [loop.status for loop in whole.loops] == ["active"]

    cut = replay([str(tmp_path)], time_range=TimeRange(None, START + 11))

    # Two writes are not three traversals; the file named hours later is not even read.
    assert [loop.status for loop in cut.loops] == ["latent"]
    assert cut.counts.skipped == whole.counts.skipped + 2
    assert cut.counts.read == whole.counts.read - 1
    assert cut.sources == whole.sources - 1
    assert log.exists()
    # Parsed in worker processes, the range is applied exactly as in one process.
    in_workers = replay([str(tmp_path)], time_range=TimeRange(None, START + 11), jobs=2)
    assert in_workers.to_json() == cut.to_json() and in_workers.sources == cut.sources


def test_replay_command_takes_since_and_until(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r.write_log(tmp_path / "loop.json.gz", r.s3_self_loop(writes=4))
    assert main(["replay", "--format", "json", str(tmp_path)]) == 1
    capsys.readouterr()
    code = main(["replay", "--format", "json", "--until", "2026-10-05T14:00:11Z", str(tmp_path)])
    report = orjson.loads(capsys.readouterr().out)
    assert code == 0 and report["loops"][0]["status"] == "latent"
    assert report["records"]["skipped"] == 2

    assert main(["replay", "--since", "last tuesday", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("loopwatch replay: --since:") and err.count("\n") == 1


def test_ship_ships_only_the_records_inside_the_range(kafka_broker: Broker, tmp_path: Path) -> None:
    settings = Settings(
        kafka_broker=kafka_broker.bootstrap, topic_prefix=f"range-{uuid.uuid4().hex[:8]}"
    )
    kafka_broker.create_topics({settings.topic("cloudtrail"): 1})
    records = r.s3_self_loop(writes=4)
    r.write_log(tmp_path / "loop.json.gz", records)
    r.write_log(tmp_path / trail_key(r.ACCOUNT, START + 5 * 3600, "n" * 16), records)

    stats = asyncio.run(
        ship([str(tmp_path)], settings, time_range=TimeRange(START + 10, START + 12))
    )

    assert stats.records == 3 and stats.skipped == 3 and stats.files_outside == 1
    [message] = kafka_broker.consume(settings.topic("cloudtrail"), 1, timeout=10)
    times = [rec["eventTime"] for rec in orjson.loads(message.value)["Records"]]
    assert times == [r.at(10), r.at(11), r.at(12)]
