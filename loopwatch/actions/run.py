"""Act on findings: throttle what policy allows, then alert every sink, once per state change.

This is what the service's agent on ``loopwatch.findings`` and ``loopwatch replay --act`` call::

    async with Actions.from_settings(settings, dead_letter=publish_deadletter) as actions:
        report = await actions.handle(finding, account)
        for record in report.audit:
            await findings_topic.send(value=record.to_json())

``handle`` returns once the alert is enqueued (delivery runs on) and the throttle is either
done (boto3 in a worker thread, bounded by ``throttle_deadline_seconds`` per function) or armed
to run ``act_after_seconds`` later if the verdict still holds then (``loopwatch.actions.guard``;
its audit records go to ``on_audit``, its result in an ``acted`` alert). A revised finding that
is no longer active disarms the incident's throttle, or releases the one taken, at once. An
incident already throttled or released is never throttled again (``loopwatch.actions.once``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from loopwatch.actions.alert import ACTED, Alert, alert_for, idempotency_key
from loopwatch.actions.aws import LambdaAccess
from loopwatch.actions.delivery import DeadLetterHandler, DeliveredHandler, Dispatcher, RetryPolicy
from loopwatch.actions.guard import Guard, due_text, ends_verdict, incident_of
from loopwatch.actions.ledger import JsonFileLedger, Ledger, LedgerError
from loopwatch.actions.outcomes import AuditRecord, iso
from loopwatch.actions.release import release_incident
from loopwatch.actions.sinks import Sink, sink_for
from loopwatch.actions.sinks.webhook import WebhookSink
from loopwatch.actions.throttle import (
    DRY_RUN,
    ENFORCE,
    OFF,
    ThrottleConfig,
    Throttler,
    ThrottleReport,
    not_throttled_because,
    summarize,
)
from loopwatch.detect.findings import ACTIVE, ESCALATED, OPENED, REVISED, Finding, LoopFinding

if TYPE_CHECKING:
    from loopwatch.settings import Settings

log = logging.getLogger(__name__)

AuditHandler = Callable[[Sequence[AuditRecord]], Awaitable[None]]
"""Publishes the audit records of a throttle taken at its deadline (the service: signed, to
``<prefix>.findings``); those of ``handle`` are in its report instead."""


@dataclass(frozen=True, slots=True)
class ActionReport:
    """What ``handle`` did: the alert (``folded``: a repeat, not sent again; ``alerted``: sent
    to the sinks, which a latent finding is not unless ``alert_latent``) and the throttle."""

    alert: Alert
    folded: bool
    throttle: ThrottleReport
    alerted: bool = True

    @property
    def audit(self) -> tuple[AuditRecord, ...]:
        """Records to publish on ``loopwatch.findings``."""
        return self.throttle.audit


def ledger_from_settings(settings: Settings, *, check: bool = True) -> JsonFileLedger:
    """The JSON-file ledger at ``ledger_path`` (default ``<data_dir>/actions-ledger.json``).
    Raises LedgerError (a ValueError) when the file exists but cannot be read, or its folder
    cannot be written; with ``check=False`` each operation raises it instead (see
    ``JsonFileLedger``), so acting goes on and every throttle says why it failed."""
    path = settings.ledger_path or str(Path(settings.data_dir) / "actions-ledger.json")
    return JsonFileLedger(path, check=check)


def sinks_from_settings(settings: Settings) -> list[Sink]:
    """The alert sinks of ``alert_urls``. Raises ValueError for a URL that is not http(s), or
    is http:// to another machine without ``alert_allow_http``."""
    return [
        sink_for(url, settings.alert_secret, allow_http=settings.alert_allow_http)
        for url in settings.alert_urls
    ]


def access_from_settings(settings: Settings) -> LambdaAccess:
    """Lambda clients from the ambient AWS credentials (``AWS_*`` env, profile, instance
    role), assuming ``throttle_role_template`` per account when set."""
    return LambdaAccess(settings.throttle_role_template)


def loops_url(settings: Settings) -> str:
    base = settings.public_url or f"http://{settings.web_host}:{settings.web_port}"
    return base.rstrip("/") + "/loops"


