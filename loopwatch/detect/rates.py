"""Runaway rates: a function whose invocations grow window over window, or pass a ceiling.

Each function counts invocations in tumbling windows of event time. Invocation events and
Invoke data events are the best evidence; a function never seen invoked is counted by its
writes instead (one call ≈ one run), until an invocation is seen.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect.findings import RunawayFinding


class _FunctionRate:
    __slots__ = ("by_invocations", "count", "history", "keep", "runaway", "window_index")

    def __init__(self, history: int) -> None:
        self.keep = history
        self.by_invocations = False
        self.window_index = -1
        self.count = 0
        # Full windows before the current one, at most ``keep``: a short list, not a deque,
        # whose 0.5 KB block per function would dominate memory on large graphs.
        self.history: list[int] = []
        self.runaway = False  # inside a runaway episode: report once until it calms down


class RateDetector:
    def __init__(self, config: DetectionConfig) -> None:
        self._config = config
        self._per_min = 60.0 / config.rate_window
        self._floor = config.rate_floor_per_min / self._per_min  # as a count per window
        self._ceiling = config.rate_ceiling_per_min / self._per_min
        self._rates: dict[str, _FunctionRate] = {}

    def invoked(self, function: str, time: float) -> RunawayFinding | None:
        rate = self._rate(function)
        if not rate.by_invocations:  # real invocations replace the writes proxy from now on
            rate.by_invocations = True
            rate.window_index, rate.count = -1, 0
            rate.history.clear()
        return self._count(function, rate, time)

    def wrote(self, function: str, time: float) -> RunawayFinding | None:
        rate = self._rate(function)
        if rate.by_invocations:
            return None
        return self._count(function, rate, time)

    def rate_per_min(self, function: str) -> float:
        rate = self._rates.get(function)
        return 0.0 if rate is None else rate.count * self._per_min

    def to_state(self) -> dict[str, list[Any]]:
        return {
            fn: [r.by_invocations, r.window_index, r.count, list(r.history), r.runaway]
            for fn, r in self._rates.items()
        }

    @classmethod
    def from_state(cls, state: dict[str, list[Any]], config: DetectionConfig) -> RateDetector:
        detector = cls(config)
        for function, (by_invocations, index, count, history, runaway) in state.items():
            rate = detector._rate(function)
            rate.by_invocations, rate.window_index, rate.count = (
                bool(by_invocations),
                int(index),
                int(count),
            )
            rate.history.extend(int(n) for n in history[-rate.keep :])
            rate.runaway = bool(runaway)
        return detector

    def _rate(self, function: str) -> _FunctionRate:
        rate = self._rates.get(function)
        if rate is None:
            rate = self._rates[function] = _FunctionRate(self._config.rate_growth_windows)
        return rate

    def _count(self, function: str, rate: _FunctionRate, time: float) -> RunawayFinding | None:
        index = int(time // self._config.rate_window)
        if index > rate.window_index:
            self._roll(rate, index)
        rate.count += 1
        if rate.runaway:
            return None
        reason = self._runaway_reason(rate)
        if reason is None:
            return None
        rate.runaway = True
        previous = rate.history[-1] if rate.history else 0
        return RunawayFinding(
            function=function,
            detected_at=time,
            rate_per_min=rate.count * self._per_min,
            growth=rate.count / previous if previous else None,
            reason=reason,
        )

    def _roll(self, rate: _FunctionRate, index: int) -> None:
        if rate.window_index >= 0:
            _push(rate, rate.count)
            if rate.count < self._floor:
                rate.runaway = False  # the episode is over; a new one may be reported
            # Windows with no event at all count as empty.
            for _ in range(min(index - rate.window_index - 1, rate.keep)):
                _push(rate, 0)
                rate.runaway = False
        rate.window_index = index
        rate.count = 0

    def _runaway_reason(self, rate: _FunctionRate) -> str | None:
        count = rate.count
        if count >= self._ceiling:
            return "ceiling"
        history = rate.history
        growth = self._config.rate_growth
        # Cheap checks first: this runs for every invocation.
        if count < self._floor or len(history) < self._config.rate_growth_windows:
            return None
        if count < growth * history[-1]:
            return None
        # The windows before the current one must have grown too, each above the floor.
        for before, after in pairwise(history):
            if after < self._floor or after < growth * before:
                return None
        return "growth"


def _push(rate: _FunctionRate, count: int) -> None:
    history = rate.history
    history.append(count)
    if len(history) > rate.keep:
        del history[0]
