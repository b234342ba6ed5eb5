"""The selective decoder beside the full one: what each makes of the same bytes.

    verdict(data, "document", selective=True) == verdict(data, "document", selective=False)

A ``Verdict`` is everything the rest of loopwatch can see of a decode: per object its
dedupe id and facts or the reason it is malformed, its account, the decoder's counts and
problems, and the intake's counts and rejections (with the first rejected value of each
reason, which must be the full record either way). ``shape_pool()`` is a record of every
shape the parsers know, built by ``loopwatch.testing.records`` and ``shapes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopwatch.events import records
from loopwatch.events.decode import Shape, decode
from loopwatch.events.intake import Intake
from loopwatch.testing import records as r
from loopwatch.testing import shapes as s
from loopwatch.testing.records import JSONObject

NOW = 1_800_000_000.0
"""The wall clock the intake checks against (2027-01-15): later than every builder's time."""


@dataclass(frozen=True)
class Verdict:
    outcomes: tuple[tuple[Any, ...], ...]
    accounts: tuple[str | None, ...]
    decoded: tuple[int, int, tuple[str, ...], bool]
    """(objects, malformed, problems, unreadable) of the decoder."""
    counts: dict[str, int]
    rejected: dict[str, tuple[int, object]]


def outcome(value: object) -> tuple[Any, ...]:
    """``("facts", id, facts)`` or ``("malformed", reason)`` of one decoded value."""
    try:
        key, facts = records.parse(value)
    except records.MalformedRecord as exc:
        return ("malformed", str(exc))
    return ("facts", key, facts)


def verdict(data: bytes, shape: Shape = "any", *, selective: bool) -> Verdict:
    decoded = decode(data, shape, selective=selective)
    objects = decoded.objects
    taken = Intake().take(objects, NOW)
    return Verdict(
        tuple(outcome(o) for o in objects),
        tuple(records.account_of(o) for o in objects),
        (len(objects), decoded.malformed, tuple(decoded.problems), decoded.unreadable),
        taken.counts.to_json(),
        taken.rejected,
    )


def shape_pool() -> list[JSONObject]:
    """One record of every shape the parsers read, fresh each call; four of them give no facts:
    an IAM user's Publish, a failed SendMessage, GetCallerIdentity and a console session's."""
    fn = r.function_arn("worker")
    role = r.assumed_role("worker-role", "worker")
    table = s.table_arn("orders")
    pool = [
        *r.s3_self_loop(writes=2),
        r.record(r.SQS, "SendMessage", {"queueUrl": r.queue_url("jobs")}, identity=role),
        r.record(r.SNS, "Publish", {"topicArn": "arn:aws:sns:us-east-1:111122223333:t"}),
        r.record(r.KINESIS, "PutRecord", {"streamName": "clicks"}, identity=role),
        r.record(r.SQS, "SendMessage", {"queueUrl": r.queue_url("jobs")}, error_code="Denied"),
        r.record("sts.amazonaws.com", "GetCallerIdentity", None, None),
        r.record(
            r.LAMBDA,
            "CreateEventSourceMapping20150331",
            {"eventSourceArn": "arn:aws:sqs:us-east-1:111122223333:jobs", "functionName": fn},
            {"uUID": "6a2b7c3d-0000-4000-8000-000000000001"},
        ),
        s.stepfunctions_invoke(fn),
        s.service_invoke(fn, "s3.amazonaws.com", "arn:aws:s3:::uploads"),
        s.eventbridge_invoke(fn, s.rule_arn("nightly")),
        s.transact_write(
            ("Put", "tableName", "orders"), ("Delete", "TableName", "audit"), identity=role
        ),
        s.execute_statement("UPDATE orders SET a = 1", identity=role),
        s.delete_objects("uploads", identity=role),
        s.esm_disabled("6a2b7c3d-0000-4000-8000-000000000001"),
        s.create_state_machine("flow", "arn:aws:iam::111122223333:role/flow-role"),
        s.start_execution("arn:aws:states:us-east-1:111122223333:stateMachine:flow", identity=role),
        # A person at the console in a role session: never a function, so no facts.
        r.record(
            r.SQS,
            "SendMessage",
            {"queueUrl": r.queue_url("jobs")},
            identity=role,
            sessionCredentialFromConsole="true",
        ),
        r.record(
            r.DYNAMODB,
            "PutItem",
            {"tableName": "orders"},
            identity=role,
            resources=[s.table_resource(table)],
        ),
        r.invocation(fn, source="arn:aws:sqs:us-east-1:111122223333:jobs"),
    ]
    pool.append(r.eventbridge(pool[2]))
    return pool
