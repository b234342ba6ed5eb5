"""The pure detection engine: cycles, rates and incidents, advancing on event time only.

Imports nothing that does I/O and never reads the wall clock, so a replay of yesterday's logs
says exactly what the live service would have said.
"""

from loopwatch.detect.engine import Engine
from loopwatch.detect.findings import Finding, LoopFinding, RunawayFinding

__all__ = ["Engine", "Finding", "LoopFinding", "RunawayFinding"]
