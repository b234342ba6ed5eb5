"""Runaway rates: a function whose invocations grow window over window, or pass a ceiling.

Each function counts invocations in tumbling windows of event time. Invocation events and
Invoke data events are the best evidence; a function never seen invoked is counted by its
writes instead (one call ≈ one run), until an invocation is seen.

Live input is out of order (CloudTrail files overlap by minutes), so counts are kept per window
index, each event in its own window, and a late event re-checks the windows it can change: the
functions found runaway do not depend on the order events arrive in. A window of a growth chain
can be incomplete when it is checked (its records a file later): a chain that the complete
windows no longer make runaway takes its finding back (``revised``), as late records revise a
loop (DESIGN §5, "Revocation").
"""

from __future__ import annotations

from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect.findings import RunawayFinding
from loopwatch.events.shared import is_shared, shared_dict, shared_number
from loopwatch.graph.changes import Changed

_NONE = -(2**62)  # "no window yet": JSON-safe, below any real index


class _FunctionRate:
    """Counts of the last few windows: ``counts[i]`` is window ``base + i``.

    Two plain ints and a short list rather than a dict per function: on graphs of 10k
    functions the engine's cost is bound by memory.
    """

    __slots__ = ("base", "by_invocations", "counts", "first", "hot", "reported")

    def __init__(self) -> None:
        self.by_invocations = False
        self.base = _NONE
        self.counts: list[int] = []
        self.first = _NONE  # the earliest window with an event: none exist before it
        self.reported = _NONE  # the window of the last runaway finding
        self.hot: list[int] | None = None  # windows whose chain is runaway now (None: none yet)

    @property
    def newest(self) -> int:
        return self.base + len(self.counts) - 1

    def count(self, index: int) -> int:
        offset = index - self.base
        return self.counts[offset] if 0 <= offset < len(self.counts) else 0


