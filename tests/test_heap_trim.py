"""A worker hands what a burst freed back to the system once the burst is over
(``loopwatch.service.heap``): once per burst, after it has been quiet, and for real."""

from __future__ import annotations

import os

import pytest

from loopwatch.service.heap import HeapTrim, malloc_trim
from loopwatch.testing.processes import resident_kib


def test_the_heap_is_trimmed_once_a_burst_has_been_quiet_and_once_only() -> None:
    calls: list[float] = []
    clock = [0.0]
    heap = HeapTrim(lambda: calls.append(clock[0]), quiet=2.0)

    def tick(work: int, at: float) -> None:
        clock[0] = at
        heap.tick(work, at)

    tick(0, 0.0)
    tick(0, 5.0)
    assert calls == []  # no work yet: nothing to hand back
    for at, work in [(5.25, 10), (5.5, 500), (6.0, 20_000), (7.0, 20_000), (7.9, 20_000)]:
        tick(work, at)
    assert calls == []  # work went on until 6.0: not quiet for 2 s yet
    tick(20_000, 8.0)
    tick(20_000, 30.0)
    assert calls == [8.0]  # once the burst is over, and once only
    tick(20_001, 31.0)  # one more message: a burst of its own
    tick(20_001, 33.25)
    assert calls == [8.0, 33.25] and heap.trims == 2


@pytest.mark.skipif(malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_malloc_trim_hands_freed_heap_memory_back_to_the_system() -> None:
    trim = malloc_trim()
    assert trim is not None
    # Buffers of a burst, each under glibc's mmap threshold so they are carved from the heap,
    # with small long-lived blocks between them (as accounts are) so free() alone cannot
    # shrink the heap from its top.
    kept, burst = [], []
    for i in range(4096):
        burst.append(bytearray(16 * 1024))
        if i % 8 == 7:
            kept.append(bytearray(600))
    before = resident_kib(os.getpid())
    del burst
    freed = resident_kib(os.getpid())
    trim()
    after = resident_kib(os.getpid())
    print(f"RSS after the burst {before} KiB, freed {freed} KiB, trimmed {after} KiB")
    assert before - freed < 16 * 1024  # free() gave back little of the 64 MiB...
    assert freed - after > 48 * 1024  # ...malloc_trim the most of it
    assert len(kept) == 512
