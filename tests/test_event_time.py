"""Measurement at the records' own event times (DESIGN §5, "Verdicts depend on the set of records
only", "Revocation"): the engine fed the same facts in any split and order reaches the same
verdicts, late records are counted in every window they fall in, and a verdict they change is
revised."""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine, Finding, LoopFinding, RunawayFinding
from loopwatch.detect.driver import Driver
from loopwatch.detect.findings import ACTIVE, ESCALATED, LATENT, REVISED
from loopwatch.events import facts as f
from loopwatch.graph.activity import Activity
from loopwatch.testing.scenario import ACCOUNT, Scenario

S = Scenario
ROLE = f"arn:aws:iam::{ACCOUNT}:role/"
T0 = 1_790_000_000.0


# -- Activity: a count at a point does not depend on the order events came in --------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 3000, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=60
    ),
    st.randoms(use_true_random=False),
    st.floats(0, 3100, allow_nan=False),
)
def test_a_count_at_any_time_is_the_events_in_its_window_whatever_their_order(
    events: list[tuple[float, int]], rng: random.Random, at: float
) -> None:
    window, keep = 300.0, 3900.0
    shuffled = events[:]
    rng.shuffle(shuffled)
    in_order, out_of_order = Activity(window, keep), Activity(window, keep)
    for time, n in sorted(events):
        in_order.add(time, n)
    for time, n in shuffled:
        out_of_order.add(time, n)
    expected = sum(n for time, n in events if at - window - 1.0 < int(time) <= at)
    assert in_order.count(at) == out_of_order.count(at) == expected
    assert out_of_order.total == sum(n for _, n in events)


def test_a_count_never_forgets_what_a_later_window_left_out() -> None:
    # Measuring at a later time must not drop what an earlier window still holds.
    activity = Activity(300.0, 3900.0)
    for second in range(100, 110):
        activity.add(second)
    assert activity.count(2000.0) == 0
    assert activity.count(110.0) == 10


# -- stories as facts ---------------------------------------------------------------------------


def _self_loop(name: str, start: float, runs: int, guarded: bool) -> list[f.Fact]:
    """An S3 self-loop of function ``name`` on bucket ``name``, each run logged (Invoke with a
    sourceArn) a second after the write that caused it; guarded: every second run exits
    without writing (gain 0.5, AWS's recommended write-back)."""
    bucket, function = S.bucket(name), S.fn(name)
    out: list[f.Fact] = [
        f.FunctionDeclared(start - 60, function, ROLE + name),
        f.BucketTriggersReplaced(
            start - 50,
            bucket,
            (f.Trigger(f"s3:{bucket}:0", bucket, function, f.S3_NOTIFICATION),),
        ),
    ]
    caller = f.Caller(ACCOUNT, "us-east-1", name, name)
    t = start
    for i in range(runs):
        out.append(f.Invoked(t, function, source=bucket))
        if not guarded or i % 2 == 0:
            out.append(f.Write(t + 1, caller, bucket, key=f"{i}", s3_event="ObjectCreated:Put"))
        t += 2
    return out


def _runaway(name: str, start: float, minutes: int) -> list[f.Fact]:
    """A function with no loop whose invocations double every minute from 64 a minute (its
    minutes are the rate windows: ``start`` is rounded down to a minute)."""
    function = S.fn(name)
    start -= start % 60
    out: list[f.Fact] = [f.FunctionDeclared(start - 60, function, ROLE + name)]
    for minute in range(minutes):
        n = 64 * 2**minute
        base = start + 60 * minute
        out.extend(f.Invoked(base + 60 * k / n, function) for k in range(n))
    return out


Story = Callable[[str, float], list[f.Fact]]
STORIES: dict[str, tuple[Story, str | None]] = {
    # name -> (facts of the story at a start time, the verdict of its loop: status or None)
    "loop": (lambda n, t: _self_loop(n, t, 12, guarded=False), ACTIVE),
    "guarded": (lambda n, t: _self_loop(n, t, 40, guarded=True), LATENT),
    "runaway": (lambda n, t: _runaway(n, t, 4), None),
}


def _verdict(findings: list[Finding], engine: Engine) -> tuple[frozenset[object], ...]:
    """Each incident's final status, and the runaway functions."""
    final = {frozenset(i.cycle): i.status for i in engine.incidents.incidents.values()}
    runaway = {x.function for x in findings if isinstance(x, RunawayFinding)}
    return frozenset(final.items()), frozenset(runaway)


def _feed(chunks: list[list[f.Fact]]) -> tuple[list[Finding], Engine]:
    engine = Engine(DetectionConfig())
    driver = Driver(engine)
    findings: list[Finding] = []
    for chunk in chunks:
        findings.extend(driver.feed(list(chunk)).findings)
    findings.extend(driver.settle())
    return findings, engine


