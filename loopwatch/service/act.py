"""The findings side of a worker: alert and throttle on what detection published.

    <prefix>.findings ──agent──► signed? ──► kind loop/runaway ──► Actions.handle ──► alert sinks
          ▲                        │          (audit: skipped)            │      (background)
          │                        └─ no ──► <prefix>.deadletter ◄────────┼── undelivered alerts
          └──────── signed audit records, keyed by function ARN ◄─────────┘ throttle (boto3)

Never on the detection path: detection only *publishes* findings; this agent reads them back
from Kafka on its own stream. Faust pauses a partition whose stream buffer is full, so a slow
webhook or AWS call backs up the findings partitions only, never cloudtrail/invocations.
Each throttle is bounded by ``throttle_deadline_seconds``; delivery runs in the background.

At-least-once: a finding is acked after ``handle`` returns, so a crash redelivers it. A repeat
is folded by its idempotency key while the worker lives (no second alert, no second throttle
call); after a restart the throttle is still idempotent (the ledger says "held"), and a
receiver may see the alert again with the same ``X-Loopwatch-Idempotency-Key``.

Act once, on fresh evidence (DESIGN §6):
- an incident loopwatch throttled or released is never throttled again: the ledger remembers
  it (``loopwatch.actions.once``), and the audit stream rebuilds that memory on a new host;
- a finding whose records are older than ``act_max_age_seconds`` (event time against the wall
  clock) is history: alerted, never throttled;
- a consumer group with no offsets on the findings topic (a new ``LOOPWATCH_APP_ID``, lost
  offsets) starts at its end: what was there before this worker started is skipped.

Acting waits for late records; alerting does not (DESIGN §6, ``loopwatch.actions.guard``): an
active loop alerts at once, saying when it will be throttled, and the throttle is armed for
``LOOPWATCH_ACT_AFTER_SECONDS`` later. The agent keeps what it has read of each incident: a
later finding that revises, resolves or withdraws it disarms the throttle; one that still holds
the verdict keeps it armed. The check at the deadline is a task of its own, never a wait in the
stream. A revised finding that is no longer active releases what loopwatch holds for the
incident at once (signed audit records, an alert). Armed throttles live in this worker's memory
only: stopping (or losing the partition) leaves them unacted, and a worker that reads the
finding again (a redelivery after a crash) arms it afresh from then, so whatever it reads next
about the incident still disarms it.

Durable throttle state — the ledger — is the JSON file of ``ledger_from_settings``
(``LOOPWATCH_LEDGER_PATH``), written before AWS is changed and shared with ``loopwatch
release`` / ``loopwatch actions`` on the same host or volume. Its copy in Kafka is the audit
stream: at start the agent folds the audit records on the findings topic into holds and adds
those the file lacks (a lost volume, a new host). The file wins where both know a function:
it is written first.

Nothing read back is trusted without proof that a worker of this deployment wrote it
(DESIGN §6, ``loopwatch.trust``): findings and audit records carry an HMAC under
``LOOPWATCH_STATE_SECRET``, and one without a valid HMAC is dead-lettered, never acted on, never
folded into a hold. Without a secret, enforce mode refuses to start; dry-run and alert-only
workers publish unsigned, alert on the findings they read, and rebuild no hold.

A ledger or AWS failure never costs the alert: the throttle's outcome says what failed, and
an unreadable ledger file makes every throttle fail (and say so) until it is fixed.

The agent runs only when there is something to act with: alert URLs, or enforce mode.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from faust.types import StreamT

from loopwatch.actions import (
    ActionReport,
    Actions,
    DeadLetter,
    LambdaAccess,
    Ledger,
    LedgerError,
    ledger_from_settings,
)
from loopwatch.actions.auditlog import acted_from_audit, holds_from_audit
from loopwatch.actions.outcomes import AuditRecord
from loopwatch.actions.run import sinks_from_settings
from loopwatch.detect.findings import Finding, LoopFinding, finding_from_json
from loopwatch.events.times import format_time
from loopwatch.service.audit import history_ends, read_audit
from loopwatch.service.processor import MAX_DEAD_LETTER_BYTES
from loopwatch.service.topics import DEADLETTER, FINDINGS
from loopwatch.settings import Settings
from loopwatch.trust import RecordKey, key_from_settings, seal, trusted

log = logging.getLogger(__name__)

Send = Callable[[str, bytes | None, bytes], Awaitable[None]]  # topic name, key, value


def actions_wanted(settings: Settings) -> bool:
    """Whether a worker runs the actions agent: alerts configured, or throttling enforced.

    Dry-run alone with nowhere to say it would only read AWS for nothing.
    """
    return bool(settings.alert_urls) or settings.throttle_mode == "enforce"


def merge_audit(ledger: Ledger, records: list[dict[str, object]], key: RecordKey) -> int:
    """Add the holds, and the incidents acted on, that the audit records signed with ``key``
    show and ``ledger`` lacks; how many holds were added."""
    added = 0
    for function, hold in holds_from_audit(records, key).items():
        if ledger.get(function) is None:
            ledger.put(hold)
            added += 1
    # Act once across hosts: what the audit stream shows loopwatch did for an incident, and
    # the file does not know, is remembered too.
    missing = [
        a
        for a in acted_from_audit(records, key)
        if not any(k.what == a.what for k in ledger.acted(a.incident))
    ]
    if missing:
        ledger.remember(*missing)
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Raises ValueError for settings a worker must not run with, so it refuses to start:
        an alert URL ``sinks_from_settings`` refuses, enforce mode without a state secret (it
        could not tell its own records from forged ones), or a secret that is too short."""
        sinks_from_settings(settings)
        self.key = key_from_settings(settings)
        if self.key is None and settings.throttle_mode == "enforce":
            raise ValueError(
                "LOOPWATCH_THROTTLE_MODE=enforce needs LOOPWATCH_STATE_SECRET (the key that"
                " signs findings and audit records), e.g. `openssl rand -hex 32`"
            )
        self.settings = settings
        self.send = send
        self.ledger = ledger
        self.access = access
        # Findings acted on ("acted"), repeats folded ("folded"), values that were no finding
        # ("skipped"), records refused for their signature ("refused"), failures ("failed"):
        # for logs and tests, from the event loop only.
        self.stats: Counter[str] = Counter()
        self._actions: Actions | None = None  # while ``run`` is acting
        self.clock = clock
        # Findings this worker's own detection publishes are younger than this, so a group
        # that starts from the end of the topic never skips them (``_history_ends``).
        self.started = clock()

    async def run(self, stream: StreamT[bytes]) -> None:
        """The Faust agent body: open the ledger, merge the audit stream, act on each finding."""
        if self.key is None:
            log.warning(
                "LOOPWATCH_STATE_SECRET is not set: findings are published unsigned and alerted"
                " on as read (anyone who can write to %s can raise an alert), and no hold is"
                " rebuilt from its audit records",
                self.settings.topic(FINDINGS),
            )
        ledger, usable = self.ledger, True
        if ledger is None:
            try:
                ledger = ledger_from_settings(self.settings)
            except LedgerError as exc:
                # Alerts go on; each throttle fails until the file is fixed, and says so.
                log.error("%s: every throttle fails, and its alert says so, until it is fixed", exc)
                ledger, usable = ledger_from_settings(self.settings, check=False), False
        if usable and self.key is not None:  # without a key, the warning above said it
            await self.rebuild(ledger)
        async with Actions.from_settings(
            self.settings,
            ledger=ledger,
            access=self.access,
            dead_letter=self._dead_letter,
            on_audit=self.publish_audit,
        ) as actions:
            self._actions = actions
            history = await self._history_ends()
            try:
                async for event in stream.events():
                    message = event.message
                    if message.offset < history.get(message.partition, -1) and (
                        (message.timestamp or 0.0) < self.started
                    ):
                        self.stats["history"] += 1
                        continue
                    await self.handle(
                        actions,
                        message.value,
                        key=message.key,
                        partition=message.partition,
                        offset=message.offset,
                    )
            finally:
                self._actions = None

    async def drain(self, timeout: float | None = None) -> int:
        """Wait until every alert enqueued so far is delivered or dead-lettered (or
        ``timeout``); how many throttles are still armed or being taken (``Guard.pending``),
        whose ``acted`` alerts are yet to come. 0 at once when the agent is not running.
        With the findings read so far handled and 0 returned, nothing more reaches a sink
        until another finding is read."""
        actions = self._actions
        if actions is None:
            return 0
        await actions.dispatcher.drain(timeout)
        return actions.guard.pending

    async def handle(
        self,
        actions: Actions,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> ActionReport | None:
        """Act on one findings-topic value; None when it is not a finding to act on.

        With a state secret, a value without a valid signature (forged, or from a worker with
        another key) is dead-lettered with the reason ("unsigned", "bad signature") and never
        acted on; signed audit records are skipped. Without one, findings are acted on as read
        and everything else is skipped. Never raises for a bad message or an action failure.
        """
        if self.key is None:
            try:
                document = orjson.loads(value or b"")
            except orjson.JSONDecodeError:
                document = None
        else:
            document, why = trusted(value, self.key)
            if why is not None:
                self.stats["refused"] += 1
                await self._refuse(why, value, key, partition, offset)
                return None
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
            report = await actions.handle(finding, account, hold_back=self._history(finding))
        except Exception:
            # A bug in one action must not stop the agent (and with it every later alert).
            log.exception("acting on a finding failed")
            self.stats["failed"] += 1
            return None
        self.stats["folded" if report.folded else "acted"] += 1
        await self.publish_audit(report.audit)
        return report

    def _history(self, finding: Finding) -> str | None:
        """Why ``finding`` is history, alerted and never throttled: its records are older
        than ``act_max_age_seconds`` by the wall clock (a re-read topic, a replay, a worker
        catching up after days down); None when it is fresh enough to act on."""
        when = finding.time if isinstance(finding, LoopFinding) else finding.detected_at
        age = self.clock() - when
        limit = self.settings.act_max_age_seconds
        if age <= limit:
            return None
        return (
            f"no throttle: history, its records are from {format_time(when)}, {age:,.0f}s"
            f" before this worker read it (over LOOPWATCH_ACT_MAX_AGE_SECONDS={limit:g})"
        )

    async def _history_ends(self) -> dict[int, int]:
        """Where this consumer group starts on the findings topic (``history_ends``): a new
        group, or one whose offsets are lost, skips what was there before this worker; {}
        when the broker cannot say (the act-once ledger and the age limit still hold)."""
        try:
            return await history_ends(self.settings)
        except Exception as exc:
            log.warning("findings topic read from the group's offsets (or its start): %s", exc)
            return {}

    async def publish_audit(self, records: Sequence[AuditRecord]) -> None:
        """Publish audit records to the findings topic, signed, keyed by function ARN (also
        those of a throttle taken when its act guard came due, after ``handle`` returned)."""
        for record in records:
            await self.send(FINDINGS, record.function.encode(), seal(record.to_json(), self.key))

    async def rebuild(self, ledger: Ledger) -> int:
        """Add to ``ledger`` the holds the signed audit records on the findings topic show and
        it lacks; how many. Without a state secret nothing read back is trusted: none."""
        if self.key is None:
            log.warning(
                "no hold rebuilt from the audit records on %s: LOOPWATCH_STATE_SECRET is not set",
                self.settings.topic(FINDINGS),
            )
            return 0
        try:
            added = merge_audit(ledger, await read_audit(self.settings, self.key), self.key)
        except Exception as exc:  # the file ledger still works without it
            log.warning("audit records not read back; the ledger file alone is used: %s", exc)
            return 0
        if added:
            log.info(
                "ledger: %d holds restored from the audit records on the findings topic", added
            )
        return added

    async def _refuse(
        self,
        reason: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        offset: int | None,
    ) -> None:
        log.warning(
            "%s record on %s (partition %s, offset %s) dead-lettered, not acted on",
            reason,
            self.settings.topic(FINDINGS),
            partition,
            offset,
        )
        raw = value or b""
        document: dict[str, object] = {
            "reason": reason,
            "topic": FINDINGS,
            "partition": partition,
            "offset": offset,
            "key": None if key is None else key.decode("utf-8", "replace"),
            "value_b64": base64.b64encode(raw[:MAX_DEAD_LETTER_BYTES]).decode(),
        }
        if len(raw) > MAX_DEAD_LETTER_BYTES:
            document["truncated"] = f"first {MAX_DEAD_LETTER_BYTES:,} of {len(raw):,} bytes"
        await self.send(DEADLETTER, key, orjson.dumps(document))

    async def _dead_letter(self, letter: DeadLetter) -> None:
        finding: Any = letter.alert.finding
        key = finding.incident if isinstance(finding, LoopFinding) else finding.function
        await self.send(DEADLETTER, key.encode(), orjson.dumps(letter.to_json()))
