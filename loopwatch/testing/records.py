"""Build records in the shape CloudTrail really writes (copied from real trail files).

    record(S3, "PutObject", {"bucketName": "uploads", "key": "a.jpg"},
           identity=assumed_role("thumbnailer-role", "thumbnailer"))

Defaults: account ``111122223333``, region ``us-east-1``, event time
``2026-10-05T14:00:00Z``, a fresh deterministic ``eventID``. Data events (S3 objects,
SQS, Lambda Invoke…) get ``eventCategory: Data`` and ``managementEvent: false``.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from loopwatch.events.times import format_time, parse_time

ACCOUNT = "111122223333"
REGION = "us-east-1"
TIME = "2026-10-05T14:00:00Z"

S3 = "s3.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
SNS = "sns.amazonaws.com"
SQS = "sqs.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"
KINESIS = "kinesis.amazonaws.com"
EVENTS = "events.amazonaws.com"
STATES = "states.amazonaws.com"

# Calls CloudTrail logs as data events (the rest are management events).
DATA_EVENTS = frozenset(
    {
        (S3, "PutObject"),
        (S3, "CopyObject"),
        (S3, "CompleteMultipartUpload"),
        (S3, "DeleteObject"),
        (S3, "DeleteObjects"),
        (S3, "GetObject"),
        (SQS, "SendMessage"),
        (SQS, "SendMessageBatch"),
        (SNS, "Publish"),
        (SNS, "PublishBatch"),
        (DYNAMODB, "PutItem"),
        (DYNAMODB, "UpdateItem"),
        (DYNAMODB, "DeleteItem"),
        (DYNAMODB, "BatchWriteItem"),
        (DYNAMODB, "TransactWriteItems"),
        (KINESIS, "PutRecord"),
        (KINESIS, "PutRecords"),
        (LAMBDA, "Invoke"),
    }
)

_ids = itertools.count(1)

JSONObject = dict[str, object]


def event_id() -> str:
    """A new UUID-shaped id, deterministic within a test run."""
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def at(seconds: float, start: str = TIME) -> str:
    """The event time ``seconds`` after ``start``: ``at(3)`` → ``2026-10-05T14:00:03Z``."""
    return format_time(parse_time(start) + seconds)


def iam_user(name: str = "alice", account: str = ACCOUNT) -> JSONObject:
    return {
        "type": "IAMUser",
        "principalId": "AIDATFQR7NSC5AU2ZV3IE",
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": "AKIATFQR7NSC8Q4X20BJ",
        "userName": name,
    }


def assumed_role(role: str, session: str, account: str = ACCOUNT) -> JSONObject:
    """The identity of a Lambda function's calls: its execution role, session = function name."""
    return {
        "type": "AssumedRole",
        "principalId": f"AROATFQR7NSCWWVLB7BES:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIATFQR7NSCWLLE7IWW",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROATFQR7NSCWWVLB7BES",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-10-05T13:59:00Z", "mfaAuthenticated": "false"},
        },
    }


def aws_service(invoked_by: str) -> JSONObject:
    """A call an AWS service makes itself (S3 invoking a function…)."""
    return {"type": "AWSService", "invokedBy": invoked_by}


def record(
    source: str,
    name: str,
    request: Mapping[str, object] | None = None,
    response: Mapping[str, object] | None = None,
    *,
    identity: Mapping[str, object] | None = None,
    time: str = TIME,
    account: str = ACCOUNT,
    region: str = REGION,
    error_code: str | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    id: str | None = None,
    **extra: object,
) -> JSONObject:
    """A CloudTrail record as found in ``Records`` of a log file.

    ``extra`` adds or overrides top-level fields verbatim (``eventVersion="1.09"``).
    """
    data = (source, name) in DATA_EVENTS
    rec: JSONObject = {
        "eventVersion": "1.09" if data else "1.08",
        "userIdentity": dict(identity) if identity is not None else iam_user(account=account),
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux lang/python#3.12.0",
        "requestParameters": dict(request) if request is not None else None,
        "responseElements": dict(response) if response is not None else None,
        "requestID": event_id(),
        "eventID": id if id is not None else event_id(),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": not data,
        "recipientAccountId": account,
        "eventCategory": "Data" if data else "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com",
        },
    }
    if error_code is not None:
        rec["errorCode"] = error_code
        rec["errorMessage"] = f"{error_code} (test)"
    if resources is not None:
        rec["resources"] = [dict(r) for r in resources]
    rec.update(extra)
    return rec


def eventbridge(detail: Mapping[str, object]) -> JSONObject:
    """A CloudTrail record as EventBridge delivers it (``AWS API Call via CloudTrail``)."""
    source = str(detail.get("eventSource", "")).split(".")[0]
    return {
        "version": "0",
        "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "account": detail.get("recipientAccountId", ACCOUNT),
        "time": detail.get("eventTime", TIME),
        "region": detail.get("awsRegion", REGION),
        "resources": [],
        "detail": detail,
    }


def invocation(
    function: str,
    *,
    time: str = TIME,
    request_id: str | None = None,
    source: str | None = None,
    trace: str | None = None,
) -> JSONObject:
    """A loopwatch invocation event (DESIGN §3)."""
    return {
        "kind": "lambda.invocation",
        "time": time,
        "function": function,
        "request_id": request_id if request_id is not None else event_id(),
        "source": source,
        "trace": trace,
    }


def function_arn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def queue_url(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def trail_file(*records: JSONObject) -> JSONObject:
    """A CloudTrail log file's document."""
    return {"Records": list(records)}


def create_function(
    name: str, role: str, *, time: str = TIME, account: str = ACCOUNT
) -> JSONObject:
    """CreateFunction20150331 of ``name`` with execution role ``role`` (a role name)."""
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    return record(
        LAMBDA,
        "CreateFunction20150331",
        {"functionName": name, "role": role_arn},
        time=time,
        account=account,
        response={
            "functionName": name,
            "functionArn": function_arn(name, account=account),
            "role": role_arn,
        },
    )


def s3_self_loop(
    writes: int = 4, *, bucket: str = "uploads", account: str = ACCOUNT
) -> list[JSONObject]:
    """Function ``thumb`` (role ``thumb-role``) of ``account`` triggered by ``bucket`` on
    ``incoming/`` and writing back there ``writes`` times, one second apart: an S3 self-loop,
    active by its 3rd write. The first two records are its configuration."""
    setup = [
        create_function("thumb", "thumb-role", time=at(-60), account=account),
        record(
            S3,
            "PutBucketNotification",
            {
                "bucketName": bucket,
                "NotificationConfiguration": {
                    "CloudFunctionConfiguration": {
                        "CloudFunction": function_arn("thumb", account=account),
                        "Event": "s3:ObjectCreated:*",
                        "Filter": {
                            "S3Key": {"FilterRule": {"Name": "Prefix", "Value": "incoming/"}}
                        },
                    }
                },
            },
            time=at(0),
            account=account,
        ),
    ]
    loop = [
        record(
            S3,
            "PutObject",
            {"bucketName": bucket, "key": f"incoming/{i}.jpg"},
            identity=assumed_role("thumb-role", "thumb", account=account),
            time=at(10 + i),
            account=account,
        )
        for i in range(writes)
    ]
    return [*setup, *loop]


def write_log(path: Path, records: Sequence[Mapping[str, object]]) -> Path:
    """A CloudTrail log file at ``path`` (gzip when it ends in ``.gz``), folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps({"Records": list(records)})
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return path


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside nested dicts and lists (``()`` the value itself): where a
    property test may change a record."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found
