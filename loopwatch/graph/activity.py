"""How often something happened, and when: counts over a sliding window of event time."""

from __future__ import annotations

from collections import deque
from typing import Any


class Activity:
    """Occurrences of one observed thing (a write, an invocation) in event time.

    Keeps the first and last time, a running total, and counts per second over the last
    ``window`` seconds, so memory is bounded by the window, not the rate. Events may arrive out
    of order (live input interleaves overlapping CloudTrail files): each is counted in its own
    second, and a count "at" a time leaves out what happened after it.
    """

    __slots__ = ("_slots", "_windowed", "first", "last", "total", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self.first = float("inf")
        self.last = float("-inf")
        self.total = 0
        self._slots: deque[list[int]] = deque()  # [second, count], ascending seconds
        self._windowed = 0

    def add(self, time: float, n: int = 1) -> None:
        if time < self.first:
            self.first = time
        if time > self.last:
            self.last = time
        self.total += n
        second = int(time)
        slots = self._slots
        if not slots or slots[-1][0] < second:
            slots.append([second, n])
        elif slots[-1][0] == second:
            slots[-1][1] += n
        else:
            self._insert(second, n)
        self._windowed += n
        self._trim(self.last)

    def count(self, now: float) -> int:
        """Occurrences in the window that ends at ``now``: none later than ``now``'s second."""
        total = self._windowed
        slots = self._slots
        if slots and slots[-1][0] > now:  # events from after ``now`` are not counted
            for second, n in reversed(slots):
                if second <= now:
                    break
                total -= n
        if now >= self.last:
            self._trim(now)  # time only moves on past the newest event: forget for good
            return self._windowed
        cutoff = now - self.window - 1.0  # an earlier window: its start is earlier too
        for second, n in slots:
            if second > cutoff:
                break
            total -= n
        return total

    def live(self, now: float, horizon: float) -> bool:
        """Seen at most ``horizon`` seconds before ``now`` (or after it)."""
        return now - self.last <= horizon

    def _insert(self, second: int, n: int) -> None:
        """Count an out-of-order event in its own second (found from the newest end)."""
        slots = self._slots
        for i in range(len(slots) - 1, -1, -1):
            if slots[i][0] == second:
                slots[i][1] += n
                return
            if slots[i][0] < second:
                slots.insert(i + 1, [second, n])
                return
        slots.appendleft([second, n])

    def to_state(self) -> list[Any]:
        """JSON-ready state; ``from_state`` rebuilds an equal Activity."""
        return [self.first, self.last, self.total, [list(slot) for slot in self._slots]]

    @classmethod
    def from_state(cls, state: list[Any], window: float) -> Activity:
        activity = cls(window)
        activity.first, activity.last, activity.total = (
            float(state[0]),
            float(state[1]),
            int(state[2]),
        )
        activity._slots.extend([int(sec), int(n)] for sec, n in state[3])
        activity._windowed = sum(n for _, n in activity._slots)
        return activity

    def _trim(self, now: float) -> None:
        # A slot holds events of second s, i.e. times in [s, s+1): drop it once s+1 <= now-window.
        cutoff = now - self.window - 1.0
        slots = self._slots
        while slots and slots[0][0] <= cutoff:
            self._windowed -= slots.popleft()[1]
