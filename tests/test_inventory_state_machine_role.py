"""A state machine's execution role, read by the inventory, names the invoker of a function.

Step Functions invokes a function as the state machine's role and names no state machine
(``requestParameters`` null, the function only in ``resources[]``). When the machine was
created before the trail began, its CreateStateMachine is not in the logs, so only the
inventory (DescribeStateMachine's ``roleArn``) can say whose invocations they are. Here the
machine's Task picks its function at run time, so no definition names the dispatcher: the
invocations are the only sign of the hop, and without the role there is no loop to see.
"""

from __future__ import annotations

from loopwatch.detect import Engine, LoopFinding
from loopwatch.inventory import Function, RegionInventory, Snapshot, StateMachine
from loopwatch.inventory import configuration_facts as facts_of
from loopwatch.testing import records as r
from loopwatch.testing.shapes import run_records, start_execution, stepfunctions_invoke

DISPATCHER = r.function_arn("dispatcher")
FLOW = f"arn:aws:states:{r.REGION}:{r.ACCOUNT}:stateMachine:flow"
FLOW_ROLE = f"arn:aws:iam::{r.ACCOUNT}:role/flow-exec"


def snapshot(machine_role: str | None) -> Snapshot:
    inventory = RegionInventory(
        r.ACCOUNT,
        r.REGION,
        functions=(Function(DISPATCHER, f"arn:aws:iam::{r.ACCOUNT}:role/dispatcher-exec"),),
        state_machines=(StateMachine(FLOW, (), machine_role),),  # its Task's function: dynamic
    )
    return Snapshot(1, "2026-10-05T13:00:00Z", (r.ACCOUNT,), (r.REGION,), (), (inventory,))


def the_loop_runs() -> list[dict[str, object]]:
    dispatcher = r.assumed_role("dispatcher-exec", "dispatcher")
    out = []
    for i in range(6):
        out.append(start_execution(FLOW, identity=dispatcher, time=r.at(10 * i)))
        out.append(stepfunctions_invoke(DISPATCHER, role="flow-exec", time=r.at(10 * i + 1)))
    return out


def loops(machine_role: str | None) -> list[LoopFinding]:
    engine = Engine()
    for fact in facts_of(snapshot(machine_role), 0.0):
        engine.apply(fact)
    _, found = run_records(the_loop_runs(), engine)
    return [f for f in found if isinstance(f, LoopFinding)]


def test_with_the_role_the_invocations_are_the_machines_hop() -> None:
    found = loops(FLOW_ROLE)
    assert {frozenset(f.cycle) for f in found} == {frozenset({FLOW, DISPATCHER})}
    last = found[-1]
    # The hop is shown by invocations only (no definition names the dispatcher): reported,
    # unconfirmed, never active, so never throttled.
    assert not last.confirmed and last.status != "active"
    assert last.unknown == (
        "the trigger from state-machine flow to function dispatcher was never seen",
    )


def test_without_the_role_no_invocation_has_an_invoker_and_no_loop_is_seen() -> None:
    assert loops(None) == []
