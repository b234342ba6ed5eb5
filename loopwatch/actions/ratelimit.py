"""A sliding one-hour budget of throttles.

Findings come from logs an attacker may be able to write to (a forged CloudTrail record, an
invocation event on an open topic). The budget caps how many functions loopwatch can switch
off per hour, whatever the input says.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

HOUR = 3600.0


class HourlyLimit:
    """At most ``per_hour`` acquisitions in any sliding hour of ``clock`` time.

    The budget lives in memory: a restart starts a fresh hour, which is the documented limit
    of this guard (the ledger's holds still show everything that was changed).
    """

    def __init__(self, per_hour: int, clock: Callable[[], float]) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one from the budget; False (and nothing taken) when it is spent."""
        with self._lock:
            now = self._clock()
            while self._times and self._times[0] <= now - HOUR:
                self._times.popleft()
            if len(self._times) >= self.per_hour:
                return False
            self._times.append(now)
            return True
