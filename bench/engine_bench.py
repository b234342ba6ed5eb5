"""The engine's per-fact cost on graphs of 1k, 10k and 100k functions, and against lateness, in
one run.

    .venv/bin/python bench/engine_bench.py [--rounds 4]

Lateness (DESIGN §5: work per record flat in the lateness, up to the horizon): the traffic of
LATE_SIZE functions over two hours is cut into CloudTrail-like files of 5 minutes of event time
and fed file by file through the driver (as the worker feeds messages), every other file
delivered L minutes late (after the file L minutes later in event time), for L = 0, 5, 30 and
60. Each late record is counted in its own windows and the cycles through it measured again
there; the printed ratio is the per-fact cost at L against L = 0 in the same run.

Only the engine is timed: facts are built before the clock starts and fed to ``Engine.apply``.
Each size runs in a process of its own, once per round (the sizes in a rotating order, so
that load from elsewhere on the machine falls on all alike), so that the heap and the garbage
collector's state left by one size cannot tax another. Printed per size: the median per-fact
cost over the rounds, the setup time (the configuration, then a warm-up of traffic, applied
through the same engine), the child's peak RSS (VmHWM), the cost of one maintenance pass, and
the growth 1k -> 10k and 1k -> 100k (target <= 1.5x, DESIGN §5: per-event cost must not grow
with the size of the graph).

The graph is the same mix at every size, a fixed share of each kind per 100 functions:
mapping-driven functions writing to tables, S3-triggered functions writing elsewhere in their
bucket (a prefix filter that does not match), SNS subscribers, functions invoking other
functions, a few with no known role, and 2 loops (an SQS self-loop and an S3 self-loop whose
key matches) that turn active. Every function sees the same traffic in event time at every
size (an event every 400 s, every 40 s on a loop; with its invocation where one is logged),
so only the size of the graph differs: a uniform stream over 100x more functions would also
make each one's traffic 100x sparser, which measures the workload, not the graph. Trigger
configuration keeps changing during the timed part too (a mapping disabled and enabled again,
a function's configuration updated), at the same rate per fact.

The same traffic per function is 100x more facts per second of event time on 100x the
functions, so the timed part covers SWEEP * 100k / N seconds of event time: about as many
facts at every size, and maintenance passes (every SWEEP seconds of event time, each walking
what it must of the graph) crossed in inverse proportion to the graph's size, as in service.
One pass is also timed on its own after the timed part (``advance`` by SWEEP), and so is one
random lookup in a per-function table of the engine (with a new string, as a parsed record
brings): the part of every fact's cost that grows with the graph as the CPU caches hold less
of it; a fact takes a handful of such lookups.

The facts are built before the engine, with gc.freeze() after (they stream through the service
and are gone; a million of them held here must not lengthen every collection). The engine's
own heap is collected with the default thresholds, as in replay: collecting a bigger heap is
part of what a bigger graph costs. Each fact's strings are new objects, as the intake's parse
makes them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine
from loopwatch.detect.driver import Driver
from loopwatch.events import facts as f

SIZES = (1_000, 10_000, 100_000)
ACCOUNT, REGION = "111122223333", "us-east-1"
# Seconds of event time between two events of one function, at every size: most functions are
# quiet, those on a loop (2 in 100) run hot.
QUIET_EVERY = 400.0
LOOP_EVERY = 40.0
SWEEP = DetectionConfig().horizon / 12  # the engine's maintenance interval (event time)
CHURN_EVERY = 1_000  # timed facts per configuration change, at every size
TARGET = 1.5
LATE_SIZE = 10_000
LATE_MINUTES = (0, 5, 30, 60)
LATE_SPAN = 2 * 3600.0  # event time of the lateness runs: longer than the latest delivery
FILE_SECONDS = 300.0  # one CloudTrail file's event time


class Workload:
    """Setup facts (the configuration, then a warm-up of traffic over a sweep interval) and
    the timed facts: the same stream per function at every size, over
    ``SWEEP * max(SIZES) / functions`` seconds of event time, so that every size times about
    as many facts and crosses maintenance passes in proportion to the graph they walk."""

    def __init__(self, functions: int, seed: int = 7, span: float | None = None) -> None:
        self.setup: list[f.Fact] = []
        self.timed: list[f.Fact] = []
        self._units: list[list[tuple[str, ...]]] = []  # per function: what one event emits
        self._roles: list[str | None] = []
        self._callers: list[f.Caller] = []
        self._mappings: list[str] = []  # ids of mappings that may be toggled (not on a loop)
        self._arns: list[str] = []
        self._hot: list[bool] = []
        for i in range(functions):
            self._declare(i)
        rng = random.Random(seed)
        # Warm-up, a sweep interval (longer than the activity window) of event time before the
        # clock starts: a first event each, so that every hop is made before, and a loop's
        # function at its full rate, so that what it keeps of the window is as in steady state
        # at every size (on 100k functions the timed part is only one interval long).
        first = sorted(
            (1.0 + rng.random() * SWEEP, i)
            for i in range(functions)
            for _ in range(round(SWEEP / LOOP_EVERY) if self._hot[i] else 1)
        )
        for t, i in first:
            self._emit(self.setup, i, t)
        # Then a stream in which each function comes up at its own rate: a loop's function is
        # in the wheel LOOP_EVERY / QUIET_EVERY times as often as a quiet one.
        wheel = [i for i in range(functions) for _ in range(self._share(i))]
        rate = sum(1 / (LOOP_EVERY if hot else QUIET_EVERY) for hot in self._hot)
        start = t = 1.0 + SWEEP
        self.span = span if span is not None else SWEEP * max(SIZES) / functions
        disabled: list[str] = []
        next_churn = CHURN_EVERY
        while t < start + self.span:
            self._emit(self.timed, wheel[rng.randrange(len(wheel))], t)
            if len(self.timed) >= next_churn:
                next_churn += CHURN_EVERY
                self._churn(rng, t, disabled)
            t += 1 / rate

    def function(self, i: int) -> str:
        return self._arns[i]

    def _share(self, i: int) -> int:
        return round(QUIET_EVERY / LOOP_EVERY) if self._hot[i] else 1

    def _declare(self, i: int) -> None:
        name, kind = f"fn-{i:06d}", i % 100
        fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        role = None if i % 100 in (40, 41) else f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q-{i:06d}"
        bucket = f"arn:aws:s3:::b-{i:06d}"
        topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:t-{i:06d}"
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t-{i:06d}"
        self._arns.append(fn)
        self._hot.append(kind in (98, 99))
        self._roles.append(role)
        self._callers.append(f.Caller(ACCOUNT, REGION, f"{name}-role", name))
        self.setup.append(f.FunctionDeclared(0.0, fn, role))
        unit: list[tuple[str, ...]]
        if kind < 60 or kind == 98:  # a mapping from a queue; kind 98 writes back to it
            esm = f"esm-{i}"
            trigger = f.Trigger(esm, queue, fn, f.EVENT_SOURCE_MAPPING)
            self.setup.append(f.TriggerAdded(0.0, trigger))
            if kind == 98:
                unit = [("write", queue)]
            else:
                self._mappings.append(esm)
                unit = [("write", table)]
        elif kind < 80 or kind == 99:  # S3 notifications under incoming/; kind 99 writes there
            trigger = f.Trigger(
                f"s3-{i}",
                bucket,
                fn,
                f.S3_NOTIFICATION,
                events=("s3:ObjectCreated:*",),
                prefix="incoming/",
            )
            self.setup.append(f.BucketTriggersReplaced(0.0, bucket, (trigger,)))
            key = "incoming/x.jpg" if kind == 99 else "thumbs/x.jpg"
            unit = [("invoked", fn, bucket), ("s3", bucket, key)]
        elif kind < 95:  # an SNS subscription
            trigger = f.Trigger(f"sub-{i}", topic, fn, f.SNS_SUBSCRIPTION)
            self.setup.append(f.TriggerAdded(0.0, trigger))
            unit = [("invoked", fn, topic), ("write", table)]
        else:  # invokes the next function (a chain, no cycle)
            nxt = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-{i + 1:06d}"
            unit = [("write", nxt)]
        self._units.append(unit)

    def _emit(self, out: list[f.Fact], i: int, t: float) -> None:
        """One event of function ``i``, its strings new objects as the intake's parse makes them
        (an ARN equal to a graph key, not the key itself: hashed and compared as in service)."""
        for step in self._units[i]:
            if step[0] == "invoked":
                service = "s3.amazonaws.com" if step[2].startswith("arn:aws:s3") else None
                out.append(f.Invoked(t, _new(step[1]), source=_new(step[2]), service=service))
                continue
            c = self._callers[i]
            caller = f.Caller(_new(c.account), _new(c.region), _new(c.role), _new(c.session))
            if step[0] == "s3":
                out.append(
                    f.Write(
                        t, caller, _new(step[1]), key=_new(step[2]), s3_event="ObjectCreated:Put"
                    )
                )
            else:
                out.append(f.Write(t, caller, _new(step[1])))

    def _churn(self, rng: random.Random, t: float, disabled: list[str]) -> None:
        """A mapping disabled (or one disabled earlier enabled again), or a configuration update."""
        if disabled and rng.random() < 0.5:
            self.timed.append(f.TriggerEnabled(t, disabled.pop(), True))
        elif rng.random() < 0.5:
            esm = rng.choice(self._mappings)
            disabled.append(esm)
            self.timed.append(f.TriggerEnabled(t, esm, False))
        else:
            i = rng.randrange(len(self._arns))
            self.timed.append(f.FunctionDeclared(t, self._arns[i], self._roles[i]))


def _new(text: str) -> str:
    return text.encode().decode()


def peak_rss() -> int:
    """This process's own peak resident set (VmHWM), in bytes."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else 0


