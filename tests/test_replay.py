"""``replay``: real logs, bad inputs beside good ones, duplicates and disorder across files."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from loopwatch.replay import replay
from loopwatch.testing import records as r
from loopwatch.testing.data import INVICTUS_FILES, INVICTUS_RECORDS, invictus_dir
from loopwatch.topology import noise_records, resolve_topology

BUCKET = "uploads"
THUMB = r.function_arn("thumb")


def test_real_invictus_logs_read_fully_with_no_loop() -> None:
    report = replay([str(invictus_dir(__file__))])
    c = report.counts
    assert (c.read, c.malformed, c.duplicates) == (INVICTUS_RECORDS, 0, 0)
    assert c.read == c.used + c.skipped + c.duplicates + c.malformed
    assert c.used >= 1  # CreateFunction records teach identities
    assert report.loops == [] and report.runaway == [] and report.errors == []
    assert report.sources == INVICTUS_FILES


def test_records_are_merged_by_event_time_across_unordered_overlapping_files(
    tmp_path: Path,
) -> None:
    function, notification, *writes = r.s3_self_loop(writes=4)
    # Newest first, split so that every file holds records of the others' time range, and the
    # second file repeats two records of the first (CloudTrail delivers at least once).
    r.write_log(tmp_path / "a.json.gz", [writes[3], writes[1], notification])
    r.write_log(tmp_path / "b.json", [writes[2], writes[0], writes[1], notification, function])
    report = replay([str(tmp_path)])
    assert report.counts.duplicates == 2 and report.counts.read == 8
    (loop,) = report.loops
    assert loop.status == "active"
    assert loop.detected_at == orjson_time(writes[2])  # the third write, whatever the file order
    assert set(loop.cycle) == {f"arn:aws:s3:::{BUCKET}", THUMB}


def orjson_time(record: dict[str, object]) -> float:
    from loopwatch.events.times import parse_time

    return parse_time(str(record["eventTime"]))


def test_bad_inputs_are_reported_and_valid_neighbours_all_counted(tmp_path: Path) -> None:
    # Valid neighbours: three files of everyday management traffic.
    background = noise_records(resolve_topology("s3-self-loop"), 1_791_208_800, 1_791_209_400, 300)
    good_records = len(background)
    for i in range(3):
        r.write_log(tmp_path / f"good-{i}.json", [t.record for t in background[i::3]])
    loop = r.s3_self_loop(writes=3)
    whole = gzip.compress(orjson.dumps({"Records": loop}))
    (tmp_path / "truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "not-json.json").write_bytes(b"<html>this is not a log</html>")
    (tmp_path / "no-records.json").write_bytes(b'{"Events": []}')
    missing_time = dict(loop[1])
    del missing_time["eventTime"]
    lines = [orjson.dumps(x) for x in loop] + [b"{not json", orjson.dumps(missing_time), b"[1, 2]"]
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    report = replay([str(tmp_path)])

    reasons = {Path(e.source).name: e.reason for e in report.errors}
    assert set(reasons) == {"truncated.json.gz", "not-json.json", "no-records.json", "events.jsonl"}
    assert "Records" in reasons["no-records.json"]
    c = report.counts
    assert c.malformed == 3  # the non-JSON line, the record without eventTime, the array
    assert c.read == good_records + len(loop) + 3
    assert c.read == c.used + c.skipped + c.duplicates + c.malformed
    # The valid loop records in the JSON Lines file were not lost to their bad neighbours.
    assert [loop.status for loop in report.loops] == ["active"]


def test_jsonl_with_invocation_events_and_eventbridge_envelopes(tmp_path: Path) -> None:
    setup, *writes = r.s3_self_loop(writes=3)
    lines = [r.eventbridge(setup)] + [r.eventbridge(w) for w in writes]
    lines += [
        r.invocation(THUMB, time=r.at(9.5 + i), source=f"arn:aws:s3:::{BUCKET}") for i in range(3)
    ]
    path = tmp_path / "stream.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(x) for x in lines)))
    report = replay([str(path)])
    assert report.counts.used == 8 and report.counts.malformed == 0
    (loop,) = report.loops
    assert loop.status == "active" and loop.gain == 1.0
