"""Undo throttles: give a function back the reserved concurrency it had before loopwatch.

``loopwatch release FUNCTION`` → ``release``; ``--incident ID`` → ``release_incident``;
``loopwatch actions`` → ``held``. Synchronous boto3 (run off the event loop). A release is
remembered in the ledger (``Acted``): the incident is not throttled again (act once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from loopwatch.actions import outcomes as o
from loopwatch.actions.aws import AwsFailure, LambdaAccess, call, set_mappings_enabled
from loopwatch.actions.ledger import RELEASED, Acted, Hold, Ledger, LedgerError
from loopwatch.actions.throttle import default_identity
from loopwatch.events import arns


@dataclass(frozen=True, slots=True)
class ReleaseReport:
    outcomes: tuple[o.Outcome, ...]
    audit: tuple[o.AuditRecord, ...]

    @property
    def ok(self) -> bool:
        """Every function asked for is back (released, or gone so nothing is held)."""
        return bool(self.outcomes) and all(x.result in (o.RELEASED, o.GONE) for x in self.outcomes)


def held(ledger: Ledger) -> list[Hold]:
    """What loopwatch changed and still holds, oldest first."""
    return ledger.holds()


def find_hold(ledger: Ledger, function: str) -> Hold | None:
    """The hold for ``function``: an unqualified (or qualified) ARN, or a bare name that
    matches exactly one held function. None when nothing matches (or a name is ambiguous)."""
    if function.startswith("arn:"):
        return ledger.get(arns.canonical(function))
    matches = [h for h in ledger.holds() if arns.name(h.function) == function]
    return matches[0] if len(matches) == 1 else None


def release(
    function: str,
    ledger: Ledger,
    access: LambdaAccess,
    *,
    identity: str | None = None,
    clock: Callable[[], float] = time.time,
    deadline_seconds: float = 20.0,
    force: bool = False,
) -> ReleaseReport:
    """Restore ``function``'s previous reserved concurrency and forget the hold.

    "had none" deletes the reserved concurrency; a number puts it back. Re-enables mappings
    the throttle disabled. First the current value is read: anything but the 0 loopwatch set
    means someone changed it by hand while it was held, and their value is not overwritten
    (result ``changed``, hold kept) unless ``force``. Never raises for AWS errors: a failed
    release keeps the hold (so it can be retried) and the outcome says why; a function that
    no longer exists drops it.
    """
    hold = find_hold(ledger, function)
    if hold is None:
        reason = f"loopwatch holds nothing for {function}"
        return ReleaseReport((o.Outcome("release", function, o.NOT_HELD, reason),), ())
    return _release_hold(
        hold, ledger, access, identity or default_identity(), clock, deadline_seconds, force
    )


def release_incident(
    incident: str,
    ledger: Ledger,
    access: LambdaAccess,
    *,
    identity: str | None = None,
    clock: Callable[[], float] = time.time,
    deadline_seconds: float = 20.0,
    force: bool = False,
) -> ReleaseReport:
    """Release every function held for ``incident`` (an empty report when there is none)."""
    outcomes: list[o.Outcome] = []
    audit: list[o.AuditRecord] = []
    who = identity or default_identity()
    for hold in ledger.holds():
        if hold.incident == incident:
            report = _release_hold(hold, ledger, access, who, clock, deadline_seconds, force)
            outcomes.extend(report.outcomes)
            audit.extend(report.audit)
    return ReleaseReport(tuple(outcomes), tuple(audit))


def _release_hold(
    hold: Hold,
    ledger: Ledger,
    access: LambdaAccess,
    who: str,
    clock: Callable[[], float],
    deadline_seconds: float,
    force: bool,
) -> ReleaseReport:
    function = hold.function
    deadline = time.monotonic() + deadline_seconds

    def audit(action: str, result: str, new: int | None, by: str, reason: str) -> o.AuditRecord:
        return o.AuditRecord(
            action,
            result,
            function,
            hold.account,
            hold.incident,
            0,
            new,
            "release",
            by,
            clock(),
            reason,
        )

    def refused(result: str, reason: str) -> ReleaseReport:
        return ReleaseReport(
            (o.Outcome("release", function, result, reason, hold.previous),),
            (audit("release", result, None, who, reason),),
        )

    try:
        client, principal = access.lambda_for(function)
        if not force:
            current = call(
                partial(client.get_function_concurrency, FunctionName=function),
                "get_function_concurrency",
                function,
                deadline=deadline,
            ).get("ReservedConcurrentExecutions")
            if current != 0:
                now = "none" if current is None else current
                return refused(
                    o.CHANGED,
                    f"not restored, still held: its reserved concurrency is {now}, not the 0"
                    " loopwatch set, so someone changed it while it was held; `loopwatch"
                    f" release --force` sets it back to {_restored_value(hold.previous)}",
                )
        if hold.previous is None:
            call(
                partial(client.delete_function_concurrency, FunctionName=function),
                "delete_function_concurrency",
                function,
                deadline=deadline,
            )
        else:
            call(
                partial(
                    client.put_function_concurrency,
                    FunctionName=function,
                    ReservedConcurrentExecutions=hold.previous,
                ),
                "put_function_concurrency",
                function,
                deadline=deadline,
            )
    except AwsFailure as exc:
        if exc.code == "ResourceNotFound":
            try:
                _remember_released(ledger, hold, who, clock)
                ledger.remove(function)
            except LedgerError as ledger_exc:
                return refused(
                    o.FAILED, f"{exc.reason}; the hold could not be dropped: {ledger_exc}"
                )
            return refused(o.GONE, f"the function no longer exists; hold dropped ({exc.reason})")
        return refused(o.FAILED, f"not released, still held: {exc.reason}")

    by = f"{who} as {principal}"
    restored = (
        "reserved concurrency removed (had none)"
        if hold.previous is None
        else f"reserved concurrency restored to {hold.previous}"
    )
    records = [audit("release", o.RELEASED, hold.previous, by, restored)]
    enabled, failed = set_mappings_enabled(client, hold.mappings, True, deadline=deadline)
    records += [
        audit("enable-mapping", o.RELEASED, None, by, f"event source mapping {uuid} enabled")
        for uuid in enabled
    ]
    problems = [f"re-enable mapping {uuid} by hand: {why}" for uuid, why in failed]
    try:
        _remember_released(ledger, hold, by, clock)
        ledger.remove(function)
    except LedgerError as exc:  # restored all the same; only the bookkeeping is behind
        problems.append(f"the hold stays listed ({exc})")
    reason = "; ".join([restored, *problems])
    return ReleaseReport(
        (o.Outcome("release", function, o.RELEASED, reason, hold.previous, hold.mappings),),
        tuple(records),
    )


def _remember_released(ledger: Ledger, hold: Hold, by: str, clock: Callable[[], float]) -> None:
    """The incident's throttle is given back: no later finding of it throttles again
    (``loopwatch.actions.once``). Kept before the hold is dropped, so a crash between the two
    leaves the hold (still "held") rather than an incident that can be throttled anew."""
    if hold.incident is not None:
        ledger.remember(Acted(hold.incident, RELEASED, clock(), by))


def _restored_value(previous: int | None) -> str:
    return "none (no reserved concurrency)" if previous is None else str(previous)
