"""Reading and parsing a source plan in worker processes: units in, parsed units out, in order.

    SourcePlan.tasks() ──batches of units──► worker: Task.read() ─► parse_batch ─► ParsedUnit
                                                          (decode)     (parse, validate)
        ◄── ParsedUnit, ParsedUnit, … in plan order ──┘

Decoding and parsing are most of a replay's work and hold no state, so they run in ``jobs``
processes; what needs the whole input in order — deduplication (``Intake.admit``) and the
engine — stays with the caller, which gets the units back in plan order. With one job (or
one unit) it all runs here, through the same functions. Workers get units in batches of
about ``BATCH_BYTES`` stored bytes, because CloudTrail files are small (tens of KB) and one
round trip to a process costs about as much as parsing a small file; at most
``2 * jobs`` batches are out at a time, so memory follows the batches, not the plan.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import NamedTuple

from loopwatch.events.intake import Keyed, Parsed, parse_batch
from loopwatch.events.sources import Chunk, SourceError, SourcePlan, Task

BATCH_BYTES = 1 << 20
BATCH_UNITS = 256


class ParsedUnit(NamedTuple):
    """One unit read, decoded and parsed (not yet deduplicated): what a worker sends back (a
    NamedTuple: cheap to pickle). ``malformed`` counts entries the decoder could not read
    (lines that are not JSON)."""

    source: str
    errors: tuple[SourceError, ...]
    malformed: int
    size: int
    parsed: Parsed


def parse_chunk(chunk: Chunk, now: float) -> ParsedUnit:
    return ParsedUnit(
        chunk.source, chunk.errors, chunk.malformed, chunk.size, parse_batch(chunk.objects, now)
    )


def parsed_units(source_plan: SourcePlan, now: float, jobs: int = 1) -> Iterator[ParsedUnit]:
    """Every unit of ``source_plan`` read and parsed as of wall-clock ``now``, in plan order:
    here when ``jobs`` is 1 or the plan has one unit, else in ``jobs`` worker processes."""
    if jobs <= 1 or len(source_plan) < 2:
        for chunk in source_plan.chunks():
            yield parse_chunk(chunk, now)
        return
    with ProcessPoolExecutor(jobs, mp_context=_context()) as pool:
        out: deque[tuple[list[Task], Future[list[_Wire]]]] = deque()
        for batch in _batches(source_plan.tasks()):
            out.append((batch, pool.submit(_work, batch, now)))
            if len(out) >= 2 * jobs:
                yield from _unwire(*out.popleft())
        while out:
            yield from _unwire(*out.popleft())


# What a worker sends back for a unit: a ParsedUnit without its source (the task names it),
# flat, as a plain tuple — a NamedTuple pickles through a Python call per object, and these
# come by the thousand.
_Wire = tuple[
    tuple[SourceError, ...],
    int,
    int,
    int,
    int,
    int,
    list[Keyed],
    dict[str, tuple[int, object]],
]


def _work(batch: list[Task], now: float) -> list[_Wire]:
    out: list[_Wire] = []
    for task in batch:
        unit = parse_chunk(task.read(), now)
        p = unit.parsed
        out.append((unit.errors, unit.malformed, unit.size, *p))
    return out


def _unwire(batch: list[Task], done: Future[list[_Wire]]) -> Iterator[ParsedUnit]:
    for task, wire in zip(batch, done.result(), strict=True):
        errors, malformed, size, read, skipped, bad, keyed, rejected = wire
        parsed = Parsed(read, skipped, bad, keyed, rejected)
        yield ParsedUnit(task.unit.name, errors, malformed, size, parsed)


def _batches(tasks: Iterable[Task]) -> Iterator[list[Task]]:
    batch: list[Task] = []
    size = 0
    for task in tasks:
        batch.append(task)
        size += len(task.data) if task.data is not None else task.unit.size
        if size >= BATCH_BYTES or len(batch) >= BATCH_UNITS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _context() -> BaseContext:
    # fork starts a worker at once with the parent's imports, but copies only the calling
    # thread: a lock another thread held at that moment stays held in the child forever. So
    # only a single-threaded parent (the command line) forks; with threads alive (an embedding
    # application, tests with servers) workers start from a clean forkserver process.
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")
