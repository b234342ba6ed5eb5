"""The findings side of a worker: alert and throttle on what detection published.

    <prefix>.findings ──agent──► kind loop/runaway ──► Actions.handle ──► alert sinks (background)
          ▲                      (audit: skipped)          │               └─► <prefix>.deadletter
          └──────── audit records, keyed by function ARN ◄─┘ throttle (boto3, in a thread)

Never on the detection path: detection only *publishes* findings; this agent reads them back
from Kafka on its own stream. Faust pauses a partition whose stream buffer is full, so a slow
webhook or AWS call backs up the findings partitions only, never cloudtrail/invocations.
Each throttle is bounded by ``throttle_deadline_seconds``; delivery runs in the background.

At-least-once: a finding is acked after ``handle`` returns, so a crash redelivers it. A repeat
is folded by its idempotency key while the worker lives (no second alert, no second throttle
call); after a restart the throttle is still idempotent (the ledger says "held"), and a
receiver may see the alert again with the same ``X-Loopwatch-Idempotency-Key``.

Durable throttle state — the ledger — is the JSON file of ``ledger_from_settings``
(``LOOPWATCH_LEDGER_PATH``), written before AWS is changed and shared with ``loopwatch
release`` / ``loopwatch actions`` on the same host or volume. Its copy in Kafka is the audit
stream: at start the agent folds the audit records on the findings topic into holds and adds
those the file lacks (a lost volume, a new host). The file wins where both know a function:
it is written first.

The agent runs only when there is something to act with: alert URLs, or enforce mode.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from faust.types import StreamT

from loopwatch.actions import (
    ActionReport,
    Actions,
    DeadLetter,
    LambdaAccess,
    Ledger,
    ledger_from_settings,
    sink_for,
)
from loopwatch.actions.auditlog import holds_from_audit
from loopwatch.detect.findings import LoopFinding, finding_from_json
from loopwatch.service.audit import read_audit
from loopwatch.service.topics import DEADLETTER, FINDINGS
from loopwatch.settings import Settings

log = logging.getLogger(__name__)

Send = Callable[[str, bytes | None, bytes], Awaitable[None]]  # topic name, key, value


def actions_wanted(settings: Settings) -> bool:
    """Whether a worker runs the actions agent: alerts configured, or throttling enforced.

    Dry-run alone with nowhere to say it would only read AWS for nothing.
    """
    return bool(settings.alert_urls) or settings.throttle_mode == "enforce"


def merge_audit(ledger: Ledger, records: list[dict[str, object]]) -> int:
    """Add the holds the audit records show and ``ledger`` lacks; how many were added."""
    added = 0
    for function, hold in holds_from_audit(records).items():
        if ledger.get(function) is None:
            ledger.put(hold)
            added += 1
    return added


class LiveActions:
    """The actions agent's work, without Faust: ``handle`` one findings-topic message."""

    def __init__(
        self,
        settings: Settings,
        send: Send,
        *,
        ledger: Ledger | None = None,
        access: LambdaAccess | None = None,
    ) -> None:
        """Raises ValueError for an alert URL that is not http(s), so a worker refuses to
        start rather than run without its alerts."""
        for url in settings.alert_urls:
            sink_for(url, settings.alert_secret)
        self.settings = settings
        self.send = send
        self.ledger = ledger
        self.access = access
        # Findings acted on ("acted"), repeats folded ("folded"), values that were no finding
        # ("skipped"), failures ("failed"): for logs and tests, from the event loop only.
        self.stats: Counter[str] = Counter()

    async def run(self, stream: StreamT[bytes]) -> None:
        """The Faust agent body: open the ledger, merge the audit stream, act on each finding."""
        settings = self.settings
        try:
            ledger = self.ledger if self.ledger is not None else ledger_from_settings(settings)
        except ValueError as exc:
            # Throttling without a readable ledger could lose values that must be given back:
            # alert only, and say so.
            log.error("actions ledger unreadable, throttling switched off: %s", exc)
            settings = settings.model_copy(update={"throttle_mode": "off"})
            ledger = None
        if ledger is not None:
            await self._rebuild(ledger)
        async with Actions.from_settings(
            settings, ledger=ledger, access=self.access, dead_letter=self._dead_letter
        ) as actions:
            async for event in stream.events():
                await self.handle(actions, event.message.value)

    async def handle(self, actions: Actions, value: bytes | None) -> ActionReport | None:
        """Act on one findings-topic value; None when it is not a finding (audit records,
        unreadable JSON). Never raises for a bad message or an action failure."""
        try:
            document = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, dict) or document.get("kind") not in ("loop", "runaway"):
            self.stats["skipped"] += 1
            return None
        try:
            finding, account = finding_from_json(document)
        except ValueError as exc:
            log.warning("finding not acted on: %s", exc)
            self.stats["skipped"] += 1
            return None
        try:
            # The finding carries its mappings and rates: any worker can act on it (DESIGN §6).
            report = await actions.handle(finding, account)
        except Exception:
            # A bug in one action must not stop the agent (and with it every later alert).
            log.exception("acting on a finding failed")
            self.stats["failed"] += 1
            return None
        self.stats["folded" if report.folded else "acted"] += 1
        for record in report.audit:
            await self.send(FINDINGS, record.function.encode(), orjson.dumps(record.to_json()))
        return report

    async def _rebuild(self, ledger: Ledger) -> None:
        try:
            added = merge_audit(ledger, await read_audit(self.settings))
        except Exception as exc:  # the file ledger still works without it
            log.warning("audit records not read back; the ledger file alone is used: %s", exc)
            return
        if added:
            log.info(
                "ledger: %d holds restored from the audit records on the findings topic", added
            )

    async def _dead_letter(self, letter: DeadLetter) -> None:
        finding: Any = letter.alert.finding
        key = finding.incident if isinstance(finding, LoopFinding) else finding.function
        await self.send(DEADLETTER, key.encode(), orjson.dumps(letter.to_json()))
