"""A small AWS estate in the moto emulator, with a trigger of every kind the inventory reads.

    with moto_server() as aws:
        estate = build_estate(aws)
        snapshot = read_inventory([REGION], session=emulator_session(aws),
                                  endpoint_url=aws.endpoint_url)

    bucket uploads ──(in/ … .jpg, ObjectCreated)──► function thumbnailer
                   ──(ObjectRemoved)──► queue jobs     ──(topic, Put)──► topic news
    queue jobs ──mapping, enabled, filtered──► worker;  queue spare ──mapping, disabled──► worker
    table items (its stream) ──mapping──► worker
    topic news ──lambda subscription, filter policy──► thumbnailer; ──sqs subscription──► jobs
    default bus ──rule to-worker──► worker;  bus orders ──rule audit (disabled)──► queue jobs
    state machine flow ──(Resource = ARN; lambda:invoke + FunctionName; Parallel; Map)──► …
    worker ──on-success──► queue jobs; ──on-failure──► topic news

Everything is created through boto3 against the emulator, as a person or IaC would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopwatch.testing.aws import DUMMY, REGION
from loopwatch.testing.lambdas import create_function

if TYPE_CHECKING:
    from collections.abc import Mapping

    import boto3

    from loopwatch.testing.aws import MotoServer

JOBS_FILTER = json.dumps({"body": {"kind": ["resize"]}})
NEWS_FILTER = json.dumps({"kind": ["photo"]})
ORDERS_PATTERN = json.dumps({"source": ["shop"]})
WORKER_PATTERN = json.dumps({"source": ["app"]})


@dataclass(frozen=True, slots=True)
class Estate:
    """What ``build_estate`` made (ARNs as AWS returned them), for assertions."""

    account: str
    region: str
    role: str  # the execution role every function has
    thumbnailer: str
    worker: str
    helper: str  # invoked only by the state machine
    jobs: str  # queue ARN
    spare: str
    topic: str
    table: str
    stream: str
    jobs_mapping: str  # UUIDs
    spare_mapping: str
    stream_mapping: str
    lambda_subscription: str
    sqs_subscription: str
    orders_bus: str
    flow: str  # state machine ARN


def emulator_session(
    aws: MotoServer, credentials: Mapping[str, str] | None = None, region: str = REGION
) -> boto3.Session:
    """A boto3 session with the emulator's dummy credentials (or an assumed role's)."""
    import boto3

    if credentials is None:
        return boto3.Session(
            aws_access_key_id=DUMMY,
            aws_secret_access_key=DUMMY,
            aws_session_token=DUMMY,
            region_name=region,
        )
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
        region_name=region,
    )


def refusing(session: boto3.Session, *calls: str, code: str = "AccessDenied") -> boto3.Session:
    """``session``, whose clients (those made from it from now on) answer each of ``calls``
    (``"sns:ListSubscriptions"``: the boto3 client name and botocore's operation name) as AWS
    answers a call the caller's policy does not allow: a 403 with error ``code``, which botocore
    itself turns into its ClientError. No request is sent for those calls; every other call
    reaches the emulator as usual.

    The refusal is this project's, from a botocore ``before-call`` hook, so a test of how
    refusals are reported does not depend on how an emulator spells or evaluates IAM actions.
    """
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    wanted = set(calls)

    def refuse(model: Any, params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, Any] | None:
        action = f"{model.service_model.service_name}:{model.name}"
        if action not in wanted:
            return None  # botocore sends the request
        message = f"not authorized to perform: {action} (refused by the test, not the emulator)"
        parsed = {
            "Error": {"Code": code, "Message": message, "Type": "Sender"},
            "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}},
        }
        return AWSResponse(params.get("url", ""), 403, HTTPHeaders(), None), parsed

    # botocore-stubs types handlers as returning None; a before-call answer is what stands in
    # for the response (botocore.client: emit_until_response).
    session.events.register("before-call", refuse)  # type: ignore[arg-type]
    return session


def build_estate(aws: MotoServer, credentials: Mapping[str, str] | None = None) -> Estate:
    """Create the estate of the module docstring in ``REGION`` (in another account with that
    account's ``credentials``, the STS ``Credentials`` of an assumed role)."""
    session = emulator_session(aws, credentials)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=aws.endpoint_url)  # type: ignore[call-overload]  # a str, not one Literal name

    thumbnailer = create_function(aws, "thumbnailer", credentials=credentials)
    worker = create_function(aws, "worker", credentials=credentials)
    helper = create_function(aws, "helper", credentials=credentials)
    lam, s3, sqs, sns = client("lambda"), client("s3"), client("sqs"), client("sns")
    events, states, dynamodb = client("events"), client("stepfunctions"), client("dynamodb")
    account = client("sts").get_caller_identity()["Account"]
    role = lam.get_function(FunctionName="worker")["Configuration"]["Role"]

    jobs, spare = (_queue(sqs, name) for name in ("jobs", "spare"))
    topic = sns.create_topic(Name="news")["TopicArn"]
    table = dynamodb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]

    s3.create_bucket(Bucket=f"uploads-{account}")
    s3.create_bucket(Bucket=f"quiet-{account}")  # no notifications at all
    s3.put_bucket_notification_configuration(
        Bucket=f"uploads-{account}",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "thumbs",
                    "LambdaFunctionArn": thumbnailer,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "in/"},
                                {"Name": "suffix", "Value": ".jpg"},
                            ]
                        }
                    },
                }
            ],
            "QueueConfigurations": [
                {"Id": "removed", "QueueArn": jobs, "Events": ["s3:ObjectRemoved:*"]}
            ],
            "TopicConfigurations": [
                {
                    "Id": "puts",
                    "TopicArn": topic,
                    "Events": ["s3:ObjectCreated:Put"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}},
                }
            ],
        },
    )

    jobs_mapping = lam.create_event_source_mapping(
        EventSourceArn=jobs,
        FunctionName="worker",
        Enabled=True,
        FilterCriteria={"Filters": [{"Pattern": JOBS_FILTER}]},
    )["UUID"]
    spare_mapping = lam.create_event_source_mapping(
        EventSourceArn=spare, FunctionName=worker, Enabled=False
    )["UUID"]
    stream_mapping = lam.create_event_source_mapping(
        EventSourceArn=table["LatestStreamArn"], FunctionName=worker, StartingPosition="LATEST"
    )["UUID"]

    lambda_subscription = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=thumbnailer,
        Attributes={"FilterPolicy": NEWS_FILTER},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    sqs_subscription = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=jobs, ReturnSubscriptionArn=True
    )["SubscriptionArn"]

    events.put_rule(Name="to-worker", EventPattern=WORKER_PATTERN)
    events.put_targets(Rule="to-worker", Targets=[{"Id": "worker", "Arn": worker}])
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "worker", "Arn": worker}])
    orders_bus = events.create_event_bus(Name="orders")["EventBusArn"]
    events.put_rule(
        Name="audit", EventBusName="orders", EventPattern=ORDERS_PATTERN, State="DISABLED"
    )
    events.put_targets(
        Rule="audit",
        EventBusName="orders",
        Targets=[{"Id": "jobs", "Arn": jobs}, {"Id": "news", "Arn": topic}],
    )

    flow = states.create_state_machine(
        name="flow",
        roleArn=f"arn:aws:iam::{account}:role/flow",
        definition=json.dumps(flow_definition(thumbnailer)),
    )["stateMachineArn"]

    lam.put_function_event_invoke_config(
        FunctionName="worker",
        DestinationConfig={"OnSuccess": {"Destination": jobs}, "OnFailure": {"Destination": topic}},
    )
    return Estate(
        account=account,
        region=REGION,
        role=role,
        thumbnailer=thumbnailer,
        worker=worker,
        helper=helper,
        jobs=jobs,
        spare=spare,
        topic=topic,
        table=table["TableArn"],
        stream=table["LatestStreamArn"],
        jobs_mapping=jobs_mapping,
        spare_mapping=spare_mapping,
        stream_mapping=stream_mapping,
        lambda_subscription=lambda_subscription,
        sqs_subscription=sqs_subscription,
        orders_bus=orders_bus,
        flow=flow,
    )


def flow_definition(thumbnailer: str) -> dict[str, object]:
    """A state machine that invokes functions every way ASL allows, nested: ``thumbnailer``
    by ARN (with an alias) as the Resource; ``worker`` through lambda:invoke by name inside
    a Parallel branch; ``helper`` through lambda:invoke.waitForTaskToken inside a Map; and
    one function chosen at run time (unknowable)."""
    return {
        "StartAt": "Thumb",
        "States": {
            "Thumb": {"Type": "Task", "Resource": f"{thumbnailer}:live", "Next": "Fan"},
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Work",
                        "States": {
                            "Work": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": "worker", "Payload.$": "$"},
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "Chosen",
                        "States": {
                            "Chosen": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName.$": "$.target"},
                                "End": True,
                            }
                        },
                    },
                ],
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Help",
                    "States": {
                        "Help": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                            "Parameters": {"FunctionName": "helper:$LATEST"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            },
        },
    }


def _queue(sqs: Any, name: str) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn
