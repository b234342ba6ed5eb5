"""Offline replay: read sources, take their records through the one intake, drive the engines.

    sources ──units──► decode + parse_batch ──► Router.admit ──(account, fact)──► Router.feed
        (selective,     (here, or in --jobs       (each record's         (each account's
         thin records)   worker processes)         account: its           driver: order,
                                                   intake's dedupe)       apply, settle) ──► Report

Records are routed to their account exactly as the worker's messages are keyed
(``loopwatch.detect.router``): one intake, engine and driver per account, and an inventory
applied to each account before its records, dated the one way. Only the facts of records
that matter are kept (a few hundred bytes each); the records themselves are dropped as soon as
they are parsed, so memory follows the facts, not the logs. Past ``SPILL_FACTS`` of them, the
facts go to disk as sorted runs, merged back in event-time order as they are fed
(``loopwatch.events.runs``), so memory stays bounded on a month of logs full of data events
too. The decoder, the intake and the driver are the worker's own, so a replay says what the
live service said; and since deduplication and the engines see the same units in the same order
whatever the number of jobs, ``jobs`` changes how fast a replay is, never what it reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import islice
from typing import IO, Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Finding
from loopwatch.detect.findings import standing_runaways
from loopwatch.detect.router import Routed, Router
from loopwatch.events.pool import ParsedUnit, parsed_units
from loopwatch.events.runs import SPILL_FACTS, FactRuns
from loopwatch.events.sources import SourceError, plan
from loopwatch.events.timerange import TimeRange
from loopwatch.inventory.obtain import facts_for, refusals
from loopwatch.inventory.snapshot import Snapshot
from loopwatch.progress import Progress
from loopwatch.report import Report

FEED_BLOCK = 10_000
"""Facts handed to the driver at a time, from the merged runs."""


def replay(
    names: Sequence[str],
    config: DetectionConfig | None = None,
    *,
    s3_client: Any = None,
    stdin: IO[bytes] | None = None,
    progress: bool = False,
    on_finding: Callable[[Finding], None] | None = None,
    clock: Callable[[], float] = time.time,
    inventory: Snapshot | None = None,
    time_range: TimeRange | None = None,
    jobs: int = 1,
    spill_after: int = SPILL_FACTS,
) -> Report:
    """Replay CloudTrail logs and invocation events through the engine.

    Raises ``loopwatch.events.sources.SourceUnavailable`` for a named source that does not
    exist or cannot be opened at all; every other problem (a bad file, a malformed record) is
    counted in the report and the replay goes on. With ``progress``, a bar is drawn on stderr
    when it is a terminal and the input is large. ``on_finding`` sees every finding in event
    time order (``replay --act`` acts on them). ``clock`` is the wall clock records are
    checked against (a record dated more than an hour after it is malformed). ``inventory``
    is the configuration that predates the logs (DESIGN §9): its facts come first, and the
    configuration records in the logs override them from their event time on. ``time_range``
    (``--since`` / ``--until``) bounds the event times replayed: the intake skips the records
    outside it, and the plan leaves out CloudTrail files named more than an hour outside it.
    ``jobs``: worker processes that decode and parse files (1: all in this process, no pool).
    ``spill_after``: facts held in memory before they go to disk as sorted runs.
    """
    source_plan = plan(
        names, s3_client=s3_client, stdin=stdin, time_range=time_range, selective=True
    )
    report = Report()
    bar = Progress(source_plan.total_bytes, "replay") if progress else None
    configuration = None
    if inventory is not None:
        report.errors.extend(SourceError(where, why) for where, why in refusals(inventory))
        configuration = partial(facts_for, inventory)
    router = Router(config, configuration=configuration, time_range=time_range)
    with FactRuns[Routed](spill_after, key=_routed_time) as facts:
        take_all(parsed_units(source_plan, clock(), jobs), facts, report, bar, router)
        merged = facts.merged()
        while block := list(islice(merged, FEED_BLOCK)):  # in order: each block is sorted
            router.feed(block)
    router.settle()
    findings = list(router.findings())
    for fact, reason in router.failed():  # an engine bug: said, never silent
        report.errors.append(SourceError("engine", f"{reason} (at {fact.time})"))
    report.runaway = standing_runaways(findings)
    if on_finding is not None:
        for finding in findings:
            on_finding(finding)
    report.loops = router.loops()
    return report


def _routed_time(routed: Routed) -> float:
    return routed[1].time


def take_all(
    units: Iterable[ParsedUnit],
    facts: FactRuns[Routed],
    report: Report,
    progress: Progress | None = None,
    router: Router | None = None,
) -> Router:
    """Every parsed unit, in plan order, through ``router`` (a new one when None: each
    record's account's intake) into ``report``'s counts and errors; the facts, with their
    accounts, added to ``facts`` in input order."""
    if router is None:
        router = Router()
    for unit in units:
        report.sources += 1
        report.errors.extend(unit.errors)
        report.counts.read += unit.malformed
        report.counts.malformed += unit.malformed
        taken, routed = router.admit(unit.parsed)
        report.counts.add(taken.counts)
        facts.extend(routed)
        for reason, (count, _) in taken.rejected.items():
            plural = "s" if count != 1 else ""
            report.errors.append(
                SourceError(unit.source, f"{count} malformed record{plural} skipped: {reason}")
            )
        for truncation, count in taken.counts.truncations.items():
            plural = "s" if count != 1 else ""
            report.errors.append(
                SourceError(unit.source, f"{count} record{plural} truncated: {truncation.reason}")
            )
        if progress is not None:
            progress.advance(unit.size)
    if progress is not None:
        progress.close()
    return router
