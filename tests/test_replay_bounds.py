"""Replay beside hostile files: a gzip bomb, a FIFO, a bad byte — each reported, none stopping
the replay or costing the valid records around it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from loopwatch.replay import replay
from loopwatch.testing import records as r
from loopwatch.testing.poison import gzip_bomb

GIB = 1024**3


def test_a_gzip_bomb_beside_a_loop_costs_under_a_gib_and_the_loop_is_found(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    r.write_log(logs / "loop.json.gz", r.s3_self_loop(writes=4))
    (logs / "bomb.json.gz").write_bytes(gzip_bomb(3 * GIB))
    # The child's own peak: VmHWM belongs to the memory the exec'd program made; ru_maxrss would
    # carry over the parent's peak (pytest's, after hundreds of tests) across exec.
    script = (
        "import orjson\n"
        "from loopwatch.replay import replay\n"
        "from loopwatch.testing.memory import peak_rss_kib\n"
        f"report = replay([{str(logs)!r}])\n"
        "peak = peak_rss_kib() * 1024\n"
        "print(orjson.dumps({'peak': peak, 'report': report.to_json()}).decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=120, check=True
    )
    out = orjson.loads(done.stdout)
    assert out["peak"] < GIB, f"peak RSS {out['peak']:,} bytes"
    (loop,) = out["report"]["loops"]
    assert loop["status"] == "active"
    (error,) = out["report"]["errors"]
    assert error["source"].endswith("bomb.json.gz")
    assert "decompresses to more than 268,435,456 bytes" in error["reason"]


def test_a_fifo_in_a_log_folder_is_named_and_skipped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    r.write_log(logs / "loop.json", r.s3_self_loop(writes=4))
    os.mkfifo(logs / "pipe.json")  # no writer: reading it would block for ever
    report = replay([str(logs)])
    assert [loop.status for loop in report.loops] == ["active"]
    (error,) = report.errors
    assert error.source.endswith("pipe.json") and "not a regular file (a FIFO)" in error.reason


def test_one_bad_byte_costs_only_its_field_and_the_loop_is_still_found(tmp_path: Path) -> None:
    records = r.s3_self_loop(writes=4)
    body = orjson.dumps({"Records": records}).replace(b"incoming/2.jpg", b"incoming/\xff.jpg")
    (tmp_path / "log.json").write_bytes(body)
    report = replay([str(tmp_path)])
    assert report.counts.used == len(records) and report.counts.malformed == 0
    assert [loop.status for loop in report.loops] == ["active"]
    (error,) = report.errors
    assert error.reason == "1 bytes of invalid UTF-8 replaced"
