"""Act on findings: throttle what policy allows, then alert every sink, once per state change.

This is what the service's agent on ``loopwatch.findings`` and ``loopwatch replay --act`` call::

    async with Actions.from_settings(settings, dead_letter=publish_deadletter) as actions:
        report = await actions.handle(finding, account)
        for record in report.audit:
            await findings_topic.send(value=record.to_json())

``handle`` returns once the throttle is done (boto3 in a worker thread, bounded by
``throttle_deadline_seconds`` per function) and the alert is enqueued; delivery runs on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loopwatch.actions.alert import Alert, alert_for, idempotency_key
from loopwatch.actions.aws import LambdaAccess
from loopwatch.actions.delivery import DeadLetterHandler, DeliveredHandler, Dispatcher, RetryPolicy
from loopwatch.actions.ledger import JsonFileLedger, Ledger
from loopwatch.actions.outcomes import AuditRecord
from loopwatch.actions.sinks import Sink, sink_for
from loopwatch.actions.sinks.webhook import WebhookSink
from loopwatch.actions.throttle import ThrottleConfig, Throttler, ThrottleReport
from loopwatch.detect.findings import ACTIVE, Finding, LoopFinding

if TYPE_CHECKING:
    from loopwatch.settings import Settings

log = logging.getLogger(__name__)


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
    ) -> None:
        self.dispatcher = dispatcher
        self.throttler = throttler
        self.loops_url = loops_url
        self.alert_latent = alert_latent

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        ledger: Ledger | None = None,
        access: LambdaAccess | None = None,
        dead_letter: DeadLetterHandler | None = None,
        on_delivered: DeliveredHandler | None = None,
    ) -> Actions:
        """Everything from one settings object; the service passes its own ledger and
        dead-letter publisher. Raises ValueError for an alert URL ``sinks_from_settings``
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
            dispatcher, throttler, loops_url=loops_url(settings), alert_latent=settings.alert_latent
        )

    async def __aenter__(self) -> Actions:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispatcher.close()

    async def handle(
        self,
        finding: Finding,
        account: str | None = None,
    ) -> ActionReport:
        """Throttle (per mode and policy) and enqueue one alert for ``finding``.

        A repeat of a state change already handled is folded: no throttle call, no alert.
        Never raises for AWS or webhook failures; they are in the report and the alert.
        """
        key = idempotency_key(finding, account)
        if self.dispatcher.seen(key):
            folded = ThrottleReport(
                self.throttler.config.mode, "folded into the alert already sent"
            )
            return ActionReport(alert_for(finding, account, folded, self.loops_url), True, folded)
        try:
            report = await asyncio.to_thread(self.throttler.throttle, finding, account)
        except Exception as exc:
            # The throttle turns AWS and ledger failures into outcomes; this is for a bug in it,
            # which must not cost the alert (DESIGN §6).
            log.exception("throttling failed")
            report = ThrottleReport(
                self.throttler.config.mode, f"throttle failed: {type(exc).__name__}: {exc}"
            )
        alert = alert_for(finding, account, report, self.loops_url)
        if not worth_alerting(finding, self.alert_latent):
            return ActionReport(alert, False, report, alerted=False)
        sent = self.dispatcher.enqueue(alert)
        return ActionReport(alert, not sent, report, alerted=sent)


def worth_alerting(finding: Finding, latent_too: bool = False) -> bool:
    """Whether people hear of this finding.

    A loop is news once it runs hot: opened active, escalated, and resolved after it was
    active; a runaway always is. A latent loop (a guarded write-back stays latent for good)
    alerts only when asked for with ``alert_latent``: otherwise it would page for loops
    that end by themselves.
    """
    if not isinstance(finding, LoopFinding):
        return True
    return finding.status == ACTIVE or latent_too
