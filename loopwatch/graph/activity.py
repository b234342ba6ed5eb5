"""How often something happened, and when: counts over a sliding window of event time."""

from __future__ import annotations

from typing import Any


class Activity:
    """Occurrences of one observed thing (a write, an invocation) in event time.

    Keeps the first and last time, a running total, and counts per second over the last
    ``window`` seconds, so memory is bounded by the window, not the rate. Events may arrive out
    of order (live input interleaves overlapping CloudTrail files): each is counted in its own
    second, and a count "at" a time leaves out what happened after it.

    The per-second counts live in two parallel lists of plain ints rather than a deque of
    ``[second, count]`` lists: no container per second for the garbage collector to scan, and
    a few dozen bytes per activity where a deque takes a 0.5 KB block — on a graph of 10k
    functions the engine's cost is bound by memory, not by work. Dropping from the front of a
    list copies it, but it holds at most one entry per second of the window.
    """

    __slots__ = ("_counts", "_seconds", "_windowed", "first", "last", "total", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self.first = float("inf")
        self.last = float("-inf")
        self.total = 0
        self._seconds: list[int] = []  # ascending
        self._counts: list[int] = []  # events in the second at the same index
        self._windowed = 0

    def add(self, time: float, n: int = 1) -> None:
        if time < self.first:
            self.first = time
        if time > self.last:
            self.last = time
        self.total += n
        second = int(time)
        seconds = self._seconds
        if not seconds or seconds[-1] < second:
            seconds.append(second)
            self._counts.append(n)
        elif seconds[-1] == second:
            self._counts[-1] += n
        else:
            self._insert(second, n)
        self._windowed += n
        self._trim(self.last)

    def count(self, now: float) -> int:
        """Occurrences in the window that ends at ``now``: none later than ``now``'s second."""
        if now >= self.last:
            self._trim(now)  # time only moves on past the newest event: forget for good
            return self._windowed
        total = self._windowed
        seconds, counts = self._seconds, self._counts
        i = len(seconds) - 1
        while i >= 0 and seconds[i] > now:  # events from after ``now`` are not counted
            total -= counts[i]
            i -= 1
        cutoff = now - self.window - 1.0  # an earlier window: its start is earlier too
        for j in range(i + 1):
            if seconds[j] > cutoff:
                break
            total -= counts[j]
        return total

    def live(self, now: float, horizon: float) -> bool:
        """Seen at most ``horizon`` seconds before ``now`` (or after it)."""
        return now - self.last <= horizon

    def _insert(self, second: int, n: int) -> None:
        """Count an out-of-order event in its own second (found from the newest end)."""
        seconds, counts = self._seconds, self._counts
        for i in range(len(seconds) - 1, -1, -1):
            if seconds[i] == second:
                counts[i] += n
                return
            if seconds[i] < second:
                seconds.insert(i + 1, second)
                counts.insert(i + 1, n)
                return
        seconds.insert(0, second)
        counts.insert(0, n)

    def to_state(self) -> list[Any]:
        """JSON-ready state; ``from_state`` rebuilds an equal Activity."""
        return [
            self.first,
            self.last,
            self.total,
            [[s, n] for s, n in zip(self._seconds, self._counts, strict=True)],
        ]

    @classmethod
    def from_state(cls, state: list[Any], window: float) -> Activity:
        activity = cls(window)
        activity.first, activity.last, activity.total = (
            float(state[0]),
            float(state[1]),
            int(state[2]),
        )
        for second, n in state[3]:
            activity._seconds.append(int(second))
            activity._counts.append(int(n))
        activity._windowed = sum(activity._counts)
        return activity

    def _trim(self, now: float) -> None:
        # Second s holds times in [s, s+1): drop it once s+1 <= now - window.
        cutoff = now - self.window - 1.0
        seconds = self._seconds
        if not seconds or seconds[0] > cutoff:
            return
        drop = 0
        while drop < len(seconds) and seconds[drop] <= cutoff:
            drop += 1
        counts = self._counts
        self._windowed -= sum(counts[:drop])
        del seconds[:drop], counts[:drop]
