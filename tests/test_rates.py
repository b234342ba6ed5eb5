"""The runaway-rate detector: growth window over window above a floor, or a ceiling."""

from __future__ import annotations

from loopwatch.config import DetectionConfig
from loopwatch.testing.scenario import Scenario

FN = Scenario.fn("burst")


def feed(s: Scenario, per_minute: list[int], start: float = 0.0) -> None:
    for minute, count in enumerate(per_minute):
        for i in range(count):
            s.invoked(start + minute * 60 + i * 60 / count, FN)


def test_doubling_for_three_windows_above_the_floor_is_runaway() -> None:
    s = Scenario()
    feed(s, [40, 80, 160, 320, 640])
    (runaway,) = s.runaways()
    assert runaway.function == FN and runaway.reason == "growth"
    # 80 and 160 were the windows before; the fourth window is caught as it passes 2 x 160.
    assert 180 <= runaway.detected_at < 240
    assert runaway.rate_per_min == 320 and runaway.growth == 2.0


def test_steady_high_traffic_and_growth_below_the_floor_are_not_runaway() -> None:
    steady, small = Scenario(), Scenario()
    feed(steady, [300] * 8)
    feed(small, [2, 4, 8, 16, 32, 50])
    assert steady.runaways() == [] and small.runaways() == []


def test_ceiling_is_runaway_whatever_the_growth() -> None:
    s = Scenario(config=DetectionConfig(rate_ceiling_per_min=500))
    feed(s, [400, 600])
    (runaway,) = s.runaways()
    assert runaway.reason == "ceiling" and 60 <= runaway.detected_at < 120


def test_writes_stand_in_for_invocations_until_invocations_are_seen() -> None:
    s = Scenario()
    out = Scenario.queue("out")
    for minute, count in enumerate([40, 80, 160, 320]):
        for i in range(count):
            s.write(minute * 60 + i * 60 / count, "burst", out)
    assert [r.function for r in s.runaways()] == [FN]
    quiet = Scenario()
    quiet.invoked(0, FN)
    for minute, count in enumerate([40, 80, 160, 320]):
        for i in range(count):
            quiet.write(minute * 60 + i * 60 / count, "burst", out)
    assert quiet.runaways() == []  # invocations were seen: one invocation a run, no runaway


def test_one_report_per_episode() -> None:
    s = Scenario()
    feed(s, [40, 80, 160, 320, 640, 1280])
    feed(s, [0, 0, 40, 80, 160, 320], start=6 * 60)
    assert len(s.runaways()) == 2