class Actions:
    def __init__(
        self,
        dispatcher: Dispatcher,
        throttler: Throttler,
        *,
        loops_url: str | None = None,
        alert_latent: bool = False,
        act_after: float = 0.0,
        on_audit: AuditHandler | None = None,
    ) -> None:
        """``act_after``: seconds an active verdict must hold before its throttle (0: at
        once, as ``replay --act`` does after applying the rule on event time itself)."""
        self.dispatcher = dispatcher
        self.throttler = throttler
        self.loops_url = loops_url
        self.alert_latent = alert_latent
        self.on_audit = on_audit
        self.guard = Guard(act_after, self._act_when_due, clock=throttler.clock)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        ledger: Ledger | None = None,
        access: LambdaAccess | None = None,
        dead_letter: DeadLetterHandler | None = None,
        on_delivered: DeliveredHandler | None = None,
        on_audit: AuditHandler | None = None,
        act_after: float | None = None,
    ) -> Actions:
        """Everything from one settings object; the service passes its own ledger, dead-letter
        and audit publishers. ``act_after`` overrides ``act_after_seconds``. Raises ValueError for an alert URL ``sinks_from_settings``
        refuses; never for the ledger file (its failures are in each throttle's outcome).
        Logs one warning when generic webhooks would go out unsigned."""
        sinks = sinks_from_settings(settings)
        unsigned = [s.label for s in sinks if isinstance(s, WebhookSink) and not s.signs]
        if unsigned:
            log.warning(
                "alerts to %s are not signed: set LOOPWATCH_ALERT_SECRET so receivers can tell"
                " them from forgeries",
                ", ".join(unsigned),
            )
        dispatcher = Dispatcher(
            sinks,
            RetryPolicy.from_settings(settings),
            dead_letter=dead_letter,
            on_delivered=on_delivered,
            max_pending=settings.alert_max_pending,
            dedupe_size=settings.alert_dedupe_size,
        )
        throttler = Throttler(
            ThrottleConfig.from_settings(settings),
            ledger if ledger is not None else ledger_from_settings(settings, check=False),
            access if access is not None else access_from_settings(settings),
        )
        return cls(
            dispatcher,
            throttler,
            loops_url=loops_url(settings),
            alert_latent=settings.alert_latent,
            act_after=settings.act_after_seconds if act_after is None else act_after,
            on_audit=on_audit,
        )

    async def __aenter__(self) -> Actions:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Armed throttles are left unacted (DESIGN §6: never on a stale verdict); one running
        # now gets its AWS deadline to finish and say what it did.
        await self.guard.close(self.throttler.config.deadline_seconds + 1.0)
        await self.dispatcher.close()

    async def handle(
        self,
        finding: Finding,
        account: str | None = None,
        *,
        hold_back: str | None = None,
    ) -> ActionReport:
        """Throttle (per mode, policy and the act guard) and enqueue one alert for ``finding``.

        An active loop is alerted at once; its throttle is armed for ``act_after`` seconds
        later (the alert's ``throttle_at``) unless that is 0. A later finding of the incident
        that ends the verdict disarms it; a revision away from active also releases what
        loopwatch holds for the incident. ``hold_back`` (``replay --act``): no throttle, for
        this reason. A repeat of a state change already handled is folded: no throttle call,
        no alert. Never raises for AWS or webhook failures; they are in the report and the alert.
        """
        key = idempotency_key(finding, account)
        if self.dispatcher.seen(key):
            folded = ThrottleReport(
                self.throttler.config.mode, "folded into the alert already sent"
            )
            return ActionReport(alert_for(finding, account, folded, self.loops_url), True, folded)
        if not isinstance(finding, LoopFinding):
            report = await self._throttle(finding, account)
            return self._alert(finding, account, report)
        mode = self.throttler.config.mode
        incident = incident_of(finding, account)
        await self.guard.settle(incident)  # a throttle running at its deadline finishes first
        why = ends_verdict(finding)
        disarmed = self.guard.disarm(incident) if why is not None else None
        note = None if disarmed is None else f"throttle due at {iso(disarmed.at)} cancelled: {why}"
        if finding.change == REVISED and finding.status != ACTIVE:
            report = await self._revoke(finding, note)
            told = note is not None or bool(report.outcomes) or self._told_active(finding, account)
            return self._alert(finding, account, report, told=told)
        if hold_back is not None:
            return self._alert(finding, account, _noted(ThrottleReport(mode, hold_back), note))
        if mode != OFF and not_throttled_because(finding) is None:
            # Act once: checked before a throttle is promised, and again when it is taken.
            before = await asyncio.to_thread(self.throttler.acted_on, finding.incident)
            if before is not None:
                report = _noted(ThrottleReport(mode, f"no throttle: {before}"), note)
                return self._alert(finding, account, report)
        if self.guard.act_after > 0 and mode != OFF and not_throttled_because(finding) is None:
            at = self.guard.arm(finding, account)
            report = _noted(
                ThrottleReport(mode, due_text(at, self.guard.act_after, mode == DRY_RUN)), note
            )
            return self._alert(finding, account, report, throttle_at=at)
        report = _noted(await self._throttle(finding, account), note)
        return self._alert(finding, account, report)

    def _alert(
        self,
        finding: Finding,
        account: str | None,
        report: ThrottleReport,
        *,
        throttle_at: float | None = None,
        told: bool = False,
    ) -> ActionReport:
        alert = alert_for(finding, account, report, self.loops_url, throttle_at=throttle_at)
        if not worth_alerting(finding, self.alert_latent, told):
            return ActionReport(alert, False, report, alerted=False)
        sent = self.dispatcher.enqueue(alert)
        return ActionReport(alert, not sent, report, alerted=sent)

    async def _throttle(self, finding: Finding, account: str | None) -> ThrottleReport:
        try:
            return await asyncio.to_thread(self.throttler.throttle, finding, account)
        except Exception as exc:
            # The throttle turns AWS and ledger failures into outcomes; this is for a bug in it,
            # which must not cost the alert (DESIGN §6).
            log.exception("throttling failed")
            return ThrottleReport(
                self.throttler.config.mode, f"throttle failed: {type(exc).__name__}: {exc}"
            )

    async def _act_when_due(self, finding: LoopFinding, account: str | None, at: float) -> None:
        """The guard's deadline came and the verdict held: throttle, publish the audit, and
        tell people what was done (an ``acted`` alert)."""
        report = await self._throttle(finding, account)
        if report.audit and self.on_audit is not None:
            try:
                await self.on_audit(report.audit)
            except Exception:  # the throttle is done and the ledger file has it
                log.exception("audit records of a throttle not published")
        alert = alert_for(finding, account, report, self.loops_url, throttle_at=at, event=ACTED)
        self.dispatcher.enqueue(alert)

    async def _revoke(self, finding: LoopFinding, note: str | None) -> ThrottleReport:
        """DESIGN §5, "Revocation": the verdict is no longer active, so what loopwatch holds
        for the incident is released at once (as ``loopwatch release --incident`` does),
        with audit records; in dry-run or off it is only said."""
        mode = self.throttler.config.mode
        said = [note] if note is not None else []
        revised = f"the verdict was revised to {finding.status}"
        try:
            holds = [h for h in self.throttler.ledger.holds() if h.incident == finding.incident]
        except LedgerError as exc:
            said.append(f"throttles of this incident not released: {exc}")
            return ThrottleReport(mode, "; ".join(said))
        if not holds:
            said.append(f"no throttle: {revised}")
            return ThrottleReport(mode, "; ".join(said))
        if mode != ENFORCE:
            said.append(
                f"{revised}, but {len(holds)} throttle(s) loopwatch holds for this incident are"
                f" not released in {mode} mode: `loopwatch release --incident {finding.incident}`"
            )
            return ThrottleReport(mode, "; ".join(said))
        config = self.throttler.config
        try:
            done = await asyncio.to_thread(
                release_incident,
                finding.incident,
                self.throttler.ledger,
                self.throttler.access,
                identity=self.throttler.identity,
                clock=self.throttler.clock,
                deadline_seconds=config.deadline_seconds,
            )
        except Exception as exc:  # a bug in release must not cost the alert
            log.exception("releasing a revised incident failed")
            said.append(f"release failed: {type(exc).__name__}: {exc}")
            return ThrottleReport(mode, "; ".join(said))
        audit = tuple(replace(r, reason=f"{r.reason} ({revised})") for r in done.audit)
        said.append(f"{revised}, so loopwatch gives back its throttle: {summarize(done.outcomes)}")
        return ThrottleReport(mode, "; ".join(said), done.outcomes, audit)

    def _told_active(self, finding: LoopFinding, account: str | None) -> bool:
        """Whether people were alerted that this episode was active."""
        return any(
            self.dispatcher.seen(idempotency_key(replace(finding, change=change), account))
            for change in (OPENED, ESCALATED)
        )


def _noted(report: ThrottleReport, note: str | None) -> ThrottleReport:
    if note is None:
        return report
    return replace(report, summary=f"{note}; {report.summary}")


def worth_alerting(finding: Finding, latent_too: bool = False, told: bool = False) -> bool:
    """Whether people hear of this finding.

    A loop is news once it runs hot: opened active, escalated, and resolved after it was
    active; a runaway always is. A latent loop (a guarded write-back stays latent for good)
    alerts only when asked for with ``alert_latent``: otherwise it would page for loops
    that end by themselves. A revision away from active is news to those ``told`` it was
    active (or whose throttle it cancels or releases).
    """
    if not isinstance(finding, LoopFinding):
        return True
    return finding.status == ACTIVE or latent_too or (finding.change == REVISED and told)
