"""Offline replay: read sources, take their records through the one intake, drive the engine.

    sources ──units──► decode + parse_batch ──► Intake.admit (dedupe) ──facts──► Driver
        (selective,     (here, or in --jobs       (here, units in plan      (order, apply,
         thin records)   worker processes)         order)                    settle) ──► Report

Only the facts of records that matter are kept and sorted (a few bytes each); the records
themselves are dropped as soon as they are parsed, so memory follows the facts, not the logs.
The decoder, the intake and the driver are the worker's own, so a replay says what the live
service said; and since deduplication and the engine see the same units in the same order
whatever the number of jobs, ``jobs`` changes how fast a replay is, never what it reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import IO, Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding, RunawayFinding
from loopwatch.detect.driver import Driver
from loopwatch.events.facts import Fact
from loopwatch.events.intake import Intake
from loopwatch.events.pool import ParsedUnit, parsed_units
from loopwatch.events.sources import SourceError, plan
from loopwatch.events.timerange import TimeRange
from loopwatch.inventory.obtain import facts_for, refusals
from loopwatch.inventory.snapshot import Snapshot
from loopwatch.progress import Progress
from loopwatch.report import Report


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
    """
    source_plan = plan(
        names, s3_client=s3_client, stdin=stdin, time_range=time_range, selective=True
    )
    report = Report()
    bar = Progress(source_plan.total_bytes, "replay") if progress else None
    facts = take_all(parsed_units(source_plan, clock(), jobs), report, bar, time_range)
    if inventory is not None:
        report.errors.extend(SourceError(where, why) for where, why in refusals(inventory))
        # Dated just before the first record: known from the start, overridden by any record.
        start = min((f.time for f in facts), default=0.0) - 1.0
        facts = [*facts_for(inventory, None, max(start, 0.0)), *facts]
    engine = Engine(config)
    driver = Driver(engine)
    fed = driver.feed(facts)
    findings = [*fed.findings, *driver.settle()]
    for fact, reason in fed.failed:  # an engine bug: said, never silent
        report.errors.append(SourceError("engine", f"{reason} (at {fact.time})"))
    report.runaway = [f for f in findings if isinstance(f, RunawayFinding)]
    if on_finding is not None:
        for finding in findings:
            on_finding(finding)
    report.loops = sorted(
        (i.snapshot() for i in engine.incidents.incidents.values()), key=attrgetter("first_seen")
    )
    return report


def take_all(
    units: Iterable[ParsedUnit],
    report: Report,
    progress: Progress | None = None,
    time_range: TimeRange | None = None,
) -> list[Fact]:
    """Every parsed unit, in plan order, through one Intake into ``report``'s counts and
    errors; the facts, in input order."""
    intake = Intake(time_range=time_range)
    facts: list[Fact] = []
    for unit in units:
        report.sources += 1
        report.errors.extend(unit.errors)
        report.counts.read += unit.malformed
        report.counts.malformed += unit.malformed
        taken = intake.admit(unit.parsed)
        report.counts.add(taken.counts)
        facts.extend(taken.facts)
        for reason, (count, _) in taken.rejected.items():
            plural = "s" if count != 1 else ""
            report.errors.append(
                SourceError(unit.source, f"{count} malformed record{plural} skipped: {reason}")
            )
        if progress is not None:
            progress.advance(unit.size)
    if progress is not None:
        progress.close()
    return facts
