"""A two-function SQS loop whose configuration exists in the AWS emulator too, so that acting on
it (highest-rate throttling, disabling its mappings) can be checked against real resources.

    queue relay-in ──mapping──► relay ──SendMessage──► queue pump-in ──mapping──► pump
          ▲                                                                     │
          └────────────────────── SendMessage (twice as often) ─────────────────┘
"""

from __future__ import annotations

from dataclasses import dataclass

from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer
from loopwatch.testing.lambdas import clients, create_function

ACCOUNT = "123456789012"  # moto's default account


@dataclass(frozen=True)
class RelayLoop:
    relay: str
    pump: str
    relay_mapping: str
    pump_mapping: str
    records: list[r.JSONObject]


def relay_loop(aws: MotoServer, reserved: int = 10, start: str = r.TIME) -> RelayLoop:
    """Create both functions (reserved concurrency ``reserved``), both queues and both mappings
    in the emulator, and the CloudTrail records of the loop running through them from
    ``start`` on: ``pump`` writes twice as often as ``relay``, so ``highest-rate`` must choose
    ``pump``."""
    sqs = aws.client("sqs")
    _, lam = clients(aws)
    functions, mappings = {}, {}
    for name, source in (("relay", "relay-in"), ("pump", "pump-in")):
        functions[name] = create_function(aws, name, reserved=reserved)
        url = sqs.create_queue(QueueName=source)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
        mappings[name] = (uuid, arn)
    setup: list[r.JSONObject] = []
    for name in ("relay", "pump"):
        role = f"{name}-role"
        setup.append(r.create_function(name, role, time=r.at(-60, start), account=ACCOUNT))
        uuid, arn = mappings[name]
        setup.append(
            r.record(
                r.LAMBDA,
                "CreateEventSourceMapping20150331",
                {"eventSourceArn": arn, "functionName": name, "enabled": True},
                {"uUID": uuid, "eventSourceArn": arn, "functionArn": functions[name]},
                time=r.at(-30, start),
                account=ACCOUNT,
            )
        )
    writes = [
        r.record(
            r.SQS,
            "SendMessage",
            {"queueUrl": r.queue_url("pump-in", account=ACCOUNT)},
            identity=r.assumed_role("relay-role", "relay", account=ACCOUNT),
            time=r.at(10 + 2 * i, start),
            account=ACCOUNT,
        )
        for i in range(4)
    ] + [
        r.record(
            r.SQS,
            "SendMessage",
            {"queueUrl": r.queue_url("relay-in", account=ACCOUNT)},
            identity=r.assumed_role("pump-role", "pump", account=ACCOUNT),
            time=r.at(10 + i, start),
            account=ACCOUNT,
        )
        for i in range(8)
    ]
    return RelayLoop(
        functions["relay"],
        functions["pump"],
        mappings["relay"][0],
        mappings["pump"][0],
        [*setup, *writes],
    )


def mapping_state(aws: MotoServer, uuid: str) -> str:
    _, lam = clients(aws)
    return str(lam.get_event_source_mapping(UUID=uuid)["State"])
