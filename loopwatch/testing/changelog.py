"""The ``account-state`` table as Faust's recovery rebuilds it, without a broker, for tests and
benches: the changelog's messages applied in order, the last value per key kept, a tombstone
deleting its key.

    table = ChangelogTable()
    table.send(out.snapshots)                                  # what the worker would send
    Processor(config, snapshot_interval=1.0, restore=table.entries)
    comparable(restored) == comparable(original)               # the same state, order aside
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loopwatch.service.accounts import AccountState
from loopwatch.service.processor import Snapshot
from loopwatch.service.state import Write, saved_by_account, table_account
from loopwatch.trust import RecordKey, seal_entry


class ChangelogTable:
    """Key → value, as a changelog's messages leave it; every message sent is kept too."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.messages: list[Write] = []

    def send(self, snapshots: Iterable[Snapshot]) -> None:
        for snapshot in snapshots:
            self.apply(snapshot.writes)

    def apply(self, writes: Iterable[Write]) -> None:
        for key, value in writes:
            self.messages.append((key, value))
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value

    def entries(self, account: str) -> dict[bytes, bytes]:
        """``account``'s entries: a ``Restore`` for the processor."""
        return saved_by_account(self.data.items()).get(table_account(account), {})

    def saved(self) -> list[tuple[str, dict[bytes, bytes]]]:
        """Every account's entries, as ``Processor.load`` takes them."""
        return list(saved_by_account(self.data.items()).items())


def message_bytes(write: Write) -> int:
    """What one changelog message weighs: its key and its value as the worker sends it, sealed
    with a state secret (``loopwatch.trust.seal_entry``: 34 bytes more a value)."""
    key, value = write
    return len(key) + (len(seal_entry(key, value, _BENCH_KEY)) if value is not None else 0)


_BENCH_KEY = RecordKey(b"any-secret-of-sixteen-characters")


def comparable(state: AccountState) -> dict[str, Any]:
    """``state.to_state()`` with the orders that mean nothing taken out: hops sorted, but each
    node's successors kept in their order (the cycle search follows it); cycles, incidents,
    pending measurements and recent ids keep theirs (detection visits them in order)."""
    whole = state.to_state()
    graph = whole["engine"]["graph"]
    successors: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        successors.setdefault(edge["source"], []).append(edge["target"])
    graph["edges"] = sorted(graph["edges"], key=lambda e: (e["source"], e["target"]))
    graph["successors"] = successors
    engine = whole["engine"]
    engine["cycles"] = list(engine["cycles"].items())
    engine["pending"] = list(engine["pending"].items())
    engine["recent_newest"] = state.intake.recent._newest
    return whole
