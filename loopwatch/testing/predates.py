"""Accounts whose configuration predates their logs, built in the AWS emulator, with the
CloudTrail records a trail begun later would hold (no configuration record in them).

    near_miss: bucket media ──(prefix uploads/)──► resizer ──PutObject resized/…──► media
               logs: Invoke data events from S3, and the writes — the filter is not in them
    sqs_loop:  queue jobs ──mapping──► worker ──SendMessage──► jobs
               logs: the writes only (no Lambda data events): the mapping is not in them
"""

from __future__ import annotations

from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer
from loopwatch.testing.lambdas import EXECUTION_ROLE, clients, create_function

ACCOUNT = "123456789012"  # moto's default account


def near_miss(aws: MotoServer, runs: int = 6) -> list[r.JSONObject]:
    function = create_function(aws, "resizer")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="media")
    s3.put_bucket_notification_configuration(
        Bucket="media",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": function,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    logs: list[r.JSONObject] = []
    for i in range(runs):
        logs.append(
            r.record(
                r.LAMBDA,
                "Invoke",
                {"functionName": function, "sourceArn": "arn:aws:s3:::media"},
                identity=r.aws_service("s3.amazonaws.com"),
                time=r.at(10 + 2 * i),
                account=ACCOUNT,
                resources=[{"type": "AWS::Lambda::Function", "ARN": function}],
            )
        )
        logs.append(
            r.record(
                r.S3,
                "PutObject",
                {"bucketName": "media", "key": f"resized/{i}.jpg"},
                identity=r.assumed_role(EXECUTION_ROLE, "resizer", account=ACCOUNT),
                time=r.at(11 + 2 * i),
                account=ACCOUNT,
            )
        )
    return logs


def sqs_loop(aws: MotoServer, runs: int = 6) -> list[r.JSONObject]:
    create_function(aws, "worker")
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _, lam = clients(aws)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker")
    return [
        r.record(
            r.SQS,
            "SendMessage",
            {"queueUrl": r.queue_url("jobs", account=ACCOUNT)},
            identity=r.assumed_role(EXECUTION_ROLE, "worker", account=ACCOUNT),
            time=r.at(10 + i),
            account=ACCOUNT,
        )
        for i in range(runs)
    ]
