"""A topology's resources made in the moto emulator through boto3, and read back the way
``loopwatch inventory`` reads a real account.

    with moto_server() as aws:
        snapshot = topology_inventory(aws, topology)  # placed in moto's account, 123456789012
        replay([logs], inventory=snapshot)

    IAM roles (functions', state machines') ─► functions ─► queues, topics, tables (streams),
    Kinesis streams, buses ─► state machines (Task states that invoke their functions) ─►
    bucket notifications ─► mappings ─► subscriptions ─► rules + targets ─► destinations
    ─► read_inventory

Everything is created as a person or IaC would, and what the reader finds is what AWS (here
moto) reports, ids included: mapping UUIDs and subscription ARNs are moto's, not the
simulator's, as they would be for a trail that began after setup. moto creates every kind
the topology format has (mappings on SQS, DynamoDB streams and Kinesis, disabled ones too;
lambda and sqs subscriptions; rules on custom buses; state machines; destinations), so
nothing here falls back to the model's snapshot; ``tests/test_topology_inventory.py`` holds
the two to the same graph.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from loopwatch.inventory import read_inventory
from loopwatch.inventory.snapshot import Snapshot
from loopwatch.testing.inventory import emulator_session
from loopwatch.topology.cloudtrail import EVENT_PATTERN
from loopwatch.topology.model import (
    Destination,
    EventSourceMapping,
    Ref,
    Rule,
    S3Notification,
    StateMachineTask,
    Subscription,
    Topology,
)

if TYPE_CHECKING:
    from loopwatch.testing.aws import MotoServer

MOTO_ACCOUNT = "123456789012"  # moto's default account: what its ARNs name
# The service each role may be assumed by (moto stores the trust policy, never checks it).
_TRUST = {"fn": "lambda.amazonaws.com", "states": "states.amazonaws.com"}


def topology_inventory(aws: MotoServer, topology: Topology) -> Snapshot:
    """Empty ``aws``, create ``topology``'s resources in it and read them back with
    ``read_inventory``, in the topology's region.

    The topology is placed in moto's account: ``write_simulation(..., account=MOTO_ACCOUNT)``
    writes the logs to replay beside it. Raises botocore's ClientError when moto refuses a
    call (a topology kind it stopped supporting: say so rather than guess).
    """
    from loopwatch.testing.lambdas import reset

    topo = topology.with_overrides(account=MOTO_ACCOUNT)
    reset(aws)
    _Builder(aws, topo).build()
    session = emulator_session(aws, region=topo.region)
    return read_inventory([topo.region], session=session, endpoint_url=aws.endpoint_url)


class _Builder:
    def __init__(self, aws: MotoServer, topo: Topology) -> None:
        self.topo = topo
        self.aws = aws

    def client(self, service: str) -> Any:
        return self.aws.client(service, region=self.topo.region)

    def build(self) -> None:
        topo = self.topo
        iam, lam = self.client("iam"), self.client("lambda")
        roles: dict[str, str] = {}

        def role(name: str, kind: str) -> str:
            if name not in roles:
                trust = {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": _TRUST[kind]},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
                roles[name] = iam.create_role(
                    RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
                )["Role"]["Arn"]
            return roles[name]

        code = _zip()
        for f in topo.functions:
            lam.create_function(
                FunctionName=f.name,
                Runtime="python3.12",
                Role=role(f.role, "fn"),
                Handler="handler.handler",
                Code={"ZipFile": code},
            )
        self.resources()
        states = self.client("stepfunctions")
        for m in topo.state_machines:
            tasks = [
                t.function
                for t in topo.triggers
                if isinstance(t, StateMachineTask) and t.machine == m.name
            ]
            states.create_state_machine(
                name=m.name,
                roleArn=role(m.role, "states"),
                definition=json.dumps(_definition([topo.arn(Ref("fn", t)) for t in tasks])),
            )
        for bucket in topo.buckets:
            self.notifications(bucket)
        for trigger in topo.triggers:
            match trigger:
                case EventSourceMapping():
                    self.mapping(trigger)
                case Subscription():
                    self.client("sns").subscribe(
                        TopicArn=topo.arn(Ref("sns", trigger.topic)),
                        Protocol="lambda" if trigger.endpoint.kind == "fn" else "sqs",
                        Endpoint=topo.arn(trigger.endpoint),
                        ReturnSubscriptionArn=True,
                    )
                case Rule():
                    self.rule(trigger)
        self.destinations()

    def resources(self) -> None:
        topo = self.topo
        sqs, sns = self.client("sqs"), self.client("sns")
        dynamodb, kinesis = self.client("dynamodb"), self.client("kinesis")
        s3, events = self.client("s3"), self.client("events")
        for bucket in topo.buckets:
            s3.create_bucket(Bucket=bucket)
        for queue in topo.queues:
            sqs.create_queue(QueueName=queue)
        for topic in topo.topics:
            sns.create_topic(Name=topic)
        for table in topo.tables:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        for stream in topo.streams:
            kinesis.create_stream(StreamName=stream, ShardCount=1)
        for bus in topo.buses:
            events.create_event_bus(Name=bus)

    def notifications(self, bucket: str) -> None:
        topo = self.topo
        groups: dict[str, list[dict[str, Any]]] = {}
        notes = [t for t in topo.triggers if isinstance(t, S3Notification) and t.bucket == bucket]
        for i, note in enumerate(notes):
            key, field = {
                "fn": ("LambdaFunctionConfigurations", "LambdaFunctionArn"),
                "sqs": ("QueueConfigurations", "QueueArn"),
                "sns": ("TopicConfigurations", "TopicArn"),
            }[note.target.kind]
            config: dict[str, Any] = {
                "Id": f"{bucket}-{note.target.kind}-{note.target.name}-{i}",
                field: topo.arn(note.target),
                "Events": list(note.events),
            }
            rules = [
                {"Name": name, "Value": value}
                for name, value in (("prefix", note.prefix), ("suffix", note.suffix))
                if value
            ]
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
            groups.setdefault(key, []).append(config)
        if groups:
            self.client("s3").put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=groups
            )

    def mapping(self, m: EventSourceMapping) -> None:
        topo = self.topo
        source = topo.arn(m.source)
        request: dict[str, Any] = {"FunctionName": m.function, "Enabled": m.enabled}
        if m.source.kind == "dynamodb":
            source = self.client("dynamodb").describe_table(TableName=m.source.name)["Table"][
                "LatestStreamArn"
            ]
        if m.source.kind != "sqs":
            request["StartingPosition"] = "LATEST"
        self.client("lambda").create_event_source_mapping(EventSourceArn=source, **request)

    def rule(self, rule: Rule) -> None:
        events = self.client("events")
        events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=EVENT_PATTERN)
        events.put_targets(
            Rule=rule.name,
            EventBusName=rule.bus,
            Targets=[{"Id": f"{x.kind}-{x.name}", "Arn": self.topo.arn(x)} for x in rule.targets],
        )

    def destinations(self) -> None:
        configs: dict[str, dict[str, Any]] = {}
        for d in self.topo.triggers:
            if isinstance(d, Destination):
                outcome = "OnSuccess" if d.on == "success" else "OnFailure"
                target = {"Destination": self.topo.arn(d.destination)}
                configs.setdefault(d.function, {})[outcome] = target
        for function, config in configs.items():
            self.client("lambda").put_function_event_invoke_config(
                FunctionName=function, DestinationConfig=config
            )


def _definition(functions: list[str]) -> dict[str, object]:
    """One Task state per function, in a row, each through ``lambda:invoke`` by ARN."""
    if not functions:
        return {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    states: dict[str, object] = {}
    for i, function in enumerate(functions):
        state: dict[str, object] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function, "Payload.$": "$"},
        }
        if i + 1 < len(functions):
            state["Next"] = f"Task{i + 1}"
        else:
            state["End"] = True
        states[f"Task{i}"] = state
    return {"StartAt": "Task0", "States": states}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


Edge = tuple[str, str, str, bool, tuple[str, ...], str, str]


def configured_graph(snapshot: Snapshot) -> tuple[frozenset[Edge], dict[str, str | None]]:
    """What a snapshot tells the engine, without the ids AWS chose (mapping UUIDs,
    subscription ARNs, stream labels): its trigger edges (source, target, via, enabled,
    events, prefix, suffix) and each function's execution role."""
    from loopwatch.events.facts import BucketTriggersReplaced, FunctionDeclared, TriggerAdded
    from loopwatch.inventory import configuration_facts

    edges: set[Edge] = set()
    roles: dict[str, str | None] = {}
    for fact in configuration_facts(snapshot, 0.0):
        if isinstance(fact, FunctionDeclared):
            roles[fact.function] = fact.role
        triggers = (
            (fact.trigger,)
            if isinstance(fact, TriggerAdded)
            else fact.triggers
            if isinstance(fact, BucketTriggersReplaced)
            else ()
        )
        edges.update(
            (t.source, t.target, t.via, t.enabled, t.events, t.prefix, t.suffix) for t in triggers
        )
    return frozenset(edges), roles