def child(functions: int) -> None:
    """One size, one round: build, set up, time; one JSON line on stdout."""
    gc.disable()  # building the workload is not timed: spare it collections of its own
    work = Workload(functions)
    gc.enable()
    # The workload (and everything imported) is moved out of the collector's sight: in the
    # service facts stream through and are gone, so their million objects must not make every
    # full collection of the engine's heap longer. The engine's own objects are all collected.
    gc.freeze()
    engine = Engine(DetectionConfig())
    apply = engine.apply
    start = time.perf_counter()
    for fact in work.setup:
        apply(fact)
    setup = time.perf_counter() - start
    gc.collect()
    findings = 0
    start = time.perf_counter()
    for fact in work.timed:
        findings += len(apply(fact))
    findings += len(engine.flush())
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    engine.advance(engine.now + SWEEP)
    sweep = time.perf_counter() - start
    active = sum(1 for i in engine.open_incidents() if i.status == "active")
    # What one random lookup in a per-function table costs in this heap (the rates' table,
    # through its public reader, with a new string as a parsed record brings): the part of
    # every fact's cost that grows with the graph, the caches holding less of it.
    rng = random.Random(3)
    probes = [_new(work.function(rng.randrange(functions))) for _ in range(100_000)]
    rate_per_min = engine.rates.rate_per_min
    start = time.perf_counter()
    for probe in probes:
        rate_per_min(probe)
    lookup = (time.perf_counter() - start) / len(probes)
    print(
        json.dumps(
            {
                "ns": seconds / len(work.timed) * 1e9,
                "setup": setup,
                "sweep": sweep,
                "lookup": lookup,
                "rss": peak_rss(),
                "facts": len(work.timed),
                "span": work.span,
                "active": active,
                "findings": findings,
            }
        )
    )