def test_a_guarded_write_back_whose_runs_arrive_a_file_later_is_revised_and_never_stays_active() -> (
    None
):
    facts = _self_loop("media", T0, 40, guarded=True)
    writes = [x for x in facts if not isinstance(x, f.Invoked)]
    runs = [x for x in facts if isinstance(x, f.Invoked)]
    findings, engine = _feed([writes, runs])
    (incident,) = engine.incidents.incidents.values()
    assert incident.status == LATENT and incident.guarded
    loops = [x for x in findings if isinstance(x, LoopFinding)]
    # The writes alone looked like a runaway loop; the runs that came later revise it.
    assert [x.change for x in loops if x.status == ACTIVE] == [ESCALATED]
    assert loops[-1].change == REVISED and loops[-1].status == LATENT
    assert "guarded" in loops[-1].explanation and "Revised" in loops[-1].explanation
    # In order it is never active at all.
    in_order, _ = _feed([facts])
    assert not [x for x in in_order if isinstance(x, LoopFinding) and x.status == ACTIVE]


def test_a_loop_is_active_when_its_files_come_after_an_accounts_later_story() -> None:
    ahead = _self_loop("other", T0 + 900, 4, guarded=False)
    loop = _self_loop("media", T0, 12, guarded=False)
    files = [loop[i : i + 5] for i in range(0, len(loop), 5)]
    _, engine = _feed([ahead, *reversed(files)])
    statuses = {frozenset(i.cycle): i.status for i in engine.incidents.incidents.values()}
    assert statuses[frozenset({S.bucket("media"), S.fn("media")})] == ACTIVE


def test_a_runaway_is_found_when_its_minutes_arrive_in_reverse_behind_a_later_story() -> None:
    ahead = _self_loop("other", T0 + 1200, 2, guarded=False)
    facts = _runaway("resize", T0, 5)
    by_minute: dict[int, list[f.Fact]] = {}
    for fact in facts:
        by_minute.setdefault(int((fact.time - T0) // 60), []).append(fact)
    findings, _ = _feed([ahead, *(by_minute[m] for m in sorted(by_minute, reverse=True))])
    assert {x.function for x in findings if isinstance(x, RunawayFinding)} == {S.fn("resize")}


# -- the property: composed stories, split and shuffled, give the union of their verdicts ---------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(STORIES)), min_size=1, max_size=3),
    st.lists(st.integers(0, 1800), min_size=4, max_size=4),
    st.randoms(use_true_random=False),
)
def test_composed_stories_cut_and_shuffled_give_the_union_of_their_verdicts(
    kinds: list[str], offsets: list[int], rng: random.Random
) -> None:
    alone: list[tuple[frozenset[object], ...]] = []
    composed: list[f.Fact] = []
    for i, kind in enumerate(kinds):
        story, _ = STORIES[kind]
        facts = story(f"{kind}{i}", T0 + offsets[i])
        alone.append(_verdict(*_feed([facts])))
        composed.extend(facts)
    union = tuple(frozenset[object]().union(*(v[k] for v in alone)) for k in range(2))

    rng.shuffle(composed)
    cuts = sorted(rng.sample(range(1, len(composed)), min(len(composed) - 1, rng.randint(1, 12))))
    chunks = [composed[a:b] for a, b in zip([0, *cuts], [*cuts, len(composed)], strict=True)]
    rng.shuffle(chunks)
    assert _verdict(*_feed(chunks)) == union

    for i, kind in enumerate(kinds):
        status = STORIES[kind][1]
        if status is not None:
            assert (frozenset({S.bucket(f"{kind}{i}"), S.fn(f"{kind}{i}")}), status) in union[0]


def test_a_runaway_found_on_a_partial_window_is_taken_back_and_its_alert_says_so() -> None:
    # Minute 1 arrives before most of minute 0: 64 then 256 looks like growth; the rest of
    # minute 0 (then 192) shows no chain of doublings. Published JSON and the alert both say so.
    from loopwatch.actions.alert import alert_for, payload
    from loopwatch.detect.findings import finding_from_json, finding_json, standing_runaways

    function = S.fn("resize")
    start = T0 - T0 % 60
    minute = [
        [start + 60 * m + k * 60 / n for k in range(n)] for m, n in enumerate((192, 256, 512))
    ]
    early, rest = minute[0][:64], minute[0][64:]
    chunks: list[list[f.Fact]] = [
        [f.Invoked(t, function) for t in early],
        [f.Invoked(t, function) for t in minute[1] + minute[2]],
        [f.Invoked(t, function) for t in rest],
    ]
    config = DetectionConfig(rate_growth_windows=2)
    engine = Engine(config)
    driver = Driver(engine)
    findings = [x for chunk in chunks for x in driver.feed(chunk).findings]
    runaways = [x for x in findings if isinstance(x, RunawayFinding)]
    assert [r.revised for r in runaways] == [False, True]
    assert standing_runaways(findings) == []
    again, _ = finding_from_json(finding_json(runaways[-1], ACCOUNT))
    assert again == runaways[-1]
    alert = payload(alert_for(runaways[-1], ACCOUNT))
    assert alert["state"] == REVISED and "Revised" in str(alert["explanation"])
    # In order there is nothing to take back: it never was runaway.
    in_order = Driver(Engine(config)).feed([x for chunk in chunks for x in chunk]).findings
    assert not [x for x in in_order if isinstance(x, RunawayFinding)]
