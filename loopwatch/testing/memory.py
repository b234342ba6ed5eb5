"""A process's own peak memory, for tests and benchmarks that bound it."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB.

    Not ``ru_maxrss`` where ``/proc`` tells: on Linux that survives fork + exec, so a process
    started by a big one (a test runner at 1.5 GiB) reports the starter's peak as its own.
    ``VmHWM`` is the peak of this program's memory alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
