"""Offline replay: read sources, merge by event time, drop duplicates, run the engine, report.

    sources ──chunks──► parse (dedupe by eventID) ──facts──► sort by eventTime ──► Engine ──► Report

Only the facts of records that matter are kept and sorted (a few bytes each); the records
themselves are dropped as soon as they are parsed, so memory follows the facts, not the logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import IO, Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding, RunawayFinding
from loopwatch.events import records
from loopwatch.events.facts import Fact
from loopwatch.events.sources import SourceError, plan
from loopwatch.progress import Progress
from loopwatch.report import Counts, LoopReport, Report


def replay(
    names: Sequence[str],
    config: DetectionConfig | None = None,
    *,
    s3_client: Any = None,
    stdin: IO[bytes] | None = None,
    progress: bool = False,
    on_finding: Callable[[Finding], None] | None = None,
) -> Report:
    """Replay CloudTrail logs and invocation events through the engine.

    Raises ``loopwatch.events.sources.SourceUnavailable`` for a named source that does not
    exist or cannot be opened at all; every other problem (a bad file, a malformed record) is
    counted in the report and the replay goes on. With ``progress``, a bar is drawn on stderr
    when it is a terminal and the input is large. ``on_finding`` sees every finding in event
    time order (``replay --act`` acts on them).
    """
    source_plan = plan(names, s3_client=s3_client, stdin=stdin)
    report = Report()
    bar = Progress(source_plan.total_bytes, "replay") if progress else None
    facts = _read(source_plan.chunks(), report, bar)
    facts.sort(key=attrgetter("time"))  # stable: records of one instant keep their file order
    engine = Engine(config)
    runaway: list[RunawayFinding] = []
    apply = engine.apply
    for fact in facts:
        for finding in apply(fact):
            if isinstance(finding, RunawayFinding):
                runaway.append(finding)
            if on_finding is not None:
                on_finding(finding)
    # Settle the last second; it can only hold loop findings.
    for finding in engine.flush():
        if on_finding is not None:
            on_finding(finding)
    report.loops = sorted(
        (LoopReport.of(i) for i in engine.incidents.incidents.values()),
        key=attrgetter("first_seen"),
    )
    report.runaway = runaway
    return report


def _read(chunks: Any, report: Report, progress: Progress | None) -> list[Fact]:
    """Parse every object of every chunk into ``report.counts``; the facts, unsorted."""
    counts: Counts = report.counts
    seen: set[str] = set()
    facts: list[Fact] = []
    parse = records.parse
    malformed_error = records.MalformedRecord
    for chunk in chunks:
        report.sources += 1
        report.errors.extend(chunk.errors)
        counts.read += len(chunk.objects) + chunk.malformed
        counts.malformed += chunk.malformed
        bad = 0
        first_reason = ""
        used = skipped = duplicates = 0
        for obj in chunk.objects:
            try:
                key, found = parse(obj)
            except malformed_error as exc:
                bad += 1
                first_reason = first_reason or str(exc)
                continue
            if key is not None:
                size = len(seen)
                seen.add(key)
                if len(seen) == size:
                    duplicates += 1
                    continue
            if found:
                used += 1
                facts.extend(found)
            else:
                skipped += 1
        counts.used += used
        counts.skipped += skipped
        counts.duplicates += duplicates
        if bad:
            counts.malformed += bad
            plural = "s" if bad != 1 else ""
            report.errors.append(
                SourceError(
                    chunk.source, f"{bad} malformed record{plural} skipped (first: {first_reason})"
                )
            )
        if progress is not None:
            progress.advance(chunk.size)
    if progress is not None:
        progress.close()
    return facts
