"""The replay report: counts, errors, loops and runaways, as JSON (DESIGN §7) or for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopwatch.detect.explain import draw
from loopwatch.detect.findings import (
    ACTIVE,
    LATENT,
    LoopFinding,
    RunawayFinding,
    loop_json,
    runaway_json,
)
from loopwatch.events import arns
from loopwatch.events.intake import Counts
from loopwatch.events.sources import SourceError
from loopwatch.events.times import format_time
from loopwatch.render.terminal import PLAIN_WIDTH, paint_status, printable, wrap_line


@dataclass(slots=True)
class Report:
    counts: Counts = field(default_factory=Counts)
    errors: list[SourceError] = field(default_factory=list)
    loops: list[LoopFinding] = field(default_factory=list)
    """Every incident as it stands at the end (``Incident.snapshot()``), by first seen."""
    runaway: list[RunawayFinding] = field(default_factory=list)
    sources: int = 0

    def worst(self) -> str | None:
        """``active``, ``latent`` or None: the most serious thing found.

        A runaway function is as serious as an active loop: it is burning money now.
        """
        if self.runaway or any(loop.status == ACTIVE for loop in self.loops):
            return ACTIVE
        return LATENT if self.loops else None

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.counts.to_json(),
            "errors": [{"source": e.source, "reason": e.reason} for e in self.errors],
            "loops": [loop_json(loop) for loop in self.loops],
            "runaway": [runaway_json(r) for r in self.runaway],
        }

    def to_text(self, *, width: int = PLAIN_WIDTH, color: bool = False) -> str:
        """The report for people, wrapped at ``width`` columns, control characters from records
        escaped (``printable``); ``color`` paints statuses (for a terminal:
        ``loopwatch.render.terminal.text_style`` picks both)."""
        c = self.counts
        lines = [
            f"Read {c.read:,} records from {self.sources:,} sources: {c.used:,} used, {c.skipped:,} skipped,"
            f" {c.duplicates:,} duplicates, {c.malformed:,} malformed.",
        ]
        active = sum(1 for loop in self.loops if loop.status == ACTIVE)
        if not self.loops and not self.runaway:
            lines.append("No loop found.")
        else:
            lines.append(
                f"{len(self.loops)} loop{'s' if len(self.loops) != 1 else ''} ({active} active),"
                f" {len(self.runaway)} runaway function{'s' if len(self.runaway) != 1 else ''}."
            )
        for loop in self.loops:
            lines += [
                "",
                f"{loop.status.upper()}  {draw(loop.cycle)}",
                f"  started   {format_time(loop.first_seen)}",
            ]
            if loop.detected_at is not None:
                lines.append(f"  caught    {format_time(loop.detected_at)}")
            lines += [
                f"  peak      {loop.traversals} traversals in one window"
                + (f", loop gain {loop.gain:.2f}" if loop.gain is not None else ""),
                f"  why       {loop.explanation}",
                f"  fix       {loop.fix}",
            ]
            if not loop.confirmed:
                lines.append(f"  unconfirmed  {'; '.join(loop.unknown)} — run with --inventory aws")
        for r in self.runaway:
            growth = f", {r.growth:.1f}x the window before" if r.growth else ""
            lines += [
                "",
                f"RUNAWAY  {arns.label(r.function)}: {r.rate_per_min:.0f}/min at {format_time(r.detected_at)}{growth}",
            ]
            if not r.confirmed:
                lines.append(f"  unconfirmed  {'; '.join(r.unknown)}")
        if self.errors:
            lines += [
                "",
                f"{len(self.errors)} source problem{'s' if len(self.errors) != 1 else ''}:",
            ]
            lines += [f"  {e.source}: {e.reason}" for e in self.errors]
        # Names come from records: escaped before wrapping, so what is measured is what shows.
        wrapped = [part for line in lines for part in wrap_line(printable(line), width)]
        return "\n".join(paint_status(line) if color else line for line in wrapped)
