"""Stop a loop: set its functions' reserved concurrency to 0, remembering what was there.

    finding ──should_throttle?──► acted on before? ──► choose (policy) ──► per function:
        protected? ─► read ledger and current ─► held at 0 / already 0? ─► hourly budget?
        ─► dry-run: report │ enforce: ledger.put(hold) ─► PutFunctionConcurrency(0)
                                      ─► (optionally) disable its event source mappings

Everything here is synchronous boto3; ``Actions`` runs it with ``asyncio.to_thread``.
Nothing raises for an AWS or ledger problem: each function's outcome says what happened and
why, so the alert always goes out and says it (DESIGN §6). A hold in the ledger counts only
while AWS still shows the 0 loopwatch set.

An incident is acted on once (``loopwatch.actions.once``): once a throttle of it took effect,
the ledger remembers the incident, and no later finding of it throttles again, even after the
hold is released or undone by hand.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopwatch.actions import outcomes as o
from loopwatch.actions.aws import (
    AwsFailure,
    LambdaAccess,
    call,
    function_account,
    set_mappings_enabled,
)
from loopwatch.actions.ledger import THROTTLED, Acted, Hold, Ledger, LedgerError
from loopwatch.actions.once import acted_before
from loopwatch.actions.ratelimit import HourlyLimit
from loopwatch.actions.targets import choose, protected_by
from loopwatch.detect.findings import (
    ACTIVE,
    ESCALATED,
    OPENED,
    REVISED,
    Finding,
    LoopFinding,
    RunawayFinding,
)
from loopwatch.events import arns

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from loopwatch.settings import Settings

log = logging.getLogger(__name__)

OFF = "off"
DRY_RUN = "dry-run"
ENFORCE = "enforce"


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    mode: str = DRY_RUN
    policy: str = "all"
    protected: tuple[str, ...] = ()
    max_per_hour: int = 10
    deadline_seconds: float = 20.0
    disable_mappings: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottleConfig:
        return cls(
            mode=settings.throttle_mode,
            policy=settings.throttle_policy,
            protected=tuple(settings.protected_functions),
            max_per_hour=settings.throttle_max_per_hour,
            deadline_seconds=settings.throttle_deadline_seconds,
            disable_mappings=settings.throttle_disable_mappings,
        )


@dataclass(frozen=True, slots=True)
class ThrottleReport:
    """What throttling did for one finding: a sentence, each function's outcome, and the audit
    records the caller publishes (to ``loopwatch.findings``)."""

    mode: str
    summary: str
    outcomes: tuple[o.Outcome, ...] = ()
    audit: tuple[o.AuditRecord, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "summary": self.summary,
            "outcomes": [x.to_json() for x in self.outcomes],
        }


def not_throttled_because(finding: Finding) -> str | None:
    """Why ``finding`` calls for no throttle, or None when it does (an active, confirmed,
    unguarded loop that just opened, escalated, or was revised to active). Resolution never
    releases by itself: a person decides (a revision away from active does: ``Actions``)."""
    if isinstance(finding, RunawayFinding):
        return "runaway rates are alerted, not throttled: no loop was shown"
    if finding.change == REVISED and finding.status != ACTIVE:
        return f"the verdict was revised to {finding.status}: {finding.explanation}"
    if finding.change not in (OPENED, ESCALATED, REVISED):
        return "the incident resolved; throttles stay until `loopwatch release`"
    if finding.guarded:
        return "the loop is guarded and ends by itself"
    if finding.status != ACTIVE:
        return "the loop is latent, not active"
    if not finding.confirmed:  # never on a guess (DESIGN §6); the engine keeps these latent too
        return "the loop is not confirmed: " + "; ".join(finding.unknown)
    return None


def default_identity() -> str:
    return f"loopwatch@{socket.gethostname()}"


class Throttler:
    """Applies ``config`` to findings. Thread-safe: one finding is handled at a time, so the
    ledger's check-then-write (act once, then each function's hold) cannot race with itself."""

    def __init__(
        self,
        config: ThrottleConfig,
        ledger: Ledger,
        access: LambdaAccess,
        *,
        identity: str | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.access = access
        self.identity = identity or default_identity()
        self._clock = clock
        self.clock = clock  # wall clock, shared with the act guard and releases
        self._monotonic = monotonic
        self.limit = HourlyLimit(config.max_per_hour, clock)
        self._lock = threading.Lock()

    def throttle(self, finding: Finding, account: str | None = None) -> ThrottleReport:
        """Throttle what ``finding`` calls for under the configured mode and policy.

        Everything needed comes with the finding (DESIGN §6): the event source mappings that
        drive each function, and the rates ``highest-rate`` chooses by. Never raises for AWS
        errors: they are in the outcomes.
        """
        mode = self.config.mode
        if mode == OFF:
            return ThrottleReport(mode, "throttling is off (LOOPWATCH_THROTTLE_MODE=off)")
        why_not = not_throttled_because(finding)
        if why_not is not None or isinstance(finding, RunawayFinding):
            return ThrottleReport(mode, f"no throttle: {why_not}")
        with self._lock:  # one incident's check and record, not interleaved with another's
            return self._throttle_once(finding, account)

    def acted_on(self, incident: str) -> str | None:
        """Why ``incident`` is not throttled again (``loopwatch.actions.once``); None when
        loopwatch never acted on it, or the ledger cannot be read: then each function's
        throttle fails on the same ledger, changes nothing, and its outcome says why."""
        try:
            return acted_before(self.ledger.acted(incident))
        except LedgerError:
            return None

    def _throttle_once(self, finding: LoopFinding, account: str | None) -> ThrottleReport:
        mode = self.config.mode
        before = self.acted_on(finding.incident)
        if before is not None:
            return ThrottleReport(mode, f"no throttle: {before}")
        chosen = set(choose(finding.functions, self.config.policy, finding.rate_of))
        results: list[o.Outcome] = []
        audit: list[o.AuditRecord] = []
        for function in finding.functions:
            if function not in chosen:
                results.append(
                    o.Outcome(
                        "throttle", function, o.NOT_CHOSEN, "another function has the highest rate"
                    )
                )
                continue
            outcome, records = self._throttle_function(
                function,
                account or function_account(function),
                finding.incident,
                finding.mappings_of(function),
            )
            results.append(outcome)
            audit.extend(records)
        if any(r.result == o.THROTTLED for r in results):
            try:
                self.ledger.remember(
                    Acted(
                        finding.incident,
                        THROTTLED,
                        self._clock(),
                        self.identity,
                        finding.first_seen,
                    )
                )
            except LedgerError as exc:  # the holds are written: their check still acts once
                log.error("incident %s throttled but not remembered: %s", finding.incident, exc)
        return ThrottleReport(mode, summarize(results), tuple(results), tuple(audit))

    def _throttle_function(
        self, function: str, account: str | None, incident: str | None, mappings: tuple[str, ...]
    ) -> tuple[o.Outcome, list[o.AuditRecord]]:
        mode = self.config.mode
        pattern = protected_by(function, self.config.protected)
        if pattern is not None:
            return o.Outcome(
                "throttle", function, o.PROTECTED, f"protected (matches {pattern!r}): not touched"
            ), []
        try:
            held = self.ledger.get(function)
        except LedgerError as exc:
            return self._failed(function, account, incident, None, _unrecorded(exc))

        deadline = self._monotonic() + self.config.deadline_seconds
        try:
            client, principal = self.access.lambda_for(function)
            answer = call(
                lambda: client.get_function_concurrency(FunctionName=function),
                "get_function_concurrency",
                function,
                deadline=deadline,
                monotonic=self._monotonic,
            )
        except AwsFailure as exc:
            return self._failed(function, account, incident, None, exc.reason)
        # An absent key means no reserved concurrency: the function shares the account pool.
        previous = answer.get("ReservedConcurrentExecutions")
        who = f"{self.identity} as {principal}"
        undone = ""
        if held is not None:
            if previous == 0:
                reason = f"already held at 0 by loopwatch since {o.iso(held.since)} ({o.describe_value(held.previous)})"
                return o.Outcome("throttle", function, o.HELD, reason, held.previous), []
            # Someone gave the function concurrency back by hand while loopwatch held it: the
            # hold is stale, and the loop must still be stopped. What they set is the value to
            # give back now.
            undone = f"; loopwatch's hold since {o.iso(held.since)} was undone by hand"

        if previous == 0:
            reason = "reserved concurrency was already 0: nothing to change"
            if mode == ENFORCE:
                try:
                    self.ledger.put(self._hold(function, account, incident, 0, who, ()))
                except LedgerError as exc:
                    reason += f" ({exc}: not recorded)"
            return o.Outcome("throttle", function, o.HELD, reason, 0), []
        if not self.limit.try_acquire():
            reason = (
                f"not throttled: the budget of {self.config.max_per_hour} throttles per hour is"
                " spent (LOOPWATCH_THROTTLE_MAX_PER_HOUR)"
            )
            return o.Outcome("throttle", function, o.RATE_LIMITED, reason, previous), [
                self._audit(
                    "throttle",
                    o.RATE_LIMITED,
                    function,
                    account,
                    incident,
                    previous,
                    None,
                    who,
                    reason,
                )
            ]
        if mode != ENFORCE:
            reason = (
                f"dry-run: would set reserved concurrency 0 ({o.describe_value(previous)}{undone})"
            )
            if mappings and self.config.disable_mappings:
                reason += f" and disable mapping {', '.join(mappings)}"
            return o.Outcome("throttle", function, o.WOULD_THROTTLE, reason, previous), [
                self._audit(
                    "throttle",
                    o.WOULD_THROTTLE,
                    function,
                    account,
                    incident,
                    previous,
                    0,
                    who,
                    reason,
                )
            ]

        planned = mappings if self.config.disable_mappings else ()
        # The hold is durable before AWS changes: see loopwatch.actions.ledger. Without it the
        # previous value could not be given back, so nothing is changed.
        try:
            self.ledger.put(self._hold(function, account, incident, previous, who, planned))
        except LedgerError as exc:
            return self._failed(function, account, incident, previous, _unrecorded(exc), who)
        try:
            call(
                lambda: client.put_function_concurrency(
                    FunctionName=function, ReservedConcurrentExecutions=0
                ),
                "put_function_concurrency",
                function,
                deadline=deadline,
                monotonic=self._monotonic,
            )
        except AwsFailure as exc:
            reason = exc.reason
            try:
                self.ledger.remove(function)
            except LedgerError as ledger_exc:
                reason += f"; the hold stays in the ledger ({ledger_exc})"
            return self._failed(function, account, incident, previous, reason, who)
        reason = f"reserved concurrency set to 0 ({o.describe_value(previous)}{undone})"
        records = [
            self._audit(
                "throttle", o.THROTTLED, function, account, incident, previous, 0, who, reason
            )
        ]
        disabled, problems = self._disable_mappings(client, planned, deadline)
        if disabled != planned:
            try:
                self.ledger.put(self._hold(function, account, incident, previous, who, disabled))
            except LedgerError as exc:
                problems.append(f"the ledger still lists mappings {', '.join(planned)} ({exc})")
        for uuid in disabled:
            records.append(
                self._audit(
                    "disable-mapping",
                    o.THROTTLED,
                    function,
                    account,
                    incident,
                    None,
                    None,
                    who,
                    f"event source mapping {uuid} disabled",
                )
            )
        if disabled:
            reason += f"; disabled mapping {', '.join(disabled)}"
        if problems:
            reason += "; " + "; ".join(problems)
        return o.Outcome("throttle", function, o.THROTTLED, reason, previous, disabled), records

    def _disable_mappings(
        self, client: LambdaClient, planned: tuple[str, ...], deadline: float
    ) -> tuple[tuple[str, ...], list[str]]:
        # The loop was found through these mappings while they were enabled (a disabled mapping
        # closes nothing), so release re-enables them without reading their state first.
        done, failed = set_mappings_enabled(
            client, planned, False, deadline=deadline, monotonic=self._monotonic
        )
        return tuple(done), [why for _, why in failed]

    def _failed(
        self,
        function: str,
        account: str | None,
        incident: str | None,
        previous: int | None,
        reason: str,
        who: str | None = None,
    ) -> tuple[o.Outcome, list[o.AuditRecord]]:
        record = self._audit(
            "throttle",
            o.FAILED,
            function,
            account,
            incident,
            previous,
            None,
            who or self.identity,
            reason,
        )
        return o.Outcome("throttle", function, o.FAILED, reason, previous), [record]

    def _hold(
        self,
        function: str,
        account: str | None,
        incident: str | None,
        previous: int | None,
        who: str,
        mappings: tuple[str, ...],
    ) -> Hold:
        return Hold(function, account, incident, previous, self._clock(), who, mappings)

    def _audit(
        self,
        action: str,
        result: str,
        function: str,
        account: str | None,
        incident: str | None,
        previous: int | None,
        new: int | None,
        who: str,
        reason: str,
    ) -> o.AuditRecord:
        return o.AuditRecord(
            action,
            result,
            function,
            account,
            incident,
            previous,
            new,
            self.config.mode,
            who,
            self._clock(),
            reason,
        )


def _unrecorded(exc: LedgerError) -> str:
    return f"not throttled: {exc}; loopwatch changes only what it can record to give back"


def summarize(outcomes: Sequence[o.Outcome]) -> str:
    """ "throttled thumb (was 25); protected auth" — one line for alerts and logs."""
    return "; ".join(f"{x.result} {arns.name(x.function)}: {x.reason}" for x in outcomes)
