"""Event source mapping UUIDs of the simulator: one per topology and mapping, so topologies
composed into one replay (or one account) never make one mapping replace another."""

from __future__ import annotations

from collections import defaultdict

from loopwatch.topology import builtin_topologies, load_topology, simulate
from loopwatch.topology.inventory import model_inventory


def mapping_uuids() -> dict[str, set[tuple[str, str, str]]]:
    """UUID → every (topology, source, function) that carries it, from the simulated
    CreateEventSourceMapping records and from the model inventories."""
    found: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for path in builtin_topologies():
        topology = load_topology(path)
        for timed in simulate(topology).records:
            rec = timed.record
            if str(rec["eventName"]).startswith("CreateEventSourceMapping"):
                params, resp = rec["requestParameters"], rec["responseElements"]
                assert isinstance(params, dict) and isinstance(resp, dict)
                source = str(params["eventSourceArn"]).split("/stream/")[0]
                function = str(resp["functionArn"])
                found[str(resp["uUID"])].add((topology.name, source, function))
        for region in model_inventory(topology).inventories:
            for mapping in region.mappings:
                source = (mapping.source or "").split("/stream/")[0]
                found[mapping.uuid].add((topology.name, source, mapping.function))
    return found


def test_no_two_builtin_topologies_or_mappings_share_a_mapping_uuid() -> None:
    found = mapping_uuids()
    topologies = {name for owners in found.values() for name, _, _ in owners}
    assert len(found) >= 10 and len(topologies) >= 9  # every topology with a mapping was read
    shared = {uuid: owners for uuid, owners in found.items() if len(owners) > 1}
    assert shared == {}


def test_mapping_uuids_are_deterministic() -> None:
    assert mapping_uuids() == mapping_uuids()
