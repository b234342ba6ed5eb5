"""Step Functions: executions (write edges) and the roles state machines run as.

    StartExecution, StartSyncExecution       caller ──write──► state machine
    CreateStateMachine, UpdateStateMachine   state machine runs as role R

Real shapes (Step Functions developer guide, "Logging Step Functions using CloudTrail"):
StartExecution carries ``requestParameters.stateMachineArn``; CreateStateMachine carries
``requestParameters.name`` and ``.roleArn`` and ``responseElements.stateMachineArn``;
UpdateStateMachine carries ``.stateMachineArn`` and ``.roleArn`` only when the role changes.
The state machine → function edges themselves are not here: today's records hide the
definition, so they come from the inventory (DESIGN §9, via ``STATE_MACHINE``). The role is
what lets a Step Functions Invoke, which names no state machine, be traced to one.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    account,
    caller,
    event_time,
    handles,
    need,
    region,
    request,
    response,
    text,
)
from loopwatch.events.facts import Fact, StateMachineDeclared, Write

STATES = "states.amazonaws.com"


@handles(STATES, "StartExecution", "StartSyncExecution")
def started(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    machine = need(request(rec), "stateMachineArn", "requestParameters")
    return (Write(event_time(rec), who, arns.canonical(machine)),)


@handles(STATES, "CreateStateMachine", "UpdateStateMachine")
def declared(rec: JSON) -> tuple[Fact, ...]:
    """The machine's execution role, when the record states one (an update may not)."""
    params = request(rec)
    role = text(params, "roleArn")
    if role is None:
        return ()
    machine = text(params, "stateMachineArn") or text(response(rec), "stateMachineArn")
    if machine is None:
        name = need(params, "name", "requestParameters")
        machine = f"arn:aws:states:{region(rec)}:{account(rec)}:stateMachine:{name}"
    return (StateMachineDeclared(event_time(rec), arns.canonical(machine), role),)
