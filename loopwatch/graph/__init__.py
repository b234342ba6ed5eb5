"""The live resource graph: resources and functions as nodes, triggers and writes as edges.

Depends only on ``loopwatch.events``; knows nothing of detection or actions.
"""

from loopwatch.graph.activity import Activity
from loopwatch.graph.edge import Edge
from loopwatch.graph.identity import Identities
from loopwatch.graph.resource_graph import ResourceGraph

__all__ = ["Activity", "Edge", "Identities", "ResourceGraph"]
