"""Step Functions: executions (write edges).  StartExecution: caller ──write──► state machine"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import JSON, caller, event_time, handles, need, request
from loopwatch.events.facts import Fact, Write

STATES = "states.amazonaws.com"


@handles(STATES, "StartExecution", "StartSyncExecution")
def started(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    machine = need(request(rec), "stateMachineArn", "requestParameters")
    return (Write(event_time(rec), who, arns.canonical(machine)),)
