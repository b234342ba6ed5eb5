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

from loopwatch.detect.findings import LoopFinding, finding_from_json, standing_runaways
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
        findings = list(findings)
        loops = [f for f in findings if f.get("kind") == "loop"]
        withdrawn = {frozenset(f["cycle"]) for f in loops if f["change"] == "withdrawn"}
        return cls(
            ever_active=_ever_active(loops),
            reported=frozenset(frozenset(f["cycle"]) for f in loops) - withdrawn,
            runaway=frozenset(
                r.function
                for r in standing_runaways(
                    finding_from_json(dict(f))[0] for f in findings if f.get("kind") == "runaway"
                )
            ),
            final={frozenset(i.cycle): (i.status, i.open) for i in incidents},
        )


def _ever_active(loops: list[Mapping[str, Any]]) -> frozenset[Cycle]:
    return ever_active((f["cycle"], f["change"], f["status"]) for f in loops)


def ever_active(said: Iterable[tuple[Iterable[str], str, str]]) -> frozenset[Cycle]:
    """The cycles with an episode that stood active, from each loop finding's (cycle, change,
    status) in the order said: an episode's last finding (a revision included) says active.
    An episode begins with ``opened``; a ``revised`` finding replaces what the episode said
    before it (late records showed it wrong, DESIGN §5 "Revocation")."""
    standing: dict[Cycle, str] = {}  # cycle -> status of its current episode's last finding
    ever: set[Cycle] = set()
    for nodes, change, status in said:
        cycle = frozenset(nodes)
        if change == "withdrawn":
            standing.pop(cycle, None)
            continue
        if change == "opened" and standing.get(cycle) == "active":
            ever.add(cycle)  # the episode before this one stood active
        standing[cycle] = status
    return frozenset(ever | {c for c, status in standing.items() if status == "active"})
