"""Topologies: YAML architectures of Lambda loops and near misses, and a simulator that turns
them into CloudTrail logs with ground truth.

    topologies/*.yaml ─load_topology─► Topology ─simulate─► records + truth
                                                  └─write_simulation─► AWSLogs/… .json.gz
                                      (noise=N: everyday management events mixed in) ┘
"""

from loopwatch.topology.builtin import (
    builtin_topologies,
    builtin_topologies_dir,
    resolve_topology,
)
from loopwatch.topology.loader import TopologyError, load_topology
from loopwatch.topology.model import Ref, Topology
from loopwatch.topology.noise import noise_records
from loopwatch.topology.simulate import Simulation, simulate
from loopwatch.topology.truth import LoopTruth
from loopwatch.topology.writer import SimulationResult, background_placement, write_simulation

__all__ = [
    "LoopTruth",
    "Ref",
    "Simulation",
    "SimulationResult",
    "Topology",
    "TopologyError",
    "background_placement",
    "builtin_topologies",
    "builtin_topologies_dir",
    "load_topology",
    "noise_records",
    "resolve_topology",
    "simulate",
    "write_simulation",
]
