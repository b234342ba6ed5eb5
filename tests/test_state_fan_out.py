"""A snapshot costs what changed, not a node's whole fan-out (issue 17): after one more hop of a
topic that triggers 3,000 functions, the writer walks the changed end of its successors only,
and the state restored from the table is still exactly the live one, successor order included
(a hop removed and made again goes to the end)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loopwatch.events import facts as f
from loopwatch.graph.edge import Edge
from loopwatch.graph.resource_graph import ResourceGraph
from loopwatch.service.accounts import AccountState
from loopwatch.service.state import StateWriter, restore
from loopwatch.testing.changelog import ChangelogTable, comparable
from loopwatch.testing.estates import ACCOUNT, START, function_arn

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:fan-out"
FAN_OUT = 3_000


def subscribed(i: int, time: float) -> f.TriggerAdded:
    trigger = f.Trigger(f"{TOPIC}:sub-{i}", TOPIC, function_arn(i), f.SNS_SUBSCRIPTION)
    return f.TriggerAdded(time, trigger)


def test_a_snapshot_walks_only_the_changed_end_of_a_fan_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = AccountState(ACCOUNT)
    writer = StateWriter(ACCOUNT, 0)
    writer.attach(state)
    table = ChangelogTable()
    state.driver.feed([subscribed(i, START) for i in range(FAN_OUT)])
    table.apply(writer.write(state))

    middle = FAN_OUT // 2
    state.driver.feed(
        [
            f.TriggerRemoved(START + 1, f"{TOPIC}:sub-{middle}"),  # its hop goes…
            subscribed(middle, START + 2),  # …and is made again, at the end
            subscribed(FAN_OUT, START + 3),  # one new hop, after it
        ]
    )
    walked = 0

    def counting(walk: Callable[[ResourceGraph, str], Iterator[Edge]]) -> Any:
        def counted(graph: ResourceGraph, node: str) -> Iterator[Edge]:
            nonlocal walked
            for edge in walk(graph, node):
                walked += 1
                yield edge

        return counted

    for name in ("successors", "successors_from_last"):  # however the writer walks them
        monkeypatch.setattr(ResourceGraph, name, counting(getattr(ResourceGraph, name)))
    table.apply(writer.write(state))
    monkeypatch.undo()

    # The two changed hops at the end, and the unchanged one before them that anchors them.
    assert walked == 3
    back = restore(ACCOUNT, 0, table.entries(ACCOUNT))
    assert back.state is not None
    assert comparable(back.state) == comparable(state)
    order = [edge.target for edge in back.state.engine.graph.successors(TOPIC)]
    assert order[-2:] == [function_arn(middle), function_arn(FAN_OUT)]
    assert len(order) == FAN_OUT + 1
