"""Envelopes nested any depth cost only their own record: in replay with any ``--jobs`` (a
rejected record's sample is pickled back from the workers) and in the worker's decode path
(the sample goes into a dead letter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loopwatch.config import DetectionConfig
from loopwatch.events.decode import decode
from loopwatch.events.samples import CUT, SAMPLE_DEPTH, shallow
from loopwatch.events.times import parse_time
from loopwatch.service.processor import Processor
from loopwatch.service.topics import CLOUDTRAIL, DEADLETTER, FINDINGS
from loopwatch.testing import records as r
from loopwatch.testing.changelog import ChangelogTable

WALL = parse_time("2026-10-05T15:00:00Z")


def nested(record: dict[str, object], depth: int) -> bytes:
    """``record`` inside ``depth`` EventBridge envelopes, each the ``detail`` of the next
    (written as bytes: orjson itself will not encode past 255 levels)."""
    head = orjson.dumps(r.eventbridge({}))[: -len(b"{}}")]  # '{…,"detail":'
    assert head.endswith(b'"detail":')
    return head * depth + orjson.dumps(record) + b"}" * depth


def depth_of(value: object) -> int:
    level, stack = 0, [(value, 1)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict | list):
            level = max(level, at)
            children = node.values() if isinstance(node, dict) else node
            stack += [(child, at + 1) for child in children]
    return level


@pytest.mark.parametrize("jobs", [1, 2])
def test_replay_of_envelopes_nested_600_and_1030_deep_beside_a_real_loop(
    tmp_path: Path, jobs: int
) -> None:
    loop = r.s3_self_loop(writes=6)
    trail = tmp_path / "trail"
    r.write_log(trail / "a-loop.json", loop)
    extra = r.s3_self_loop(writes=1)[2]  # one good record in the same files as the deep ones
    (trail / "b-deep.jsonl").write_bytes(nested(extra, 600) + b"\n")
    (trail / "c-deeper.jsonl").write_bytes(
        orjson.dumps(extra) + b"\n" + nested(extra, 1030) + b"\n"
    )
    deep_doc = b'{"Records": [' + orjson.dumps(loop[3]) + b", " + nested(extra, 1030) + b"]}"
    (trail / "d-deeper-document.json").write_bytes(deep_doc)
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", "replay", "--format", "json", f"--jobs={jobs}", trail],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    report = orjson.loads(done.stdout)  # exactly one JSON document
    assert done.returncode == 1  # the loop, and only the loop
    (found,) = report["loops"]
    assert found["status"] == "active" and found["confirmed"] is True
    counts = report["records"]
    assert counts["malformed"] == 3  # the three deep records, nothing else
    # The good record beside the deep one, and the loop's record again in the deep document.
    assert counts["used"] == len(loop) + 1 and counts["duplicates"] == 1
    reasons = " | ".join(e["reason"] for e in report["errors"])
    assert "an envelope inside an envelope" in reasons and "too deep" in reasons


def test_the_worker_dead_letters_deep_envelopes_and_applies_the_rest() -> None:
    loop = r.s3_self_loop(writes=6)
    for depth in (600, 995, 1020):
        for body in (
            b"\n".join([*(orjson.dumps(x) for x in loop), nested(loop[2], depth)]),
            b'{"Records": ['
            + b",".join([*(orjson.dumps(x) for x in loop), nested(loop[2], depth)])
            + b"]}",
        ):
            p = Processor(
                DetectionConfig(), snapshot_interval=1.0, restore=ChangelogTable().entries
            )
            out = p.process(CLOUDTRAIL, 0, 0, r.ACCOUNT.encode(), body, now=WALL + 100.0)
            out.messages += p.tick(WALL + 100.3).messages
            dead = [orjson.loads(m.value) for m in out.messages if m.topic == DEADLETTER]
            assert [d["reason"] for d in dead] == ["an envelope inside an envelope"], depth
            assert depth_of(dead[0]["record"]) <= SAMPLE_DEPTH
            assert dict(p.metrics.deadletter) == {"record": 1}
            findings = [orjson.loads(m.value) for m in out.messages if m.topic == FINDINGS]
            assert "escalated" in [f["change"] for f in findings], depth


def test_a_record_too_deep_to_parse_costs_only_itself_in_a_document() -> None:
    loop = r.s3_self_loop(writes=3)
    body = (
        b'{"Records": ['
        + b", ".join([orjson.dumps(loop[0]), nested(loop[2], 1030), orjson.dumps(loop[1])])
        + b'], "x": "]"}'
    )
    for selective in (False, True):
        for shape in ("document", "any"):
            decoded = decode(body, shape, selective=selective)  # type: ignore[arg-type]
            assert list(decoded.objects) == [loop[0], loop[1]]
            assert decoded.malformed == 1 and not decoded.unreadable
            assert decoded.problems == [
                "1 record is nested too deep to read (over 1,024 levels): skipped"
            ]
    truncated = decode(body[:-40], "document")
    assert truncated.unreadable and not truncated.objects  # not a document: as before


def test_shallow_keeps_shallow_values_and_cuts_deep_ones_without_recursing() -> None:
    record = r.s3_self_loop(writes=1)[2]
    assert shallow(record) is record
    deep: object = record
    for _ in range(5000):  # deeper than the interpreter's recursion limit
        deep = {"detail": deep, "list": [1, {"a": [2]}]}
    cut = shallow(deep)
    assert depth_of(cut) == SAMPLE_DEPTH and CUT in orjson.dumps(cut).decode()
    top = cut
    for _ in range(SAMPLE_DEPTH - 1):
        assert isinstance(top, dict) and top["list"][0] == 1
        top = top["detail"]
    assert isinstance(top, dict) and top["detail"] == CUT  # the 32nd level holds the note