class RateDetector:
    __slots__ = (
        "_ceiling",
        "_chain",
        "_config",
        "_floor",
        "_keep",
        "_per_min",
        "_rates",
        "changed",
    )

    def __init__(self, config: DetectionConfig) -> None:
        self._config = config
        self._per_min = shared_number(60.0 / config.rate_window)
        # as counts per window
        self._floor = shared_number(config.rate_floor_per_min / self._per_min)
        self._ceiling = shared_number(config.rate_ceiling_per_min / self._per_min)
        self._chain = config.rate_growth_windows
        # Windows kept per function: a late event (up to the horizon) still lands in its own
        # window and re-checks the chains it is part of, so the functions found runaway
        # depend on the events, not their order (DESIGN §5); plus the chain a decision reads
        # and the window it starts from.
        self._keep = int(config.horizon // config.rate_window) + config.rate_growth_windows + 2
        self._rates: dict[str, _FunctionRate] = shared_dict()  # its own from the first function
        self.changed: Changed[str] | None = None
        """Functions whose counts may have changed since they were last taken, kept once
        someone sets it (the service, to save only those); None keeps nothing."""

    def invoked(self, function: str, time: float) -> RunawayFinding | None:
        if self.changed is not None:
            self.changed.add(function)
        rate = self._rate(function)
        if not rate.by_invocations:  # real invocations replace the writes proxy from now on
            rate.by_invocations = True
            rate.base = rate.first = rate.reported = _NONE
            rate.counts, rate.hot = [], None
        return self._count(function, rate, time)

    def wrote(self, function: str, time: float) -> RunawayFinding | None:
        if self.changed is not None:
            self.changed.add(function)
        rate = self._rate(function)
        if rate.by_invocations:
            return None
        return self._count(function, rate, time)

    def rate_per_min(self, function: str) -> float:
        """Invocations a minute in the function's newest window (0 for an unknown function)."""
        rate = self._rates.get(function)
        return 0.0 if rate is None or not rate.counts else rate.counts[-1] * self._per_min

    def to_state(self) -> dict[str, list[Any]]:
        return {fn: _rate_state(r) for fn, r in self._rates.items()}

    def state_of(self, function: str) -> list[Any] | None:
        """One function's entry of ``to_state`` (None: never counted)."""
        rate = self._rates.get(function)
        return None if rate is None else _rate_state(rate)

    @classmethod
    def from_state(cls, state: dict[str, list[Any]], config: DetectionConfig) -> RateDetector:
        detector = cls(config)
        for function, entry in state.items():
            by_invocations, base, counts, first, reported = entry[:5]
            rate = detector._rate(function)
            rate.by_invocations = bool(by_invocations)
            rate.base, rate.first, rate.reported = int(base), int(first), int(reported)
            rate.counts = [int(n) for n in counts]
            hot = entry[5] if len(entry) > 5 else None  # older state kept no hot windows
            rate.hot = None if not hot else [int(w) for w in hot]
        return detector

    def _rate(self, function: str) -> _FunctionRate:
        rate = self._rates.get(function)
        if rate is None:
            if is_shared(self._rates):
                self._rates = {}
            rate = self._rates[function] = _FunctionRate()
        return rate

    def _count(self, function: str, rate: _FunctionRate, time: float) -> RunawayFinding | None:
        index = int(time // self._config.rate_window)
        counts = rate.counts
        if not counts:
            rate.base, rate.first = index, index
            counts.append(1)
        elif index > rate.newest:
            counts.extend([0] * (index - rate.newest))
            counts[-1] = 1
            if len(counts) > self._keep:
                drop = len(counts) - self._keep
                del counts[:drop]
                rate.base += drop
                if rate.hot:
                    rate.hot = [w for w in rate.hot if w >= rate.base] or None
        elif index >= rate.base:
            counts[index - rate.base] += 1
        elif index > rate.newest - self._keep:  # late, before the first window kept: still kept
            counts[0:0] = [0] * (rate.base - index)
            counts[0] = 1
            rate.base = index
        else:
            return None  # older than every window kept: it can change no decision any more
        if index < rate.first:
            rate.first = index
        # The window the event landed in, and (when it is late) the later windows whose growth
        # chain it is part of: a window's decision reads it and the ``chain`` before it.
        found: RunawayFinding | None = None
        cooled = False
        for window in range(index, min(rate.newest, index + self._chain) + 1):
            reason = self._runaway_reason(rate, window)
            hot = rate.hot
            if reason is not None:
                if hot is None:
                    hot = rate.hot = []
                if window not in hot:
                    hot.append(window)
                if found is None:
                    found = self._report(function, rate, window, reason, time)
            elif hot and window in hot:
                hot.remove(window)
                cooled = True
        if found is None and cooled and not rate.hot and rate.reported != _NONE:
            # Every chain it was reported on is no longer runaway, counted complete.
            rate.reported, rate.hot = _NONE, None
            return RunawayFinding(
                function=function,
                detected_at=time,
                rate_per_min=rate.count(index) * self._per_min,
                growth=None,
                reason="revised",
                revised=True,
            )
        return found

    def _report(
        self, function: str, rate: _FunctionRate, window: int, reason: str, time: float
    ) -> RunawayFinding | None:
        if self._same_episode(rate, window):
            return None
        rate.reported = window
        previous = rate.count(window - 1)
        count = rate.count(window)
        return RunawayFinding(
            function=function,
            detected_at=max(time, window * self._config.rate_window),
            rate_per_min=count * self._per_min,
            growth=count / previous if previous else None,
            reason=reason,
        )

    def _same_episode(self, rate: _FunctionRate, window: int) -> bool:
        """A runaway is reported once an episode: windows above the floor, back to back."""
        reported = rate.reported
        if reported == _NONE:
            return False
        if window <= reported:
            return True  # a later window of it was reported already
        if window - reported > self._keep:
            return False  # windows in between are gone: they were quiet enough to be dropped
        return all(rate.count(w) >= self._floor for w in range(reported + 1, window))

    def _runaway_reason(self, rate: _FunctionRate, window: int) -> str | None:
        count = rate.count(window)
        if count >= self._ceiling:
            return "ceiling"
        # Cheap checks first: this runs for every invocation.
        if count < self._floor or window - self._chain < rate.first:
            return None
        growth = self._config.rate_growth
        after = count
        for before_window in range(window - 1, window - self._chain - 1, -1):
            before = rate.count(before_window)
            if after < growth * before:
                return None
            if before_window == window - self._chain:
                break  # the chain's first window need not be above the floor
            if before < self._floor:
                return None
            after = before
        return "growth"


def _rate_state(rate: _FunctionRate) -> list[Any]:
    state = [rate.by_invocations, rate.base, list(rate.counts), rate.first, rate.reported]
    if rate.hot:
        state.append(list(rate.hot))
    return state
