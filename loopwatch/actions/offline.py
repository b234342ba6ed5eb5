"""``loopwatch replay --act``: act on the loops a replay found, through the same ``Actions``.

    replay findings ──► opened / escalated / revised loop changes ──► Actions.handle ──► alerts,
                         held_back (the act guard, on event time) ──────┘   throttles, releases
                                                                 └─► wait for delivery (bounded)

Only loop incidents are acted on: runaway rates and resolutions of old logs are history, not
something to page about. The act guard applies on event time (``loopwatch.actions.guard``): a
finding at event time t is throttled only if no later finding of its incident at or before
t + ``act_after_seconds`` revised, resolved or withdrew it or showed it no longer active; it is
alerted either way. A revision away from active releases what an earlier one throttled, as live. The caller picks the throttle mode (``--throttle``, dry-run unless
told ``enforce``); the ledger is the shared file, so ``loopwatch release`` undoes an enforce.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loopwatch.actions.aws import LambdaAccess, function_account
from loopwatch.actions.delivery import DeadLetter, Delivered
from loopwatch.actions.guard import held_back
from loopwatch.actions.ledger import Ledger
from loopwatch.actions.run import ActionReport, Actions
from loopwatch.detect.explain import draw
from loopwatch.detect.findings import ESCALATED, OPENED, REVISED, Finding, LoopFinding

if TYPE_CHECKING:
    from loopwatch.settings import Settings


@dataclass(slots=True)
class OfflineResult:
    reports: list[ActionReport] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per action and per failed delivery, for people (stderr)."""
        out = []
        for report in self.reports:
            alert, finding = report.alert, report.alert.finding
            if report.folded or not isinstance(finding, LoopFinding):
                continue
            sent = sum(1 for d in self.delivered if d.alert.key == alert.key)
            told = (
                f"sent to {sent} sink(s)"
                if report.alerted
                else "not alerted: not active (LOOPWATCH_ALERT_LATENT=true alerts latent loops)"
            )
            out.append(
                f"alert {alert.state} {draw(finding.cycle)}: {told}"
                f"; throttle ({report.throttle.mode}): {report.throttle.summary}"
            )
        for letter in self.dead:
            out.append(
                f"alert {letter.alert.key} NOT delivered to {letter.sink}: {letter.last_error}"
            )
        return out


def acted_on(finding: Finding) -> bool:
    return isinstance(finding, LoopFinding) and finding.change in (OPENED, ESCALATED, REVISED)


async def act_offline(
    findings: Iterable[Finding],
    settings: Settings,
    *,
    ledger: Ledger | None = None,
    access: LambdaAccess | None = None,
) -> OfflineResult:
    """Handle every opened/escalated/revised loop finding in order (the act guard on event
    time: ``held_back``), then wait until each alert is delivered or dead-lettered (bounded
    by ``alert_deadline_seconds``). Raises ValueError
    for an alert URL ``sinks_from_settings`` refuses; a ledger or AWS failure is in each
    alert's action instead, and the alert goes out all the same."""
    result = OfflineResult()
    ordered = list(findings)
    hold = held_back(ordered, settings.act_after_seconds)
    async with Actions.from_settings(
        settings,
        ledger=ledger,
        access=access,
        dead_letter=result.dead.append,
        on_delivered=result.delivered.append,
        act_after=0.0,  # the guard is applied on event time above, not on this run's clock
    ) as actions:
        for index, finding in enumerate(ordered):
            if not acted_on(finding) or not isinstance(finding, LoopFinding):
                continue
            account = function_account(finding.functions[0]) if finding.functions else None
            report = await actions.handle(finding, account, hold_back=hold.get(index))
            result.reports.append(report)
        await actions.dispatcher.drain(settings.alert_deadline_seconds + 1.0)
    return result
