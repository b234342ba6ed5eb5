"""Rebuild what loopwatch holds from its audit records (``kind: "audit"`` on the findings topic).

    throttle/throttled (enforce) ──► hold(previous, incident, since, by)
    disable-mapping/throttled    ──► + mapping on that hold
    release/released | gone      ──► hold forgotten

``acted_from_audit`` reads the same records as what loopwatch did per incident (throttled,
released): the "act once" memory of the ledger (``loopwatch.actions.ledger.Acted``).

The audit stream is the copy of the ledger that outlives a worker's disk: the service merges
what this returns into its ledger file at start (``loopwatch.service.act``). Records are
folded in the order given, which must be the order they were written for one function
(the service keys them by function ARN, so one partition holds them in order).

Only records signed with the deployment's key count (``loopwatch.trust``): a forged "held"
record would leave a real loop unthrottled, and its "previous" value is what ``release``
would set. A record seen twice (the same signature) counts once: a genuine throttle record
produced again after its release must not bring the hold back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from loopwatch.actions import outcomes as o
from loopwatch.actions.ledger import RELEASED, THROTTLED, Acted, Hold
from loopwatch.actions.throttle import ENFORCE
from loopwatch.events.times import parse_time
from loopwatch.trust import SIGNATURE_FIELD, RecordKey, check

# The reason text of a disable-mapping record is the only place its UUID is written.
_MAPPING = re.compile(r"event source mapping (\S+) disabled")


def holds_from_audit(records: Iterable[Mapping[str, object]], key: RecordKey) -> dict[str, Hold]:
    """Function ARN → hold, for every function throttled and not released since, by the
    records signed with ``key``.

    Other documents (findings, unsigned, badly signed, malformed or dry-run records) are
    skipped, never raised on.
    """
    holds: dict[str, Hold] = {}
    for function, action, result, record in _genuine(records, key):
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


def acted_from_audit(records: Iterable[Mapping[str, object]], key: RecordKey) -> list[Acted]:
    """What the records signed with ``key`` show loopwatch did per incident: throttled
    (in enforce mode) or released. The episode is not in an audit record: None."""
    acted: list[Acted] = []
    for _, action, result, record in _genuine(records, key):
        incident, who, at = record.get("incident"), record.get("who"), record.get("at")
        if not isinstance(incident, str) or not isinstance(at, str):
            continue
        if action == "throttle" and result == o.THROTTLED and record.get("mode") == ENFORCE:
            what = THROTTLED
        elif action == "release" and result in (o.RELEASED, o.GONE):
            what = RELEASED
        else:
            continue
        try:
            when = parse_time(at)
        except ValueError:
            continue
        acted.append(Acted(incident, what, when, str(who)))
    return acted


def _genuine(
    records: Iterable[Mapping[str, object]], key: RecordKey
) -> Iterator[tuple[str, object, object, Mapping[str, object]]]:
    """(function, action, result, record) of each audit record signed with ``key``, once
    per signature (a genuine throttle record produced again after its release must not bring
    the hold back), in the order given."""
    seen: set[object] = set()
    for record in records:
        if record.get("kind") != "audit" or check(record, key) is not None:
            continue
        sig = record.get(SIGNATURE_FIELD)
        if sig in seen:
            continue
        seen.add(sig)
        function = record.get("function")
        if isinstance(function, str):
            yield function, record.get("action"), record.get("result"), record


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
