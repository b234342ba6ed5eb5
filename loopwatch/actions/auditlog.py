"""Rebuild what loopwatch holds from its audit records (``kind: "audit"`` on the findings topic).

    throttle/throttled (enforce) ──► hold(previous, incident, since, by)
    disable-mapping/throttled    ──► + mapping on that hold
    release/released | gone      ──► hold forgotten

The audit stream is the copy of the ledger that outlives a worker's disk: the service merges
what this returns into its ledger file at start (``loopwatch.service.act``). Records are
folded in the order given, which must be the order they were written for one function
(the service keys them by function ARN, so one partition holds them in order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from loopwatch.actions import outcomes as o
from loopwatch.actions.ledger import Hold
from loopwatch.actions.throttle import ENFORCE
from loopwatch.events.times import parse_time

# The reason text of a disable-mapping record is the only place its UUID is written.
_MAPPING = re.compile(r"event source mapping (\S+) disabled")


def holds_from_audit(records: Iterable[Mapping[str, object]]) -> dict[str, Hold]:
    """Function ARN → hold, for every function throttled and not released since.

    Other documents (findings, malformed or dry-run records) are skipped, never raised on.
    """
    holds: dict[str, Hold] = {}
    for record in records:
        if record.get("kind") != "audit":
            continue
        function, action, result = (
            record.get("function"),
            record.get("action"),
            record.get("result"),
        )
        if not isinstance(function, str):
            continue
        if action == "throttle" and result == o.THROTTLED and record.get("mode") == ENFORCE:
            hold = _hold(function, record)
            if hold is not None:
                holds[function] = hold
        elif action == "disable-mapping" and result == o.THROTTLED and function in holds:
            found = _MAPPING.search(str(record.get("reason", "")))
            if found:
                h = holds[function]
                holds[function] = Hold(
                    h.function,
                    h.account,
                    h.incident,
                    h.previous,
                    h.since,
                    h.by,
                    (*h.mappings, found.group(1)),
                )
        elif action == "release" and result in (o.RELEASED, o.GONE):
            holds.pop(function, None)
    return holds


def _hold(function: str, record: Mapping[str, object]) -> Hold | None:
    previous = record.get("previous")
    at = record.get("at")
    if previous is not None and (not isinstance(previous, int) or isinstance(previous, bool)):
        return None
    if not isinstance(at, str):
        return None
    try:
        since = parse_time(at)
    except ValueError:
        return None
    account, incident = record.get("account"), record.get("incident")
    return Hold(
        function,
        None if account is None else str(account),
        None if incident is None else str(incident),
        previous,
        since,
        str(record.get("who", "loopwatch")),
    )
