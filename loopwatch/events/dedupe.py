"""Recently applied event ids: the one dedupe of the intake, bounded in time and size."""

from __future__ import annotations

from collections import deque
from typing import Any

from loopwatch.events.shared import is_shared, shared_dict

_NEVER = float("-inf")
_NO_ENTRIES: deque[tuple[float, str]] = deque(maxlen=0)
"""The entries of every RecentIds that has seen no id yet: shared, and it keeps nothing
appended to it. A worker holds thousands of accounts whose records give no facts, and a deque
of their own would cost each 600 bytes (``loopwatch.events.shared`` says more)."""


class RecentIds:
    """Event ids seen in the last ``span`` seconds of event time, at most ``limit`` of them.

    Bounded both ways because it is saved with an account's state: duplicates that CloudTrail
    delivers come minutes apart, not hours.
    """

    __slots__ = ("_ids", "_newest", "_order", "limit", "span")

    def __init__(self, span: float = 900.0, limit: int = 200_000) -> None:
        self.span = span
        self.limit = limit
        # Shared empty until the first id, then its own.
        self._ids: dict[str, float] = shared_dict()
        self._order = _NO_ENTRIES
        self._newest = _NEVER

    def seen(self, key: str, time: float) -> bool:
        """True if ``key`` was seen already; otherwise remember it."""
        if key in self._ids:
            return True
        if is_shared(self._ids):
            self._ids, self._order = {}, deque()
        self._ids[key] = time
        self._order.append((time, key))
        if time > self._newest:
            self._newest = time
        self._prune()
        return False

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def entries(self) -> deque[tuple[float, str]]:
        """(time, id) of the ids kept, oldest first: the live deque, not a copy (the state
        writer reads only its newest end). Not to be changed."""
        return self._order

    @property
    def newest(self) -> float:
        """The newest event time ever seen (-inf before the first): it decides what the span
        drops next, and may be past every id kept when the size bound dropped them."""
        return self._newest

    @newest.setter
    def newest(self, time: float) -> None:
        self._newest = time

    def _prune(self) -> None:
        order, ids, oldest = self._order, self._ids, self._newest - self.span
        while order and (order[0][0] < oldest or len(ids) > self.limit):
            _, key = order.popleft()
            ids.pop(key, None)

    def to_state(self) -> list[list[Any]]:
        return [[time, key] for time, key in self._order]

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> RecentIds:
        recent = cls()
        if state:
            recent._ids, recent._order = {}, deque()
        for time, key in state:
            recent._ids[key] = float(time)
            recent._order.append((float(time), key))
            recent._newest = max(recent._newest, float(time))
        return recent
