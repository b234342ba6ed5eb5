"""Freed memory handed back to the system once a burst of work is over.

    timer tick ──HeapTrim.tick(work done so far, now)──► quiet for QUIET s since it last grew?
                                                          └─► malloc_trim(0), once a burst

A burst (the first records of 20,000 accounts within a second, a partition's backlog after a
restart) allocates buffers that live for a moment: fetched batches, decoded records, changelog
messages on their way out. CPython returns its small-object arenas to the system once they
are empty, but the C allocator (glibc) keeps the larger blocks it freed for reuse: after such a
burst ~45 MB of a worker's RSS is free memory that nothing holds. ``malloc_trim(0)`` gives those
pages back. It walks the heap (~10 ms after a large burst), so the worker calls it once the
work has stopped for a while, not at every tick. Where there is no ``malloc_trim`` (musl, macOS)
nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

QUIET = 2.0
"""Seconds without work after which a burst is over (the timer ticks every 0.25 s)."""

Trim = Callable[[], object]


def malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class HeapTrim:
    """Trims the heap once after each burst of work, when it has been quiet for ``quiet`` s."""

    __slots__ = ("_changed_at", "_quiet", "_seen", "_trim", "_trimmed", "trims")

    def __init__(self, trim: Trim | None, quiet: float = QUIET) -> None:
        self._trim = trim
        self._quiet = quiet
        self._seen = 0
        self._trimmed = 0
        self._changed_at = float("-inf")
        self.trims = 0
        """How many times the heap was trimmed."""

    def tick(self, work: int, now: float) -> bool:
        """``work``: a count that grows with the work done (messages handled, accounts
        evicted); ``now``: the wall clock. True when this tick trimmed the heap."""
        if work != self._seen:
            self._seen, self._changed_at = work, now
            return False
        if self._trim is None or work == self._trimmed or now - self._changed_at < self._quiet:
            return False
        self._trimmed = work
        self._trim()
        self.trims += 1
        log.debug("heap trimmed after a burst of work (%d so far)", work)
        return True
