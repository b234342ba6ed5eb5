"""Wall-clock deadlines of the accounts a worker holds, so that its timer looks only at those due.

    schedule(account, when) ──► slot ⌈when * SLOTS⌉ → its accounts, and a heap of slots
    due(now)                ──► the accounts of every slot come, each once, off the timetable

A calendar rather than a heap of (when, account) pairs, and a deadline that only ever moves
earlier: a visit that comes too soon (the account had a message since) sets the next one. So an
account is in one slot at most, a slot is on the heap about once, and a busy account does not
leave a trail of superseded entries up to a horizon ahead.
"""

from __future__ import annotations

import heapq
import math

SLOTS = 10
"""Slots a second: a deadline is met up to 1/SLOTS s late, finer than the timer's tick."""


class Deadlines:
    """At most one deadline per account; ``due(now)`` takes those that have come."""

    __slots__ = ("_heap", "_slot_of", "_slots")

    def __init__(self) -> None:
        self._slot_of: dict[str, int] = {}
        self._slots: dict[int, set[str]] = {}
        self._heap: list[int] = []

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, account: object) -> bool:
        return account in self._slot_of

    def schedule(self, account: str, when: float) -> None:
        """Have the account due at ``when`` (wall clock), unless it is due earlier already."""
        slot = math.ceil(when * SLOTS)  # never early
        old = self._slot_of.get(account)
        if old is not None and old <= slot:
            return
        if old is not None:
            self._leave(account, old)
        self._slot_of[account] = slot
        accounts = self._slots.get(slot)
        if accounts is None:
            accounts = self._slots[slot] = set()
            heapq.heappush(self._heap, slot)
        accounts.add(account)

    def cancel(self, account: str) -> None:
        """The account has no deadline any more (it is watched at every tick, or gone)."""
        slot = self._slot_of.pop(account, None)
        if slot is not None:
            self._slots[slot].discard(account)
            if not self._slots[slot]:
                del self._slots[slot]

    def due(self, now: float) -> list[str]:
        """The accounts whose deadline is ``now`` or before, taken off the timetable."""
        heap, slots, now_slot = self._heap, self._slots, math.floor(now * SLOTS)
        out: list[str] = []
        while heap and heap[0] <= now_slot:
            accounts = slots.pop(heapq.heappop(heap), None)
            if accounts:  # None: emptied by rescheduling
                for account in accounts:
                    del self._slot_of[account]
                out.extend(accounts)
        return out

    def _leave(self, account: str, slot: int) -> None:
        accounts = self._slots[slot]
        accounts.discard(account)
        if not accounts:
            del self._slots[slot]
