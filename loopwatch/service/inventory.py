"""The worker's inventory (DESIGN §9): ``LOOPWATCH_INVENTORY`` = ``off`` | ``aws`` | a snapshot.

    snapshot file ──► each account's facts, when the account is first seen
    aws ──► a background read of each account seen (a thread: an agent never waits on AWS),
            again every LOOPWATCH_INVENTORY_REFRESH_SECONDS, and at once (rate-limited, cached)
            when a loop is unconfirmed because a trigger hop is known only from invocations
        ──► ``ready()`` → (account, snapshot) drained by the processor's timer
        ──► configuration facts dated at the account's event time: the loop is measured again

The answer of a read enters the engine as configuration facts through the one driver, exactly
as a replay with ``--inventory`` takes them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from loopwatch.inventory.snapshot import Snapshot

log = logging.getLogger(__name__)

Reader = Callable[[str], Snapshot]
"""Reads one account's inventory (raises for what cannot be read at all)."""


class InventoryFeed:
    """Snapshots for the accounts a worker holds. Methods are called from the event loop;
    reads run in one background thread."""

    def __init__(
        self,
        *,
        snapshot: Snapshot | None = None,
        reader: Reader | None = None,
        refresh_seconds: float = 900.0,
        lookup_seconds: float = 60.0,
    ) -> None:
        self.snapshot = snapshot
        self._reader = reader
        self._refresh = refresh_seconds
        self._lookup = lookup_seconds
        self._last_read: dict[str, float] = {}  # account → wall time a read was last asked
        self._pending: set[str] = set()
        self._done: queue.SimpleQueue[tuple[str, Snapshot]] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(1, "loopwatch-inventory") if reader is not None else None
        self._lock = threading.Lock()

    @property
    def reads_aws(self) -> bool:
        return self._reader is not None

    def seen(self, account: str, now: float) -> None:
        """An account is held: read it if it never was, or its refresh is due."""
        last = self._last_read.get(account)
        if last is None or now - last >= self._refresh:
            self._read(account, now)

    def unconfirmed(self, account: str, now: float) -> None:
        """A loop of ``account`` is unconfirmed: look its configuration up now, unless it was
        read within the last ``lookup_seconds`` (what AWS said then still holds)."""
        last = self._last_read.get(account)
        if last is None or now - last >= self._lookup:
            self._read(account, now)

    def ready(self) -> list[tuple[str, Snapshot]]:
        """The reads finished since the last call."""
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, account: str, now: float) -> None:
        if self._pool is None or account in self._pending:
            return
        self._last_read[account] = now
        self._pending.add(account)
        self._pool.submit(self._run, account)

    def _run(self, account: str) -> None:
        assert self._reader is not None
        try:
            snapshot = self._reader(account)
        except Exception as exc:  # an account AWS will not show is logged, and retried later
            log.warning("inventory of %s not read: %s", account, exc)
        else:
            for refusal in snapshot.refused:
                log.warning("inventory of %s: refused %s", account, refusal.short())
            self._done.put((account, snapshot))
        finally:
            self._pending.discard(account)
