"""Replay throughput against the parse floor of the same files, in one run.

    .venv/bin/python bench/replay_bench.py [--records 500000] [--jobs 2]

Builds ≥ 500k records of real shapes — the invictus CloudTrail records (third-party data, read
from ../shared/data/cloudtrail-invictus beside the repository) replicated with shifted times
and fresh eventIDs, plus a simulated S3 loop — as .json.gz log files (cached under
bench/.data), then times, interleaved round by round and best of ``--rounds``:
  raw       read + gunzip + orjson.loads every file (a full parse), count the records
  floor     read + gunzip + the selective msgspec decode loopwatch uses (thin records: only
            the fields it reads), outside loopwatch's pipeline
  replay    loopwatch.replay.replay over the same folder in one process (decode, parse,
            dedupe, sort, engine)
  replay/N  the same with --jobs N worker processes
and prints the throughputs, replay / floor (target >= 0.5, aim 0.7), the speed-up of N jobs
over one process (target >= 1.7 for 2 jobs on 2 cores), and the peak RSS of a replay per
million records read (a fresh process for each, its workers included). Absolute
numbers mean little on a shared machine; the ratios are measured side by side.

The engine's cost on growing graphs is bench/engine_bench.py's.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import msgspec
import orjson

from loopwatch.events.thin import Log
from loopwatch.replay import replay
from loopwatch.report import Report
from loopwatch.testing.data import shared_data_dir
from loopwatch.testing.memory import peak_rss_kib

HERE = Path(__file__).resolve().parent
INVICTUS = shared_data_dir(__file__, "cloudtrail-invictus")
DATA_VERSION = "1"


def build_dataset(target: int) -> Path:
    out = HERE / ".data" / f"replay-v{DATA_VERSION}-{target}"
    if (out / "DONE").exists():
        return out
    if not any(INVICTUS.glob("*.json")):
        sys.exit(
            f"replay_bench: no CloudTrail logs at {INVICTUS}: the bench replicates the real"
            " invictus-ir/aws_dataset records, which are kept beside the repository, not in it"
        )
    out.mkdir(parents=True, exist_ok=True)
    originals = [
        (p.name, orjson.loads(p.read_bytes())["Records"]) for p in sorted(INVICTUS.glob("*.json"))
    ]
    per_copy = sum(len(r) for _, r in originals)
    copies = -(-target // per_copy)
    base_day = date(2023, 7, 10)
    for copy in range(copies):
        day = (base_day + timedelta(days=copy)).isoformat()
        folder = (
            out / "AWSLogs" / "218007301253" / "CloudTrail" / "us-east-1" / day.replace("-", "/")
        )
        folder.mkdir(parents=True, exist_ok=True)
        for name, records in originals:
            shifted = []
            for record in records:
                record = dict(record)
                record["eventTime"] = day + record["eventTime"][10:]
                record["eventID"] = f"{copy:08x}" + record["eventID"][8:]
                shifted.append(record)
            file_name = name.replace("20230710", day.replace("-", "")) + ".gz"
            (folder / file_name).write_bytes(
                gzip.compress(orjson.dumps({"Records": shifted}), compresslevel=6)
            )
        print(f"\rbuilding dataset: {copy + 1}/{copies} copies", end="", file=sys.stderr)
    print(file=sys.stderr)
    _add_simulated_loop(out / "simulated")
    (out / "DONE").write_text("ok\n")
    return out


def _add_simulated_loop(folder: Path) -> None:
    from loopwatch.topology import resolve_topology, write_simulation

    write_simulation(resolve_topology("s3-self-loop"), folder)


def raw_parse(files: list[Path]) -> int:
    records = 0
    for path in files:
        records += len(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
    return records


def floor_parse(files: list[Path]) -> int:
    decoder = msgspec.json.Decoder(Log)
    records = 0
    for path in files:
        records += len(decoder.decode(gzip.decompress(path.read_bytes())).Records)
    return records


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process and its reaped workers, result)."""
    gc.collect()
    cpu = _cpu()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, _cpu() - cpu, result


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def bench_replay(dataset: Path, rounds: int, jobs: int) -> None:
    files = sorted(dataset.rglob("*.json.gz"))
    runs: dict[str, Callable[[], object]] = {
        "raw": lambda: raw_parse(files),
        "floor": lambda: floor_parse(files),
        "replay": lambda: replay([str(dataset)], jobs=1),
        f"replay/{jobs}": lambda: replay([str(dataset)], jobs=jobs),
    }
    best = dict.fromkeys(runs, float("inf"))
    cpu = dict.fromkeys(runs, float("inf"))
    results: dict[str, object] = {}
    raw_parse(files)  # warm the page cache for all
    for _ in range(rounds):
        for name, run in runs.items():  # interleaved: load from elsewhere falls on all alike
            seconds, used, results[name] = timed(run)
            best[name], cpu[name] = min(best[name], seconds), min(cpu[name], used)
    report = results["replay"]
    assert isinstance(report, Report)
    assert report.to_json() == results[f"replay/{jobs}"].to_json()  # type: ignore[attr-defined]
    counts = report.counts
    rate = {
        "raw": int(results["raw"]) / best["raw"],  # type: ignore[call-overload]
        "floor": int(results["floor"]) / best["floor"],  # type: ignore[call-overload]
        "replay": counts.read / best["replay"],
        f"replay/{jobs}": counts.read / best[f"replay/{jobs}"],
    }
    active = [loop for loop in report.loops if loop.status == "active"]
    print(
        f"dataset: {len(files)} files, {counts.read:,} records ({counts.used:,} used,"
        f" {counts.duplicates:,} duplicates, {counts.malformed:,} malformed),"
        f" {len(active)} active loop(s) found; best of {rounds} interleaved rounds"
    )
    labels = {
        "raw": "raw    gunzip + orjson full parse",
        "floor": "floor  gunzip + selective msgspec decode",
        "replay": "loopwatch replay, 1 process",
        f"replay/{jobs}": f"loopwatch replay, --jobs {jobs}",
    }
    for name, label in labels.items():
        print(
            f"{label:<41} {rate[name]:>9,.0f} records/s"
            f"  ({best[name]:.2f} s wall, {cpu[name]:.2f} s CPU)"
        )
    print(
        f"replay / floor: {rate['replay'] / rate['floor']:.2f}  (target >= 0.5, aim 0.7);"
        f"  replay / raw: {rate['replay'] / rate['raw']:.2f}"
    )
    print(
        f"--jobs {jobs} speed-up over 1 process: {best['replay'] / best[f'replay/{jobs}']:.2f}x"
        f"  (target >= 1.7x for 2 jobs on 2 cores; {_cores()} cores here, load average"
        f" {os.getloadavg()[0]:.1f}: other processes' CPU use lowers it)"
    )
    base = _peak_rss(dataset, 0)
    for n in (1, jobs):
        peak = _peak_rss(dataset, n)
        read = peak["read"] / 1e6
        own, worker = peak["self"] / 1024, peak["children"] / 1024
        total = own + (n * worker if n > 1 else 0)  # ru_maxrss of children: the largest one
        print(
            f"peak RSS, --jobs {n}: {own:,.0f} MB replaying"
            + (f" + {n} workers of <= {worker:,.0f} MB" if n > 1 else "")
            + f": <= {total / read:,.0f} MB per million records read;"
            f" {(own - base['self'] / 1024) / read:,.0f} MB/M above an idle process"
            f" ({base['self'] / 1024:,.0f} MB)"
        )


def _peak_rss(dataset: Path, jobs: int) -> dict[str, int]:
    """ru_maxrss (KiB) of a fresh process replaying ``dataset`` (jobs 0: importing only)."""
    done = subprocess.run(
        [sys.executable, __file__, "--rss-of", str(jobs), str(dataset)],
        capture_output=True,
        check=True,
        timeout=1800,
    )
    return orjson.loads(done.stdout)  # type: ignore[no-any-return]


def _rss_of(jobs: int, dataset: str) -> None:
    read = replay([dataset], jobs=jobs).counts.read if jobs else 0
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest reaped
    sys.stdout.buffer.write(
        orjson.dumps({"self": peak_rss_kib(), "children": workers, "read": read})
    )


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--records", type=int, default=500_000, help="records to build (default 500000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating timing rounds (best is kept)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes to compare")
    parser.add_argument("--rss-of", nargs=2, metavar=("JOBS", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        _rss_of(int(args.rss_of[0]), args.rss_of[1])
        return
    started = time.perf_counter()
    bench_replay(build_dataset(args.records), args.rounds, args.jobs)
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
