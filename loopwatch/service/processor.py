"""The per-message work of a worker, without Faust: decode, apply, and decide what to send.

    message ──decode──► objects ──AccountState.apply──► findings ──► <prefix>.findings
       │                   └── rejected records, bad lines ─────────► <prefix>.deadletter
       └── unreadable ─────────────────────────────────────────────► <prefix>.deadletter
    account state ──snapshot (the parts that changed)──► the changelogged ``account-state`` table

The Faust adapter (``app.py``) feeds messages in and sends what comes out; everything here is
synchronous and testable with plain objects. The wall clock is passed in, never read here.

Snapshot policy: an account's state is written at once when a message or a flush produced a
finding (an opened or escalated incident is durable before its offset is committed, so a
restart never opens it twice), and otherwise at most every ``snapshot_interval`` seconds. A
crash loses at most that interval's counts, never an incident state change. A snapshot sends
only the parts of the state that changed since the last one (``loopwatch.service.state``).

Memory and the timer: an account is held in memory while it has a use there. Its clock runs on
the wall clock only while something waits for event time (an open incident to resolve once
quiet, points to measure): those accounts are ``watched``, visited at every tick; the others
are visited only when a deadline comes (a snapshot due, the horizon passed), so an idle worker
with many accounts costs nothing per tick. An account idle for ``horizon`` seconds of wall time
with nothing waiting is evicted: its state stays in the table (written first if it changed), and
a later message restores it from there. Either way, before a message is applied, the wall time
since the account's last message passes on its clock (``_catch_up``), as the tick would have let
it pass: a held, an idle and an evicted account take the same message to the same findings.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import orjson

from loopwatch.config import DetectionConfig
from loopwatch.detect import Finding, LoopFinding
from loopwatch.detect.findings import finding_json
from loopwatch.detect.incidents import Incident
from loopwatch.detect.router import UNKNOWN_ACCOUNT, account_key
from loopwatch.events.decode import MAX_DECODED_BYTES, decode
from loopwatch.inventory.obtain import facts_for
from loopwatch.service.accounts import AccountState
from loopwatch.service.deadlines import Deadlines
from loopwatch.service.inventory import InventoryFeed
from loopwatch.service.metrics import Metrics
from loopwatch.service.state import StateWriter, Write, restore
from loopwatch.service.topics import CLOUDTRAIL, DEADLETTER, FINDINGS, INVOCATIONS
from loopwatch.trust import RecordKey, seal

log = logging.getLogger(__name__)

INPUTS = (CLOUDTRAIL, INVOCATIONS)
# An idle account's open second is settled after this long without a message (short: it is
# added to produce→finding latency; a message of the same second after it measures again), and
# its event time advanced on the wall clock after IDLE_AFTER: while messages flow, event time
# alone moves the engine, exactly as in a replay.
SETTLE_AFTER = 0.05
IDLE_AFTER = 1.0
# Dead letters stay under Kafka's default 1 MB message size, with room for the rest.
MAX_DEAD_LETTER_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send: ``topic`` is FINDINGS or DEADLETTER (a name relative to the prefix)."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an account's snapshot writes to the table, in order, on the partition its state
    is kept on: each (key, value), a value of None deleting the key."""

    partition: int
    account: str
    writes: tuple[Write, ...]


@dataclass(slots=True)
class Output:
    messages: list[Outgoing] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)


@dataclass(slots=True)
class Tracked:
    """An account held by this worker, and when it last changed and was saved (wall clock)."""

    state: AccountState
    writer: StateWriter
    partition: int
    last_message: float
    last_snapshot: float
    event_time: float = float("-inf")
    """The engine's event time after the last message: the base of wall-clock advances."""
    dirty: bool = False
    unsettled: bool = False
    """A message came since the last flush: the flush may change counts worth saving."""


class Evicted(NamedTuple):
    """Where an evicted account's clock stood (its state is in the table): enough to let the
    wall time since its last message pass when a message brings it back."""

    partition: int
    last_message: float
    event_time: float


Restore = Callable[[str], Mapping[bytes, bytes]]
"""An account's entries in the table (empty when it has none)."""


