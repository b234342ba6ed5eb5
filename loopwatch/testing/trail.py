"""A CloudTrail trail in the AWS emulator, announced on a queue the three ways AWS does it.

    trail = notified_trail(aws)          three buckets, one queue:
        trail.buckets["s3"]            ──S3 notification──────────────► trail.queue_url
        trail.buckets["sns"]           ──S3 → SNS topic → subscription──► trail.queue_url
        trail.buckets["eventbridge"]   ──S3 → EventBridge rule──────────► trail.queue_url
    files = trail_files(records, out, count=20)    records cut into CloudTrail-named log files
    trail.upload(path, key, route="sns")          an object put, and so announced

Everything goes through the emulator's own APIs (boto3), so the messages on the queue are
the emulator's notifications, not hand-written ones; the S3 configurations also put the
``s3:TestEvent`` AWS sends on the queue.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson

from loopwatch.events.times import parse_time
from loopwatch.testing.aws import MotoServer
from loopwatch.testing.records import ACCOUNT, REGION, write_log

ROUTES = ("s3", "sns", "eventbridge")


@dataclass(frozen=True, slots=True)
class NotifiedTrail:
    aws: MotoServer
    queue_url: str
    queue_arn: str
    buckets: Mapping[str, str]
    """Route ("s3", "sns", "eventbridge") → the bucket that notifies the queue that way."""

    def upload(self, path: Path, key: str, route: str = "s3") -> str:
        """Put ``path`` at ``key`` in the route's bucket; its ``s3://`` URL."""
        bucket = self.buckets[route]
        self.aws.s3().put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        return f"s3://{bucket}/{key}"

    def messages_left(self) -> int:
        """Messages on the queue, visible or in flight."""
        attributes = self.aws.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def notified_trail(
    aws: MotoServer, name: str = "trail", *, visibility_timeout: int = 30
) -> NotifiedTrail:
    """A queue, and one bucket per route announcing every new object on it."""
    sqs, s3 = aws.client("sqs"), aws.s3()
    queue_url = sqs.create_queue(
        QueueName=f"{name}-files", Attributes={"VisibilityTimeout": str(visibility_timeout)}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    buckets = {route: f"{name}-{route}" for route in ROUTES}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    created = ["s3:ObjectCreated:*"]
    s3.put_bucket_notification_configuration(
        Bucket=buckets["s3"],
        NotificationConfiguration=cast(
            Any, {"QueueConfigurations": [{"QueueArn": queue_arn, "Events": created}]}
        ),
    )
    sns = aws.client("sns")
    topic_arn = sns.create_topic(Name=f"{name}-files")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    s3.put_bucket_notification_configuration(
        Bucket=buckets["sns"],
        NotificationConfiguration=cast(
            Any, {"TopicConfigurations": [{"TopicArn": topic_arn, "Events": created}]}
        ),
    )
    events = aws.client("events")
    rule = f"{name}-files"
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [buckets["eventbridge"]]}},
    }
    events.put_rule(Name=rule, EventPattern=orjson.dumps(pattern).decode())
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3.put_bucket_notification_configuration(
        Bucket=buckets["eventbridge"],
        NotificationConfiguration={"EventBridgeConfiguration": {}},
    )
    return NotifiedTrail(aws, queue_url, queue_arn, buckets)


def trail_key(account: str, when: float, unique: str, region: str = REGION) -> str:
    """The key CloudTrail gives a log file it delivered at ``when`` (epoch seconds)."""
    at = datetime.fromtimestamp(when, tz=UTC)
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{at:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{at:%Y%m%dT%H%M}Z_{unique}.json.gz"
    )


def trail_files(
    records: Sequence[Mapping[str, Any]], out_dir: Path, count: int, account: str = ACCOUNT
) -> list[tuple[Path, str]]:
    """``records`` (in event-time order) cut into ``count`` gzip log files of about equal
    size, each named as CloudTrail names the file that delivers its last record; (path,
    key) pairs, in time order."""
    per_file = -(-len(records) // count)
    files: list[tuple[Path, str]] = []
    for index in range(count):
        part = records[index * per_file : (index + 1) * per_file]
        if not part:
            break
        last = max(parse_time(str(r["eventTime"])) for r in part)
        key = trail_key(account, last, f"{index:016d}")
        files.append((write_log(out_dir / key, part), key))
    return files


def records_of(path: Path) -> list[dict[str, Any]]:
    """The records of a (gzip) log file."""
    data = path.read_bytes()
    records: list[dict[str, Any]] = orjson.loads(
        gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    )["Records"]
    return records
