"""Changelog bytes against change: an account of 1k and of 10k functions, one run.

    .venv/bin/python bench/changelog_bench.py

Drives the worker's ``Processor`` directly, with no broker: what it counts is exactly what the
worker hands to ``table.send_changelog``, the (key, value) of every write of every
``Snapshot`` (a tombstone weighs its key), so the figures are the worker's own, without the
broker's framing. Each account is first made (every function created, with its role, and
writing once to a table of its own: a hop each), then runs steadily: every second of event
time, one message in which 1% of the functions each write to their table, so 1% of the hops
change each second; the processor snapshots once a second, as the worker does by default.

Printed per size: changelog bytes/s in the steady state, the largest message of the whole
run (the account's first snapshot included), and bytes/s ÷ changed hops/s; beside them the
whole-entry snapshot the previous state version (2) wrote every second. Then the ratios:
bytes per changed hop at 10k against 1k (bytes follow the hops that change, not the size of
the account), and the 10k account's bytes/s against its whole entry's.
Targets: every message <= 1 MB; bytes per changed hop flat from 1k to 10k (<= 1.2x).
"""

from __future__ import annotations

import random
import time

import orjson

from loopwatch.config import DetectionConfig
from loopwatch.events.times import parse_time
from loopwatch.service.processor import Processor, Snapshot
from loopwatch.service.topics import CLOUDTRAIL
from loopwatch.testing import records as r
from loopwatch.testing.changelog import message_bytes
from loopwatch.testing.estates import many_functions

MB = 1_000_000
SECONDS = 30  # of steady state, after the account is made
CHANGING = 0.01  # the share of hops changed each second
WALL = parse_time(r.TIME) + 3600.0  # the wall clock: an hour after the records begin


def writes(snapshots: list[Snapshot]) -> list[tuple[bytes, bytes | None]]:
    return [write for snapshot in snapshots for write in snapshot.writes]


def steady_message(functions: int, second: int, rng: random.Random) -> tuple[bytes, int]:
    """One second's message: 1% of the functions each write their table once."""
    chosen = rng.sample(range(functions), max(1, int(functions * CHANGING)))
    records = [
        r.record(
            r.DYNAMODB,
            "PutItem",
            {"tableName": f"t-{i:05d}"},
            identity=r.assumed_role(f"fn-{i:05d}-role", f"fn-{i:05d}"),
            time=r.at(60 + second),
        )
        for i in chosen
    ]
    return orjson.dumps({"Records": records}), len(chosen)


def run(functions: int) -> dict[str, float]:
    worker = Processor(DetectionConfig(), snapshot_interval=1.0, restore=lambda _: {})
    key, offset, largest = r.ACCOUNT.encode(), 0, 0
    setup = many_functions(functions)
    for start in range(0, len(setup), 1000):
        message = orjson.dumps({"Records": setup[start : start + 1000]})
        out = worker.process(CLOUDTRAIL, 0, offset, key, message, now=WALL)
        largest = max([largest, *map(message_bytes, writes(out.snapshots))])
        offset += 1
    made = writes(worker.tick(WALL + 1.0).snapshots)
    largest = max([largest, *map(message_bytes, made)])
    rng = random.Random(functions)
    sent = changed = core = 0
    started = time.perf_counter()
    for second in range(SECONDS):
        now = WALL + 2.0 + second
        message, hops = steady_message(functions, second, rng)
        out = worker.process(CLOUDTRAIL, 0, offset, key, message, now=now)
        offset += 1
        steady = writes([*out.snapshots, *worker.tick(now + 0.5).snapshots])
        sent += sum(map(message_bytes, steady))
        core += sum(message_bytes(w) for w in steady if b"\x00" not in w[0])
        largest = max([largest, *map(message_bytes, steady)])
        changed += hops
    elapsed = time.perf_counter() - started
    whole = len(orjson.dumps(worker.accounts[r.ACCOUNT].state.to_state()))
    return {
        "bytes_per_s": sent / SECONDS,
        "largest": largest,
        "per_hop": sent / changed,
        "core_per_s": core / SECONDS,
        "hops_per_s": changed / SECONDS,
        "whole": whole,
        "cpu_per_s": elapsed / SECONDS,
    }


def main() -> None:
    results = {}
    for functions in (1_000, 10_000):
        m = results[functions] = run(functions)
        label = f"{functions // 1000}k functions"
        print(
            f"changelog, {label:>13}: {m['bytes_per_s']:>9,.0f} bytes/s for"
            f" {m['hops_per_s']:,.0f} changed hops/s (whole entry, version 2:"
            f" {m['whole']:,} bytes/s)"
        )
        verdict = "ok" if m["largest"] <= MB else "OVER"
        print(
            f"  largest message:            {m['largest']:>9,} bytes  (target <= 1 MB: {verdict})"
        )
        print(
            f"  bytes/s / changed hops/s:   {m['per_hop']:>9,.0f} bytes a changed hop"
            f"  (of the bytes/s, the core, once a snapshot: {m['core_per_s']:,.0f})"
        )
        print(f"  worker time:                {m['cpu_per_s'] * 1000:>9,.1f} ms a second of input")
    growth = results[10_000]["per_hop"] / results[1_000]["per_hop"]
    print(f"bytes a changed hop, 10k / 1k functions: {growth:.2f}x  (target <= 1.2x: flat)")
    share = results[10_000]["bytes_per_s"] / results[10_000]["whole"]
    print(f"10k functions, changelog bytes/s / whole entry a second: {share:.3f}x")


if __name__ == "__main__":
    main()