class Processor:
    """Every account this worker holds, and what each message and timer tick does to them."""

    def __init__(
        self,
        config: DetectionConfig,
        *,
        snapshot_interval: float,
        restore: Restore,
        metrics: Metrics | None = None,
        max_decoded_bytes: int = MAX_DECODED_BYTES,
        max_dead_letter_bytes: int = MAX_DEAD_LETTER_BYTES,
        inventory: InventoryFeed | None = None,
        record_key: RecordKey | None = None,
    ) -> None:
        """``record_key`` signs the findings published (``loopwatch.trust``): the actions
        agent of any worker acts only on signed ones. None publishes them unsigned."""
        self.config = config
        self.record_key = record_key
        self.snapshot_interval = snapshot_interval
        self.restore = restore
        self.metrics = metrics or Metrics()
        self.max_decoded_bytes = max_decoded_bytes
        self.max_dead_letter_bytes = max_dead_letter_bytes
        self.inventory = inventory
        self.horizon = config.horizon
        """Wall-clock seconds without a message after which an account with nothing waiting
        is evicted: the detection horizon, past which its observed hops have expired too."""
        self.accounts: dict[str, Tracked] = {}
        """The accounts held in memory."""
        self.unsettled: set[str] = set()
        """The accounts whose ``Tracked.unsettled`` is set: what ``settle_quiet`` looks at."""
        self.watched: set[str] = set()
        """The accounts whose engine is ``waiting`` (or whose settle failed): every tick
        visits them."""
        self.snapshots_due = Deadlines()
        """When each dirty account's snapshot interval is over."""
        self.evictions_due = Deadlines()
        """When each account not watched reaches the horizon (unless a message came since)."""
        self.evicted: dict[str, Evicted] = {}
        """The accounts evicted from memory, whose state is in the table."""

    # -- messages --------------------------------------------------------------------------------

    def process(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        now: float,
    ) -> Output:
        """Apply one message of input ``topic`` (CLOUDTRAIL or INVOCATIONS); what to send.

        Never raises: what cannot be read goes to the dead-letter output with its reason (one
        dead letter per reason and message), and a failure of the worker's own code is caught
        here, counted and dead-lettered too. A message applied before (same partition and
        offset) changes nothing.
        """
        out = Output()
        self.process_into(out, topic, partition, offset, key, value, now)
        return out

    def process_into(
        self,
        out: Output,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        now: float,
    ) -> None:
        """:meth:`process`, adding what to send to ``out`` (after what it holds already): a
        batch of messages costs one Output, and its sends stay in message order."""
        self.metrics.messages_in[topic] += 1
        where = _Where(topic, partition, offset, key.decode("utf-8", "replace") if key else None)
        try:
            self._process(out, where, value, now)
        except Exception as exc:  # a bug must cost this message, never the agent
            log.exception("message %s:%d@%d failed", topic, partition, offset)
            self.metrics.failures["message"] += 1
            self._dead(out, "failure", where, f"worker error: {type(exc).__name__}: {exc}", value)

    def _process(self, out: Output, where: _Where, value: bytes | None, now: float) -> None:
        metrics, topic = self.metrics, where.topic
        if not value:
            self._dead(out, "message", where, "empty message", value)
            return
        decoded = decode(value, "any", limit=self.max_decoded_bytes, selective=True)
        if decoded.unreadable:
            self._dead(out, "message", where, "; ".join(decoded.problems), value)
            return
        for problem in decoded.problems:
            self._dead(out, "line", where, problem, None)
        objects = decoded.objects
        # The message's key is its account (the shipper keys each message by its records'
        # ``account_key``, as replay routes each record); a message without one, by its first.
        account = where.key or (account_key(objects[0]) if objects else UNKNOWN_ACCOUNT)
        tracked = self._tracked(out, account, where.partition, now)
        findings = self._catch_up(tracked, now)
        tracked.last_message = now
        state = tracked.state
        applied = state.apply(objects, topic, where.partition, where.offset, now)
        if applied.rejected:
            for reason, (count, first) in applied.rejected.items():
                self._dead(out, "record", where, reason, None, record=first, count=count)
        for fact, reason in applied.failed:
            metrics.failures["fact"] += 1
            log.error("account %s: %s (fact %r)", account, reason, fact)
        for truncation, records in applied.counts.truncations.items():
            metrics.truncated[truncation.event] += records
            log.warning(
                "account %s: %d record(s) truncated: %s", account, records, truncation.reason
            )
        metrics.records_in[topic] += applied.counts.read + decoded.malformed
        tracked.event_time = engine_now = state.engine.now
        if engine_now != float("-inf"):
            metrics.saw_event_time(engine_now)
        tracked.dirty = tracked.unsettled = True
        self.unsettled.add(account)
        findings.extend(applied.findings)
        if findings:
            self._publish(out, account, findings, now)
        if findings or now - tracked.last_snapshot >= self.snapshot_interval:
            out.snapshots.append(self._snapshot(account, tracked, now))

    def tick(self, now: float) -> Output:
        """The wall-clock timer: settle idle accounts' open second, let time pass for the
        accounts that wait on it, save, evict.

        An account without a message for SETTLE_AFTER seconds has its open second measured
        (its last traversal is not held back waiting for a later record). A watched account
        (its engine is ``waiting``: an open incident) idle for IDLE_AFTER seconds is advanced
        to its last event time plus the wall time since its last message, so the incidents of
        a stream gone quiet resolve. Dirty accounts are saved once their snapshot interval has
        passed; accounts idle past the horizon with nothing waiting are evicted. Only the
        accounts with something due are looked at. Never raises: an account whose tick fails
        is counted and logged, and the others go on.
        """
        out = Output()
        if self.inventory is not None and self.inventory.reads_aws:
            self._configure(out, now)
        visited = self._settle_due(out, now)
        due = {*self.watched, *self.snapshots_due.due(now), *self.evictions_due.due(now)}
        for account in sorted(due - visited):
            self._visit(out, account, now)
        return out

    def settle_quiet(self, now: float) -> Output:
        """The tick, early, for the accounts whose open second is waiting: run as often as
        SETTLE_AFTER allows, so a loop's closing record is measured SETTLE_AFTER after it came,
        not up to a whole tick later (produce→finding). Only accounts with a message since
        their last settle are looked at, so it costs nothing while accounts are quiet."""
        out = Output()
        self._settle_due(out, now)
        return out

    def _settle_due(self, out: Output, now: float) -> set[str]:
        """Visit the unsettled accounts whose last message is SETTLE_AFTER old; those visited."""
        visited = set()
        for account in list(self.unsettled):
            tracked = self.accounts.get(account)
            if tracked is None or not tracked.unsettled:  # forgotten (revoked), or settled
                self.unsettled.discard(account)
            elif now - tracked.last_message >= SETTLE_AFTER:
                # Settled now; a settle that fails leaves it watched: the tick tries again.
                self.unsettled.discard(account)
                self._visit(out, account, now)
                visited.add(account)
        return visited

    def _visit(self, out: Output, account: str, now: float) -> None:
        """One account's tick, then when the timer is to look at it next (or its eviction)."""
        tracked = self.accounts.get(account)
        if tracked is None:  # evicted or forgotten since it was scheduled
            self.watched.discard(account)
            return
        self.metrics.timer_visits += 1
        if self._tick_safely(out, account, tracked, now):
            self._plan(out, account, tracked, now)
        else:
            self.watched.add(account)

    def _plan(self, out: Output, account: str, tracked: Tracked, now: float) -> None:
        """Watch the account at every tick while its engine waits on time; otherwise have it
        due when its snapshot is, and at the horizon; evict it once the horizon has passed."""
        if tracked.unsettled or tracked.state.engine.waiting:
            self.watched.add(account)
            return
        self.watched.discard(account)
        if now - tracked.last_message >= self.horizon:
            self._evict(out, account, tracked, now)
            return
        self.evictions_due.schedule(account, tracked.last_message + self.horizon)
        if tracked.dirty:
            self.snapshots_due.schedule(account, tracked.last_snapshot + self.snapshot_interval)

    def _evict(self, out: Output, account: str, tracked: Tracked, now: float) -> None:
        """Put the account out of memory; its state stays in the table (saved first if it
        changed since its last snapshot), where ``_tracked`` finds it again."""
        if tracked.dirty:
            out.snapshots.append(self._snapshot(account, tracked, now))
        self._forget(account)
        self.evicted[account] = Evicted(tracked.partition, tracked.last_message, tracked.event_time)
        self.metrics.evictions += 1

    def _forget(self, account: str) -> None:
        del self.accounts[account]
        self.unsettled.discard(account)
        self.watched.discard(account)
        self.snapshots_due.cancel(account)
        self.evictions_due.cancel(account)

    def _tick_safely(self, out: Output, account: str, tracked: Tracked, now: float) -> bool:
        """One account's tick; False when it failed (logged and counted), never raising."""
        try:
            self._tick_account(out, account, tracked, now)
        except Exception:
            log.exception("account %s: tick failed", account)
            self.metrics.failures["tick"] += 1
            return False
        return True

    def _configure(self, out: Output, now: float) -> None:
        """Apply the inventory reads that finished; ask for the ones due (never waiting)."""
        assert self.inventory is not None
        for account, snapshot in self.inventory.ready():
            tracked = self.accounts.get(account)
            if tracked is None:
                # Revoked meanwhile (its new owner reads it itself), or evicted: its saved
                # configuration stands until a read after it comes back.
                continue
            # Dated at the account's event time (the router's one rule), once the wall time
            # since its last message has passed on it, as a held account's would have.
            findings = self._catch_up(tracked, now)
            fed = tracked.state.configure(partial(facts_for, snapshot))
            findings += [*fed.findings, *tracked.state.driver.settle()]
            tracked.dirty = True
            self._publish(out, account, findings, now)
        for account in self.accounts:
            self.inventory.seen(account, now)

    def _tick_account(self, out: Output, account: str, tracked: Tracked, now: float) -> None:
        idle = now - tracked.last_message
        if idle < SETTLE_AFTER:
            return  # messages are flowing: event time alone moves the engine
        driver = tracked.state.driver
        findings = driver.settle()
        if tracked.unsettled:
            tracked.dirty, tracked.unsettled = True, False
            self.unsettled.discard(account)
        if idle >= IDLE_AFTER and driver.engine.waiting:
            # Only what waits on time: an account with nothing waiting keeps the clock of its
            # last snapshot until a message catches it up, so a tick never changes it unsaved.
            findings.extend(self._catch_up(tracked, now))
        if findings:
            tracked.dirty = True
            self._publish(out, account, findings, now)
        if tracked.dirty and (findings or now - tracked.last_snapshot >= self.snapshot_interval):
            out.snapshots.append(self._snapshot(account, tracked, now))

    def save(
        self, partitions: Iterable[int] | None = None, *, forget: bool = False
    ) -> list[Snapshot]:
        """Snapshots of the dirty accounts on ``partitions`` (all when None), for a shutdown or
        a revocation; with ``forget``, those accounts are dropped from memory too (another
        worker owns them now, and it starts from the table)."""
        wanted = None if partitions is None else set(partitions)
        snapshots = []
        for account, tracked in list(self.accounts.items()):
            if wanted is not None and tracked.partition not in wanted:
                continue
            if tracked.dirty:
                snapshots.append(self._snapshot(account, tracked, tracked.last_snapshot))
            if forget:
                self._forget(account)
        if forget:
            for account, evicted in list(self.evicted.items()):
                if wanted is None or evicted.partition in wanted:
                    del self.evicted[account]
        return snapshots

    def load(
        self,
        saved: Iterable[tuple[str, Mapping[bytes, bytes]]],
        partitions: Iterable[int],
        now: float,
    ) -> int:
        """Take the saved accounts of ``partitions`` that are not in memory yet and whose engine
        is ``waiting`` (after a table recovery), so the timer resolves their quiet incidents
        and /loops shows them; the others stay in the table until a message comes for them.
        ``saved`` holds each account's table entries. Returns how many were loaded;
        unreadable entries are logged and skipped."""
        wanted = set(partitions)
        loaded = 0
        for account, entries in saved:
            if account in self.accounts:
                continue
            restored = restore(account, 0, entries, self.config)
            state = restored.state
            if state is None or not state.offsets:
                continue
            partition = min(state.partitions)
            if partition in wanted and state.engine.waiting:
                self.accounts[account] = Tracked(
                    state, restored.writer, partition, now, now, event_time=state.engine.now
                )
                self.watched.add(account)
                loaded += 1
        return loaded

    # -- views -----------------------------------------------------------------------------------

    def open_incidents(self) -> list[tuple[str, Incident]]:
        return [
            (account, incident)
            for account, tracked in sorted(self.accounts.items())
            for incident in tracked.state.engine.open_incidents()
        ]

    # -- inside ----------------------------------------------------------------------------------

    def _tracked(self, out: Output, account: str, partition: int, now: float) -> Tracked:
        tracked = self.accounts.get(account)
        if tracked is None:
            tracked = self.accounts[account] = self._bring_in(out, account, partition, now)
        tracked.partition = partition
        return tracked

    def _bring_in(self, out: Output, account: str, partition: int, now: float) -> Tracked:
        """An account not in memory: restored from the table (it was evicted, or saved before
        this worker started), else new, with the inventory that predates its records."""
        restored = restore(account, partition, self.restore(account), self.config)
        evicted = self.evicted.pop(account, None)
        state = restored.state
        if state is not None:
            self.metrics.restores += 1
            if evicted is not None:  # its clock goes on from where it stood
                return Tracked(
                    state,
                    restored.writer,
                    partition,
                    evicted.last_message,
                    now,
                    event_time=evicted.event_time,
                )
            # Saved before this worker started: when its last message came is not known.
            return Tracked(state, restored.writer, partition, now, now, event_time=state.engine.now)
        state = AccountState(account, self.config)
        restored.writer.attach(state)
        snapshot = self.inventory.snapshot if self.inventory is not None else None
        if snapshot is not None:
            # Before any of its records, whichever comes first: dated ORIGIN by the
            # router's one rule, exactly as replay applies --inventory.
            fed = state.configure(partial(facts_for, snapshot))
            for fact, reason in fed.failed:
                self.metrics.failures["fact"] += 1
                log.error("account %s: %s (fact %r)", account, reason, fact)
            if fed.findings:
                self._publish(out, account, fed.findings, now)
        return Tracked(state, restored.writer, partition, now, now, event_time=state.engine.now)

    def _catch_up(self, tracked: Tracked, now: float) -> list[Finding]:
        """Let the wall time since the account's last message pass on its clock (after
        IDLE_AFTER), as the tick does for a watched account: one the timer left alone, or that
        was evicted, then stands where a watched one would. Measured from the newest event,
        not accumulated: advance() ignores a time already reached, so event time never runs
        ahead of the wall clock."""
        idle = now - tracked.last_message
        if idle < IDLE_AFTER or tracked.event_time == float("-inf"):
            return []
        return tracked.state.driver.idle(tracked.event_time + idle)

    def _snapshot(self, account: str, tracked: Tracked, now: float) -> Snapshot:
        tracked.dirty = False
        tracked.last_snapshot = now
        writer = tracked.writer
        return Snapshot(writer.partition, account, tuple(writer.write(tracked.state)))

    def _publish(self, out: Output, account: str, findings: Sequence[Finding], now: float) -> None:
        inventory = self.inventory
        for finding in findings:
            if inventory is not None and isinstance(finding, LoopFinding) and not finding.confirmed:
                inventory.unconfirmed(account, now)
            if isinstance(finding, LoopFinding):
                key, kind = finding.incident, f"loop_{finding.change}"
            else:
                key, kind = finding.function, "runaway"
            value = seal(finding_json(finding, account), self.record_key)
            out.messages.append(Outgoing(FINDINGS, key.encode(), value))
            self.metrics.findings[kind] += 1

    def _dead(
        self,
        out: Output,
        kind: str,
        where: _Where,
        reason: str,
        value: bytes | None,
        *,
        record: object = None,
        count: int = 1,
    ) -> None:
        """One dead letter: why, where from, and the evidence (the message's bytes or the
        first rejected record), cut to fit a Kafka message with a note of its real size."""
        self.metrics.deadletter[kind] += count
        document: dict[str, object] = {"reason": reason, **where.to_json()}
        if count != 1:
            document["count"] = count
        if value is not None:
            document["value_b64"] = base64.b64encode(value[: self.max_dead_letter_bytes]).decode()
            if len(value) > self.max_dead_letter_bytes:
                document["truncated"] = (
                    f"first {self.max_dead_letter_bytes:,} of {len(value):,} bytes"
                )
        if record is not None:
            try:
                encoded = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
            except orjson.JSONEncodeError:  # too deep, or an integer wider than 64 bits
                encoded = orjson.dumps(repr(record)[: self.max_dead_letter_bytes])
            if len(encoded) > self.max_dead_letter_bytes:
                document["record_preview"] = encoded[: self.max_dead_letter_bytes].decode(
                    "utf-8", "replace"
                )
                document["truncated"] = (
                    f"first {self.max_dead_letter_bytes:,} of {len(encoded):,} bytes"
                )
            else:
                document["record"] = orjson.Fragment(encoded)
        key = where.key
        out.messages.append(
            Outgoing(DEADLETTER, key.encode() if key else None, orjson.dumps(document))
        )


class _Where(NamedTuple):
    """Where a message came from, as dead letters name it (a tuple: one is made per message,
    and a frozen dataclass costs several times as much to build)."""

    topic: str
    partition: int
    offset: int
    key: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
        }


def _b64(value: bytes | None) -> str:
    return base64.b64encode(value or b"").decode("ascii")