def late_child(functions: int, minutes: int) -> None:
    """One lateness run: the timed facts cut into files, every other one delivered late."""
    gc.disable()
    work = Workload(functions, span=LATE_SPAN)
    files: dict[int, list[f.Fact]] = {}
    for fact in work.timed:
        files.setdefault(int(fact.time // FILE_SECONDS), []).append(fact)
    late = minutes * 60.0
    order = sorted(files, key=lambda k: k * FILE_SECONDS + (late if k % 2 else 0.0))
    delivered = [files[k] for k in order]
    gc.enable()
    gc.freeze()
    engine = Engine(DetectionConfig())
    driver = Driver(engine)
    driver.feed(list(work.setup))
    driver.settle()
    gc.collect()
    start = time.perf_counter()
    findings = 0
    for chunk in delivered:
        findings += len(driver.feed(chunk).findings)
    findings += len(driver.settle())
    seconds = time.perf_counter() - start
    active = sum(1 for i in engine.open_incidents() if i.status == "active")
    print(
        json.dumps(
            {
                "ns": seconds / len(work.timed) * 1e9,
                "facts": len(work.timed),
                "active": active,
                "findings": findings,
            }
        )
    )


def run(functions: int, late: int | None = None) -> dict[str, float]:
    extra = [] if late is None else ["--late", str(late)]
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(functions), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="processes per size (median kept)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--late", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.late is not None:
            late_child(args.child, args.late)
        else:
            child(args.child)
        sys.stdout.flush()
        os._exit(0)  # no teardown: freeing a graph of 100k functions object by object takes seconds
    started = time.perf_counter()
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in SIZES}
    late_runs: dict[int, list[dict[str, float]]] = {m: [] for m in LATE_MINUTES}
    for round_ in range(args.rounds):
        shift = round_ % len(SIZES)
        for functions in SIZES[shift:] + SIZES[:shift]:
            runs[functions].append(run(functions))
        shift = round_ % len(LATE_MINUTES)
        for minutes in LATE_MINUTES[shift:] + LATE_MINUTES[:shift]:
            late_runs[minutes].append(run(LATE_SIZE, minutes))
    cost = {n: statistics.median(r["ns"] for r in runs[n]) for n in SIZES}
    for n in SIZES:
        last = runs[n][-1]
        spread = ", ".join(f"{r['ns']:,.0f}" for r in runs[n])
        print(
            f"engine {n:>7,} functions: {cost[n]:,.0f} ns/fact, median of {args.rounds} ({spread});"
            f" setup {statistics.median(r['setup'] for r in runs[n]):.2f} s,"
            f" peak RSS {max(r['rss'] for r in runs[n]) / 2**20:,.0f} MiB,"
            f" one maintenance pass {statistics.median(r['sweep'] for r in runs[n]) * 1e3:,.1f} ms,"
            f" one per-function table lookup {statistics.median(r['lookup'] for r in runs[n]) * 1e9:,.0f} ns;"
            f" {last['facts']:,.0f} facts over {last['span']:,.0f} s of event time,"
            f" {last['active']:,.0f} active loops"
        )
    for n in SIZES[1:]:
        growth = cost[n] / cost[SIZES[0]]
        print(
            f"engine cost growth {SIZES[0] // 1000}k -> {n // 1000}k functions: {growth:.2f}x"
            f"  (target <= {TARGET}x)"
        )
    late_cost = {m: statistics.median(r["ns"] for r in late_runs[m]) for m in LATE_MINUTES}
    for m in LATE_MINUTES:
        last = late_runs[m][-1]
        print(
            f"engine {LATE_SIZE:,} functions, every other 5-min file {m:>2} min late:"
            f" {late_cost[m]:,.0f} ns/fact, {late_cost[m] / late_cost[0]:.2f}x in order"
            f"  (target <= {TARGET}x); {last['facts']:,.0f} facts,"
            f" {last['active']:,.0f} active loops"
        )
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
