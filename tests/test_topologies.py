"""Every topology in topologies/ replays to exactly the loops and runaways it declares.

One parametrized test: simulate into a temporary folder, replay it with loopwatch's own
offline pipeline, compare with the file's ``expect`` block and with the simulator's ground
truth (an active loop must be called active no later than its 3rd traversal, DESIGN §5).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from loopwatch.topology import builtin_topologies, load_topology, write_simulation


def rotation(cycle: tuple[str, ...]) -> tuple[str, ...]:
    """The rotation of ``cycle`` that starts at its smallest node id."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


# The file's own seed, and two more: records of one second come in any order, and a verdict
# that held for one shuffle only would be luck.
EXTRA_SEEDS = (None, 101, 202)


@pytest.mark.parametrize("seed", EXTRA_SEEDS, ids=lambda s: f"seed-{s or 'file'}")
@pytest.mark.parametrize("path", builtin_topologies(), ids=lambda p: p.stem)
def test_topology_replays_to_its_expectations(path: Path, seed: int | None, tmp_path: Path) -> None:
    from loopwatch.replay import replay

    topo = load_topology(path)
    if seed is not None:
        topo = dataclasses.replace(topo, traffic=dataclasses.replace(topo.traffic, seed=seed))
    out_dir = tmp_path / topo.name
    result = write_simulation(topo, out_dir)

    report = replay([str(out_dir)])

    assert report.errors == []
    assert report.counts.malformed == 0
    found = {rotation(tuple(loop.cycle)): loop for loop in report.loops}
    expected = {
        rotation(cycle): loop.status
        for cycle, loop in zip(topo.expected_cycles(), topo.expect.loops, strict=True)
    }
    assert {c: loop.status for c, loop in found.items()} == expected
    assert {r.function for r in report.runaway} == topo.expected_runaway()
    for truth in result.truth:
        if truth.status != "active":
            continue
        loop = found[rotation(truth.cycle)]
        assert truth.third_traversal_at is not None
        assert loop.detected_at is not None
        assert loop.detected_at <= truth.third_traversal_at, (
            f"{topo.name}: active at {loop.detected_at}, "
            f"3rd traversal completed at {truth.third_traversal_at}"
        )
