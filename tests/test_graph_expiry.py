"""Expiry visits only the hops that may have something past the horizon, and leaves the graph
exactly as a walk over every hop would (DESIGN §5: an observed edge unused for the horizon
drops out; per-event cost must not grow with the graph)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.events.facts import EVENT_SOURCE_MAPPING, S3_NOTIFICATION, Trigger
from loopwatch.graph import ResourceGraph

WINDOW, HORIZON = 30.0, 120.0
ACCOUNT = "111122223333"
FUNCTIONS = [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{n}" for n in ("a", "b")]
BUCKET = "arn:aws:s3:::uploads"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
TARGETS = [BUCKET, QUEUE, TABLE, *FUNCTIONS]
KEYS = ["in/x", "out/x", None]


def walk_every_hop(graph: ResourceGraph, now: float) -> None:
    """The expiry as it was: every hop of the graph looked at."""
    for _, _, edge in list(graph.nx.edges(data="hop")):
        if edge.expire(now, graph.horizon):
            graph._drop_edge(edge)


op = st.one_of(
    st.tuples(
        st.just("write"),
        st.sampled_from(FUNCTIONS),
        st.sampled_from(TARGETS),
        st.sampled_from(KEYS),
    ),
    st.tuples(st.just("invoke"), st.sampled_from([BUCKET, QUEUE]), st.sampled_from(FUNCTIONS)),
    st.tuples(st.just("s3"), st.sampled_from(FUNCTIONS), st.sampled_from(["in/", "out/", ""])),
    st.tuples(st.just("mapping"), st.sampled_from(FUNCTIONS), st.booleans()),
    st.tuples(st.just("unmap"), st.sampled_from(FUNCTIONS)),
    st.tuples(st.just("expire")),
)
# Event time mostly moves on a little, sometimes by up to a horizon and a half; now and then a
# record is late (by up to a window: the intake's files overlap by minutes).
step = st.one_of(
    st.floats(0.0, WINDOW / 2),
    st.floats(0.0, 1.5 * HORIZON),
    st.floats(-WINDOW, 0.0),
)


def apply(graph: ResourceGraph, action: tuple[Any, ...], now: float, time: float) -> None:
    kind = action[0]
    if kind == "write":
        _, fn, target, key = action
        event = "ObjectCreated:Put" if target == BUCKET else None
        graph.record_write(fn, target, time, 1, key if target == BUCKET else None, event)
    elif kind == "invoke":
        graph.record_invocation(action[1], action[2], time)
    elif kind == "s3":
        _, fn, prefix = action
        trigger = Trigger(f"s3:{fn}", BUCKET, fn, S3_NOTIFICATION, prefix=prefix)
        graph.replace_bucket_triggers(BUCKET, (trigger,))
    elif kind == "mapping":
        _, fn, enabled = action
        graph.add_trigger(Trigger(f"esm:{fn}", QUEUE, fn, EVENT_SOURCE_MAPPING, enabled=enabled))
    elif kind == "unmap":
        graph.remove_trigger(f"esm:{action[1]}")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(op, step), max_size=80))
def test_expiry_leaves_the_graph_as_a_walk_over_every_hop_would(
    script: list[tuple[tuple[Any, ...], float]],
) -> None:
    visited, walked = ResourceGraph(WINDOW, HORIZON), ResourceGraph(WINDOW, HORIZON)
    now = time = 1_700_000_000.0
    for action, dt in script:
        time += dt
        now = max(now, time)
        if action[0] == "expire":
            visited.expire(now)
            walk_every_hop(walked, now)
            assert visited.to_state() == walked.to_state()
            assert visited.to_dict(now) == walked.to_dict(now)
        else:
            for graph in (visited, walked):
                apply(graph, action, now, time)


def test_a_restored_graph_still_expires_what_it_observed() -> None:
    graph = ResourceGraph(WINDOW, HORIZON)
    graph.record_write(FUNCTIONS[0], TABLE, 1000.0, 1, None, None)
    restored = ResourceGraph.from_state(graph.to_state(), WINDOW, HORIZON)
    restored.expire(1000.0 + HORIZON)  # the write is exactly a horizon old: still live
    assert restored.edge(FUNCTIONS[0], TABLE) is not None
    restored.expire(1000.0 + HORIZON + 1.0)
    assert restored.edge(FUNCTIONS[0], TABLE) is None
    assert restored.node_count() == 0


def test_writes_matched_again_expire_by_their_own_time() -> None:
    """A new notification filter matches an older remembered write: the closing writes it
    makes must expire by that write's time, sooner than anything the hop had before."""
    a, b = FUNCTIONS
    visited, walked = ResourceGraph(WINDOW, HORIZON), ResourceGraph(WINDOW, HORIZON)
    for graph in (visited, walked):
        apply(graph, ("s3", b, "out/"), 0.0, 0.0)
        apply(graph, ("write", a, BUCKET, "in/x"), 100.0, 100.0)
        apply(graph, ("write", a, BUCKET, "out/x"), 110.0, 110.0)
    visited.expire(219.0)  # nothing is past the horizon yet
    walk_every_hop(walked, 219.0)
    for graph in (visited, walked):
        apply(graph, ("s3", b, "in/"), 219.0, 219.0)  # now the write of 100 s closes
    visited.expire(225.0)
    walk_every_hop(walked, 225.0)
    assert visited.to_state() == walked.to_state()
    edge = visited.edge(a, BUCKET)
    assert edge is not None and edge.closing == {}
