"""Facts spilled to disk as sorted runs come back in exactly the order one stable sort by event
time gives, and a replay holds a bounded number of them however many its logs yield."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.errors import describe
from loopwatch.events import runs
from loopwatch.events.facts import Fact, FunctionDeleted
from loopwatch.events.runs import FactRuns, SpillFailed


def facts(times: list[float]) -> list[Fact]:
    # Unique names: equal times are told apart, so stability is checked, not just times.
    return [
        FunctionDeleted(t, f"arn:aws:lambda:us-east-1:111122223333:function:f{i}")
        for i, t in enumerate(times)
    ]


@settings(max_examples=150, deadline=None)
@given(
    times=st.lists(st.sampled_from([0.0, 1.0, 1.5, 2.0, 7.0, 1e9]), max_size=120),
    spill_after=st.integers(1, 12),
    chunks=st.integers(1, 5),
)
def test_merged_is_one_stable_sort_by_time(
    times: list[float], spill_after: int, chunks: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    given_facts = facts(times)
    step = max(1, len(given_facts) // chunks)
    original = runs.MAX_RUNS
    runs.MAX_RUNS = 3  # the runs are merged into one now and then, too
    try:
        with FactRuns(spill_after, directory=str(tmp_path_factory.mktemp("runs"))) as kept:
            for start in range(0, len(given_facts), step):  # added as units come, in pieces
                kept.extend(given_facts[start : start + step])
            assert len(kept) == len(given_facts)
            merged = list(kept.merged())
            # replay dates the inventory's facts by the first merged fact: the earliest time
            assert (merged[0].time if merged else None) == (min(times) if times else None)
            assert merged == sorted(given_facts, key=lambda f: f.time)
    finally:
        runs.MAX_RUNS = original


def test_runs_live_in_a_private_directory_removed_on_close(tmp_path: Path) -> None:
    with FactRuns(2, directory=str(tmp_path)) as kept:
        kept.extend(facts([3.0, 1.0, 2.0, 0.0, 5.0]))
        (folder,) = tmp_path.iterdir()
        assert len(list(folder.iterdir())) == 2 and kept.spilled == 4
        assert [f.time for f in kept.merged()] == [0.0, 1.0, 2.0, 3.0, 5.0]
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_takes_no_run_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with FactRuns(1, directory=str(missing)) as kept, pytest.raises(SpillFailed) as caught:
        kept.extend(facts([1.0]))
    assert str(caught.value).startswith(f"cannot keep the replay's facts on disk in {missing}:")
    assert describe(caught.value) == str(caught.value)  # the CLI's one line, exit 2


def test_spill_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FactRuns(0)


def lazily(count: int) -> Iterator[Fact]:
    for i in range(count):  # times going back and forth, as overlapping files give them
        yield FunctionDeleted(
            float((i * 7919) % 10_007), f"arn:aws:lambda:us-east-1:1:function:f{i}"
        )


def peak_bytes(spill_after: int, count: int, directory: Path) -> int:
    tracemalloc.start()
    try:
        with FactRuns(spill_after, directory=str(directory)) as kept:
            kept.extend(lazily(count))
            last = -1.0
            for fact in kept.merged():
                assert fact.time >= last
                last = fact.time
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_follows_the_spill_threshold_not_the_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At scale: 500k facts a run, blocks of 1k. In small: 4k a run, blocks of 100 (while
    # merging, each of the 10 runs holds one block).
    monkeypatch.setattr(runs, "BLOCK_FACTS", 100)
    count = 40_000
    held = peak_bytes(count + 1, count, tmp_path)  # never spills: every fact in memory
    spilled = peak_bytes(4_000, count, tmp_path)
    assert spilled < held / 4, (spilled, held)
