"""The Faust adapter: topics, the account-state table, two agents, a timer and the web views.

    <prefix>.cloudtrail ──agent──┐                      ┌──► <prefix>.findings
    <prefix>.invocations ─agent──┴──► Processor ────────┼──► <prefix>.deadletter
                  timer (flush_interval) ──┘            └──► table account-state (changelog)
    <prefix>.findings ──agent──► LiveActions (alerts, throttles; see ``act.py``)

``create_app(settings)`` builds everything; nothing exists at import time. All logic is in
``processor.Processor``; this module only moves bytes between Kafka and it, and hooks the
table writes into Faust's lifecycle (rebalance, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import faust
from faust.exceptions import NotReady
from faust.types import TP, EventT, StreamT

from loopwatch.inventory.obtain import AWS, obtain
from loopwatch.inventory.snapshot import Snapshot
from loopwatch.service import fast_faust
from loopwatch.service.act import LiveActions, actions_wanted
from loopwatch.service.heap import HeapTrim, malloc_trim
from loopwatch.service.inventory import InventoryFeed
from loopwatch.service.metrics import Metrics
from loopwatch.service.processor import INPUTS, SETTLE_AFTER, Output, Processor
from loopwatch.service.state import keys_by_account, table_account
from loopwatch.service.topics import ALL, DEADLETTER, FINDINGS, bootstrap
from loopwatch.settings import Settings
from loopwatch.trust import key_from_settings, open_entry, seal_entry

log = logging.getLogger(__name__)

TABLE = "account-state"

# Tansu in memory mode answers ListOffsets(latest) with the last *batch's* base offset + 1, so
# changelog recovery stops short unless every batch holds one record; and a short group session
# keeps joins and takeovers after a crash to seconds (Tansu holds a JoinGroup for half of it).
_TANSU = {
    "producer_max_batch_size": 1,
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.33,
    "broker_rebalance_timeout": 2.0,
}


def faust_options(settings: Settings) -> dict[str, Any]:
    """Faust ``App`` settings for ``settings``; ValueError when no broker is configured."""
    options: dict[str, Any] = {
        "broker": f"kafka://{bootstrap(settings)}",
        "store": "memory://",
        "datadir": settings.data_dir,
        "topic_replication_factor": settings.replication_factor,
        "topic_partitions": settings.partitions,
        "table_standby_replicas": 0,
        "autodiscover": False,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 0.5,
        # A message carries up to ~800 KB of records (ship's batches): with Faust's default 1 MB
        # a fetch would bring one message per round trip.
        "consumer_max_fetch_size": 16 * 1024 * 1024,
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        # Poll and buffer sizes and the Stream and Monitor classes of the fast path.
        **(fast_faust.OPTIONS if settings.fast_path else {}),
    }
    if settings.kafka_flavor == "tansu":
        options.update(_TANSU)
    return options


class LoopwatchService:
    """One worker's Faust app around a :class:`Processor`.

    The in-memory accounts are the working state; the ``account-state`` table (each account
    as parts, ``loopwatch.service.state``) is their durable copy, written by the snapshot
    policy of the processor, on eviction, revocation and shutdown, and read when a message
    comes for an account not in memory (first seen since a (re)start, or evicted).
    """

    def __init__(self, settings: Settings, overrides: Mapping[str, Any] | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.record_key = key_from_settings(settings)
        """Signs findings and seals the state table's entries (``loopwatch.trust``)."""
        self._recovered = False
        self._outputs_declared = False
        # The table's keys by account (as ``table_account`` spells it): where an account not in
        # memory (evicted, or saved before this worker started) is read from without reading
        # every entry. Rebuilt from the recovered table at each rebalance, kept in step by
        # ``_write``; an entry refused as not sealed by this deployment leaves it.
        self._keys: dict[str, set[bytes]] | None = None
        # Faust with its per-message overhead trimmed (see fast_faust.py), unless turned off.
        fast = settings.fast_path
        # Either way a commit waits for the producer buffer ahead of it (CommitConsumer).
        app_class = fast_faust.App if fast else fast_faust.StockApp
        self.app = app_class(settings.app_id, **{**faust_options(settings), **(overrides or {})})
        input_topic = fast_faust.RecordChunkTopic if fast else faust.Topic
        self.topics = {
            # Inputs skip Faust's codec on the way in: the processor takes the bytes.
            name: (input_topic if name in INPUTS else faust.Topic)(
                self.app,
                topics=[settings.topic(name)],
                partitions=settings.partitions,
                replicas=settings.replication_factor,
                # Declared internal so Faust creates them at start with our partition count;
                # otherwise a broker auto-creates them with its default and the table, which
                # must be co-partitioned with its sources, refuses to start.
                internal=True,
                key_serializer="raw",
                value_serializer="raw",
            )
            for name in ALL
        }
        self.table = self.app.Table(
            TABLE,
            # bytes both ways, so Faust uses its raw codec: keys are account ids in UTF-8.
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
        )
        self.inventory = inventory_feed(settings)
        # What a burst of messages (or of evictions) freed goes back to the system after it.
        self.heap = HeapTrim(malloc_trim())
        self.processor = Processor(
            settings.detection(),
            snapshot_interval=settings.snapshot_interval_seconds,
            restore=self._restore,
            metrics=self.metrics,
            inventory=self.inventory,
            record_key=self.record_key,
        )
        for name in INPUTS:
            self.app.agent(self.topics[name], name=f"loopwatch.{name}")(self._agent(name))
        self.actions: LiveActions | None = None
        if actions_wanted(settings):
            self.actions = LiveActions(settings, self._send_one)
            agent = _actions_agent(self.actions)
            self.app.agent(self.topics[FINDINGS], name="loopwatch.actions")(agent)
        self.app.task(self._declare_outputs)
        if fast:
            self.app.task(fast_faust.tune_gc_task)  # once started: see tune_gc for why
        self.app.timer(settings.flush_interval_seconds, name="loopwatch.tick")(self._tick)
        # The open second of an account that just got a message is settled SETTLE_AFTER after
        # it, not at the next tick: the cheap half of the tick, more often.
        self.app.task(self._settle_quiet)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_rebalance_complete.connect(self._on_rebalanced)
        self.app.on_before_shutdown.connect(self._on_shutdown)
        from loopwatch.service.web import register

        register(self)

    # -- state -----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Started, assigned, the table recovered and the output topics made: messages are
        being processed, and a reader of findings finds the topic."""
        app = self.app
        return bool(
            app.started and not app.rebalancing and self._recovered and self._outputs_declared
        )

    def input_partitions(self) -> set[TP]:
        """The assigned partitions of the input topics (not the table's changelog)."""
        names = {self.settings.topic(name) for name in INPUTS}
        return {tp for tp in self.app.consumer.assignment() if tp.topic in names}

    async def lag(self) -> int:
        """Messages not yet read on the assigned input partitions (highwater - position)."""
        consumer = self.app.consumer
        total = 0
        for tp in self.input_partitions():
            position = await consumer.position(tp)
            if position is not None:
                total += max(0, consumer.highwater(tp) - position)
        return total

    # -- Faust hooks -----------------------------------------------------------------------------

    def _agent(self, name: str) -> Callable[[StreamT[bytes]], Coroutine[Any, Any, None]]:
        async def agent(stream: StreamT[bytes]) -> None:
            if isinstance(stream, fast_faust.EventBatchStream):
                # The fast path hands over the events queued now; each is acked once the
                # batch's output is sent (when this loop asks for the next batch).
                async for events in stream.event_batches():
                    await self._handle(name, events)
            else:
                async for event in stream.events():
                    await self._handle(name, [event])

        agent.__name__ = agent.__qualname__ = f"loopwatch_{name}"
        return agent

    async def _handle(self, name: str, events: Sequence[EventT[Any]]) -> None:
        """Process the records ``events`` carry (one each, or a chunk's: ``records_of``) of
        input ``name`` in order, each as its own message, then send what they produced.

        The processing does not suspend, so the batch sees one consumer generation (the stream
        checked each event's as it was taken). The outputs go out in order as one: every
        table write first, then the findings and dead letters (see ``_send``).
        """
        process_into = self.processor.process_into
        out = Output()
        findings: list[tuple[int, float | None]] = []  # per message that caused some
        for partition, offset, key, value, timestamp in fast_faust.records_of(events):
            before = len(out.messages)
            process_into(out, name, partition, offset, key, value, time.time())
            if len(out.messages) > before:
                found = sum(1 for m in out.messages[before:] if m.topic == FINDINGS)
                if found:
                    findings.append((found, timestamp))
        if out.messages or out.snapshots:
            await self._send(out)
            for found, produced in findings:
                self._observe_latency(found, produced)

    def _observe_latency(self, findings: int, produced: float | None) -> None:
        # Produce→finding: the Kafka timestamp (seconds) of the message whose records caused
        # the ``findings``, against the wall clock once they are handed to the producer.
        # Findings of the timer (a settled second, an idle account) have no such message: not
        # counted.
        if not produced:
            return
        latency = time.time() - produced
        for _ in range(findings):
            self.metrics.observe_latency(latency)

    async def _declare_outputs(self) -> None:
        # Faust creates a topic it only sends to on first send; readers (and the test that
        # waits for findings) should find it there from the start.
        try:
            for name in (FINDINGS, DEADLETTER):
                await self.topics[name].maybe_declare()
        except NotReady:
            # Stopped before the producer started (a SIGTERM right after start): a topic
            # not made now is made on its first send; the stop must not turn into a crash.
            log.info("stopping before the output topics were made")
            return
        self._outputs_declared = True

    async def _tick(self) -> None:
        now = time.time()
        out = self.processor.tick(now)
        if out.messages or out.snapshots:
            await self._send(out)
        metrics = self.metrics
        self.heap.tick(metrics.messages_in.total() + metrics.evictions, now)

    async def _settle_quiet(self) -> None:
        # A task, not app.timer: mode's timer warns whenever one run outlasts the interval,
        # and a settle that publishes a finding may take longer than 25 ms under load.
        while True:
            await asyncio.sleep(SETTLE_AFTER / 2)
            out = self.processor.settle_quiet(time.time())
            if out.messages or out.snapshots:
                await self._send(out)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        self._recovered = False
        revoked: set[TP] = args[0] if args else set()
        names = {self.settings.topic(name) for name in INPUTS}
        partitions = {tp.partition for tp in revoked if tp.topic in names}
        snapshots = self.processor.save(partitions, forget=True)
        self._write(Output(snapshots=snapshots))
        if snapshots:
            # The next owner recovers the table once the group has rebalanced: the snapshots
            # must be on the broker by then.
            await self.app.producer.flush()

    async def _on_rebalanced(self, sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        # Sent by Faust's table recovery once the changelog is read back: the table is whole.
        self._recovered = True
        partitions = {tp.partition for tp in self.input_partitions()}
        keys = self._keys = keys_by_account(self.table.data.keys())
        held = {table_account(account) for account in self.processor.accounts}
        refused = self.metrics.state_refused
        saved = ((account, self._entries(account)) for account in list(keys) if account not in held)
        loaded = self.processor.load(saved, partitions, time.time())
        self._warn_refused(self.metrics.state_refused - refused)
        if loaded:
            log.info("loaded %d saved accounts with incidents open after rebalance", loaded)

    async def _on_shutdown(self, sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        # The consumer has stopped; Faust flushes the producer right after this signal.
        self._write(Output(snapshots=self.processor.save()))
        if self.inventory is not None:
            self.inventory.close()

    # -- output ----------------------------------------------------------------------------------

    def _restore(self, account: str) -> dict[bytes, bytes]:
        refused = self.metrics.state_refused
        entries = self._entries(table_account(account))
        self._warn_refused(self.metrics.state_refused - refused)
        return entries

    def _index(self) -> dict[str, set[bytes]]:
        if self._keys is None:
            self._keys = keys_by_account(self.table.data.keys())
        return self._keys

    def _entries(self, account: str) -> dict[bytes, bytes]:
        """The table's entries of ``account`` (as ``table_account`` spells it), each opened
        with the record key: an entry no worker of this deployment sealed is left out, as if
        it were not there (counted, and never read again until the next rebalance)."""
        keys = self._index().get(account)
        if not keys:
            return {}
        data, entries = self.table.data, {}
        for key in list(keys):
            stored = data.get(key)
            value = open_entry(key, stored, self.record_key) if isinstance(stored, bytes) else None
            if value is None:  # refused (or gone): not read again
                keys.discard(key)
                if stored is not None:
                    self.metrics.state_refused += 1
            else:
                entries[key] = value
        return entries

    def _warn_refused(self, refused: int) -> None:
        if refused:
            log.warning(
                "%d account-state entries are not sealed with this deployment's state secret:"
                " ignored (written by something else, or under another secret)",
                refused,
            )

    def _write(self, out: Output) -> list[Awaitable[Any]]:
        """Send the snapshots' writes, in order; each one's delivery, to wait for."""
        # Explicit partition: outside an agent (timer, rebalance, shutdown) there is no current
        # event for ``table[key] = value`` to take it from. The local copy is updated too. The
        # order of the writes is kept: it is what makes a torn snapshot harmless.
        send, data, index = self.table.send_changelog, self.table.data, self._index()
        sent: list[Awaitable[Any]] = []
        for snapshot in out.snapshots:
            keys = index.setdefault(table_account(snapshot.account), set())
            for key, value in snapshot.writes:
                if value is None:
                    sent.append(send(snapshot.partition, key, None))
                    data.pop(key, None)
                    keys.discard(key)
                else:
                    sealed = seal_entry(key, value, self.record_key)
                    sent.append(send(snapshot.partition, key, sealed))
                    data[key] = sealed
                    keys.add(key)
        return sent

    async def _send_one(self, name: str, key: bytes | None, value: bytes) -> None:
        await self.topics[name].send(key=key, value=value)

    async def _send(self, out: Output) -> None:
        # Table first: a finding is published only once the state that produced it is on the
        # broker. Sent first is not enough: the changelog is another topic, and its messages
        # wait in Faust's buffer (a large account's first snapshot is thousands of them), so a
        # finding could be out before them and, after a crash, be published again.
        sent = self._write(out)
        if sent and any(message.topic == FINDINGS for message in out.messages):
            await asyncio.gather(*sent)
        for message in out.messages:
            await self.topics[message.topic].send(key=message.key, value=message.value)


def _actions_agent(
    actions: LiveActions,
) -> Callable[[StreamT[bytes]], Coroutine[Any, Any, None]]:
    # A plain function for Faust (it names the agent after it), around the bound method.
    async def loopwatch_actions(stream: StreamT[bytes]) -> None:
        await actions.run(stream)

    return loopwatch_actions


def inventory_feed(settings: Settings) -> InventoryFeed | None:
    """The worker's inventory from ``LOOPWATCH_INVENTORY``; raises InventoryUnavailable or
    SnapshotError for a snapshot file that cannot be read (the worker does not start)."""
    spec = settings.inventory
    if spec == "off":
        return None
    if spec != AWS:
        return InventoryFeed(snapshot=obtain(spec))
    regions, template = list(settings.inventory_regions), settings.throttle_role_template

    def read(account: str) -> Snapshot:
        return obtain(AWS, regions, [account], role_template=template)

    return InventoryFeed(
        reader=read,
        refresh_seconds=settings.inventory_refresh_seconds,
        lookup_seconds=settings.inventory_lookup_seconds,
    )


def create_app(settings: Settings, overrides: Mapping[str, Any] | None = None) -> LoopwatchService:
    """A new service for ``settings`` (a new Faust App each call: an App starts only once).

    ``overrides`` are extra Faust settings (tests use them for broker timeouts). Raises
    ValueError when ``settings.kafka_broker`` is unset, or for settings the actions refuse
    (see ``LiveActions``) or a state secret that is too short.
    """
    return LoopwatchService(settings, overrides)
