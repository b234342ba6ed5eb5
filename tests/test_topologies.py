"""Every topology in topologies/ replays to exactly the loops and runaways it declares.

One parametrized test: simulate into a temporary folder, replay it with loopwatch's own
offline pipeline, compare with the file's expectations and with the simulator's ground
truth (a confirmed active loop must be called active no later than its 3rd traversal,
DESIGN §5). A topology whose configuration predates its logs (``configured_before_trail``)
is replayed three ways: its logs alone (``expect``), beside the inventory built from the
model, and beside the inventory read from the same resources made in the AWS emulator
(both ``expect_with_inventory``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loopwatch.inventory import Snapshot
from loopwatch.replay import replay
from loopwatch.testing.aws import moto_server
from loopwatch.testing.topology_estate import MOTO_ACCOUNT, configured_graph, topology_inventory
from loopwatch.topology import Topology, builtin_topologies, load_topology, write_simulation
from loopwatch.topology.inventory import model_inventory

LOGS, MODEL, MOTO = "logs-alone", "model-inventory", "moto-inventory"


def rotation(cycle: tuple[str, ...]) -> tuple[str, ...]:
    """The rotation of ``cycle`` that starts at its smallest node id."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


def cases() -> list[object]:
    """(path, way) for every topology: its logs alone, and for those configured before
    their trail also beside each inventory."""
    out: list[object] = []
    for path in builtin_topologies():
        predates = load_topology(path).traffic.configured_before_trail
        for way in (LOGS, MODEL, MOTO) if predates else (LOGS,):
            out.append(pytest.param(path, way, id=f"{path.stem}-{way}"))
    return out


@pytest.fixture(scope="module")
def read_from_moto() -> Iterator[Callable[[Topology], Snapshot]]:
    """One emulator for the module; each topology's resources made in it and read once
    (the inventory does not depend on the traffic's seed)."""
    read: dict[str, Snapshot] = {}
    with moto_server() as aws:

        def inventory(topo: Topology) -> Snapshot:
            if topo.name not in read:
                read[topo.name] = topology_inventory(aws, topo)
            return read[topo.name]

        yield inventory


# The file's own seed, and two more: records of one second come in any order, and a verdict
# that held for one shuffle only would be luck.
EXTRA_SEEDS = (None, 101, 202)


@pytest.mark.parametrize("seed", EXTRA_SEEDS, ids=lambda s: f"seed-{s or 'file'}")
@pytest.mark.parametrize(("path", "way"), cases())
def test_topology_replays_to_its_expectations(
    path: Path, way: str, seed: int | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    topo = load_topology(path)
    if seed is not None:
        topo = dataclasses.replace(topo, traffic=dataclasses.replace(topo.traffic, seed=seed))
    if topo.traffic.configured_before_trail:
        topo = topo.with_overrides(account=MOTO_ACCOUNT)  # where the emulator's resources live
    out_dir = tmp_path / topo.name
    result = write_simulation(topo, out_dir)
    inventory = None
    if way == MODEL:
        inventory = model_inventory(topo)
    elif way == MOTO:
        inventory = request.getfixturevalue("read_from_moto")(topo)
        assert inventory.refused == ()
        # What moto holds is the model's configuration, whatever ids it chose.
        assert configured_graph(inventory) == configured_graph(model_inventory(topo))

    report = replay([str(out_dir)], inventory=inventory)

    assert report.errors == []
    assert report.counts.malformed == 0
    expect = topo.expected(inventory=inventory is not None)
    found = {rotation(tuple(loop.cycle)): loop for loop in report.loops}
    expected = {
        rotation(tuple(topo.arn(r) for r in loop.cycle)): (loop.status, loop.confirmed)
        for loop in expect.loops
    }
    assert {c: (loop.status, loop.confirmed) for c, loop in found.items()} == expected
    assert {(r.function, r.confirmed) for r in report.runaway} == {
        (topo.arn(r.function), r.confirmed) for r in expect.runaway
    }
    for want in expect.loops:
        if want.status != "active":
            continue
        cycle = tuple(topo.arn(r) for r in want.cycle)
        third = result.third_traversal_at(cycle)
        loop = found[rotation(cycle)]
        assert third is not None
        assert loop.detected_at is not None
        assert loop.detected_at <= third, (
            f"{topo.name}: active at {loop.detected_at}, 3rd traversal completed at {third}"
        )
