"""Act once (DESIGN §6): an incident loopwatch throttled, or whose throttle was released, is
never throttled again by a finding read later.

    finding of incident I ──► ledger.acted(I) ──► released? ──► no throttle, says who and when
                                              └─► throttled? ──► no throttle (it is held, or was)

A finding reaches the actions agent again in many ways that are no new evidence: a restart
that re-reads findings not yet committed, a worker under a new ``LOOPWATCH_APP_ID`` or with
lost offsets that re-reads the topics, a replay with ``--act``, a forged copy of a genuine
signed finding. None of them may undo what a person decided by releasing a function. The
memory is the ledger's ``acted`` entries, rebuilt from the signed audit stream where a host
lost its file (``loopwatch.actions.auditlog.acted_from_audit``).

The rule is per incident, not per episode: a released incident that runs again is alerted
(the alert says why there is no throttle), and a person decides again.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopwatch.actions.ledger import RELEASED, Acted
from loopwatch.actions.outcomes import iso


def acted_before(entries: Sequence[Acted]) -> str | None:
    """Why an incident with these ``acted`` entries is not throttled again; None when
    loopwatch never acted on it."""
    released = [a for a in entries if a.what == RELEASED]
    if released:
        last = released[-1]
        return (
            f"its throttle was released at {iso(last.at)} by {last.by}, and loopwatch acts on"
            " an incident once: throttle it by hand if it must stop"
        )
    if entries:
        last = entries[-1]
        return (
            f"loopwatch already throttled this incident at {iso(last.at)} ({last.by}) and"
            " acts on an incident once"
        )
    return None
