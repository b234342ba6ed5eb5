"""``replay --jobs N``: files decoded and parsed in worker processes, deduplicated and fed to the
one engine driver here — and a report identical to one process's, on every topology, with
duplicates across files and bad files among the good; the same with facts spilled to disk."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.events import pool
from loopwatch.events.sources import Chunk, plan
from loopwatch.replay import replay
from loopwatch.report import Report
from loopwatch.testing import records as r
from loopwatch.topology import builtin_topologies, load_topology, write_simulation


def seen(report: Report) -> dict[str, object]:
    return {"sources": report.sources, **report.to_json()}


def add_overlap_and_damage(folder: Path) -> None:
    """Copies of two trail files elsewhere in the tree (every record a duplicate, met in
    another file) and bad files of every kind among them."""
    trail = sorted(folder.rglob("*.json.gz"))
    for i, path in enumerate(trail[:: max(1, len(trail) // 2)][:2]):
        shutil.copy(path, folder / f"zz-overlap-{i}.json.gz")
    bad = folder / "m-bad"
    bad.mkdir()
    (bad / "not-json.json").write_bytes(b"\x00\xffgarbage")
    (bad / "records-not-a-list.json").write_bytes(b'{"Records": {"oops": 1}}')
    body = gzip.compress(b"\n".join(orjson.dumps(x) for x in r.s3_self_loop(writes=30)))
    (bad / "truncated.jsonl.gz").write_bytes(body[: len(body) // 2])
    no_time = r.record(r.SQS, "SendMessage", {"queueUrl": r.queue_url("q")})
    del no_time["eventTime"]
    future = r.record(
        r.S3, "PutObject", {"bucketName": "b", "key": "k"}, time="2999-01-01T00:00:00Z"
    )
    future["userIdentity"] = r.assumed_role("f-role", "f")
    (bad / "mixed.jsonl").write_bytes(
        b"\n".join([orjson.dumps(no_time), b"{oops", orjson.dumps(future), orjson.dumps(42)])
    )


@pytest.mark.parametrize("path", builtin_topologies(), ids=lambda p: p.stem)
def test_every_topology_reports_the_same_with_any_number_of_jobs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_simulation(load_topology(path), tmp_path, noise=200)
    add_overlap_and_damage(tmp_path)
    monkeypatch.setattr(pool, "BATCH_UNITS", 2)  # small trails too are split among workers

    one = replay([str(tmp_path)], jobs=1)
    two = replay([str(tmp_path)], jobs=2)
    three = replay([str(tmp_path)], jobs=3)
    # Facts through sorted runs on disk (three facts a run, runs merged past MAX_RUNS),
    # or a few to a run with two jobs: the same order into the engine, the same report.
    spilled = replay([str(tmp_path)], jobs=1, spill_after=3)
    spilled_two = replay([str(tmp_path)], jobs=2, spill_after=7)

    assert seen(two) == seen(one) and seen(three) == seen(one)
    assert seen(spilled) == seen(one) and seen(spilled_two) == seen(one)
    assert one.counts.duplicates > 0 and one.counts.malformed >= 4
    assert len(one.errors) >= 5  # each bad file, and the malformed records by reason


def test_workers_are_other_processes_and_units_come_back_in_plan_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(40):
        r.write_log(tmp_path / f"{i:02d}.json.gz", r.s3_self_loop(writes=i % 4))
    monkeypatch.setattr(pool, "BATCH_UNITS", 3)  # many batches, so both workers get some
    # fork: the workers inherit this module's patched parse_chunk, which notes their pid.
    monkeypatch.setattr(pool, "_context", lambda: multiprocessing.get_context("fork"))
    pids = tmp_path / "pids"
    real = pool.parse_chunk

    def noting(chunk: Chunk, now: float) -> pool.ParsedUnit:
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return real(chunk, now)

    monkeypatch.setattr(pool, "parse_chunk", noting)
    source_plan = plan([str(tmp_path)], selective=True)
    units = list(pool.parsed_units(source_plan, 2e9, jobs=2))

    workers = set(pids.read_text().split())
    assert str(os.getpid()) not in workers and len(workers) == 2
    assert [u.source for u in units] == sorted(str(p) for p in tmp_path.glob("*.json.gz"))


def test_one_job_or_one_unit_needs_no_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(pool, "ProcessPoolExecutor", no_pool)
    r.write_log(tmp_path / "a" / "one.json", r.s3_self_loop(writes=3))
    assert replay([str(tmp_path / "a")], jobs=4).loops  # one unit: read here
    r.write_log(tmp_path / "a" / "two.json", r.s3_self_loop(writes=3))
    assert replay([str(tmp_path / "a")], jobs=1).counts.duplicates == 0
    with pytest.raises(AssertionError, match="worker pool"):
        replay([str(tmp_path / "a")], jobs=2)


def test_with_threads_alive_workers_start_from_a_forkserver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_simulation(load_topology(builtin_topologies()[0]), tmp_path, noise=50)
    add_overlap_and_damage(tmp_path)
    monkeypatch.setattr(pool, "BATCH_UNITS", 2)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert pool._context().get_start_method() in ("forkserver", "spawn")
        two = replay([str(tmp_path)], jobs=2)
    finally:
        stop.set()
        thread.join(5)
    assert seen(two) == seen(replay([str(tmp_path)], jobs=1))


def test_stdin_and_files_together_with_jobs(tmp_path: Path) -> None:
    loop = r.s3_self_loop(writes=4)
    r.write_log(tmp_path / "a.json.gz", loop[:3])
    r.write_log(tmp_path / "b.json.gz", loop[2:])  # one record in both files
    lines = b"\n".join(orjson.dumps(x) for x in loop[3:]) + b"\n"
    reports = []
    for jobs in ("1", "2"):
        done = subprocess.run(
            [
                *(sys.executable, "-m", "loopwatch", "replay", "--format", "json", "--jobs", jobs),
                *(str(tmp_path / "a.json.gz"), "-", str(tmp_path / "b.json.gz")),
            ],
            input=lines,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr  # the loop is active
        reports.append(orjson.loads(done.stdout))
    assert reports[0] == reports[1]
    assert reports[0]["records"]["duplicates"] == len(loop) - 2  # all of b.json.gz
    assert len(reports[0]["loops"]) == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_a_bad_jobs_value_is_one_line_and_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--jobs", value, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--jobs" in err


def test_jobs_is_explained_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # as wrapped for any terminal width
    assert "--jobs N" in out and "one per core" in out and "same for any N" in out
