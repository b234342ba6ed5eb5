"""What a detector concluded about one account, in a form live and replay can be compared by.

    Verdict.of(findings, incidents)   findings as published (JSON) and the final incident book

"Live equals replay" (DESIGN §5) is judged on these: the cycles ever active, the cycles
reported (withdrawn ones are as if never reported), the runaway functions, and every
incident's final status — not on event times of findings, which a late record may move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loopwatch.detect.findings import LoopFinding
from loopwatch.detect.incidents import Incident

Cycle = frozenset[str]


@dataclass(frozen=True)
class Verdict:
    ever_active: frozenset[Cycle]
    reported: frozenset[Cycle]
    runaway: frozenset[str]
    final: Mapping[Cycle, tuple[str, bool]]
    """Cycle → (status, still open) of each incident in the final book."""

    @classmethod
    def of(
        cls,
        findings: Iterable[Mapping[str, Any]],
        incidents: Iterable[Incident | LoopFinding],
    ) -> Verdict:
        """From findings as published and the final incidents (the engine's book, or a
        replay report's ``loops``)."""
        loops = [f for f in findings if f.get("kind") == "loop"]
        withdrawn = {frozenset(f["cycle"]) for f in loops if f["change"] == "withdrawn"}
        return cls(
            ever_active=frozenset(frozenset(f["cycle"]) for f in loops if f["status"] == "active"),
            reported=frozenset(frozenset(f["cycle"]) for f in loops) - withdrawn,
            runaway=frozenset(str(f["function"]) for f in findings if f.get("kind") == "runaway"),
            final={frozenset(i.cycle): (i.status, i.open) for i in incidents},
        )
