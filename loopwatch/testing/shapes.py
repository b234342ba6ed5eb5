"""Records in the shapes real CloudTrail writes where they differ from the obvious one.

Each builder writes, from scratch, a record of the same *shape* as a published real record
(``shared/data/cloudtrail-samples``, see its SOURCES.md): same fields in the same places,
loopwatch's own names and ids. The published samples themselves stay outside the project.

    stepfunctions_invoke("arn:…:function:f", role="sfn-role")       R07's shape
    eventbridge_invoke("arn:…:function:f:live", rule="arn:…:rule/r")  R08's shape
    transact_write(("Put", "tableName", "orders"), ("Delete", "TableName", "audit"))  R14
    execute_statement("UPDATE orders SET …")                         R16 / R17's shape
    delete_objects("uploads")                                         N03's shape
    esm_disabled("uuid")                                              documented parts only
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loopwatch.detect import Engine, Finding
from loopwatch.events.records import parse
from loopwatch.testing.records import (
    ACCOUNT,
    DYNAMODB,
    LAMBDA,
    REGION,
    S3,
    STATES,
    TIME,
    JSONObject,
    assumed_role,
    aws_service,
    record,
)


def _with(rec: JSONObject, extra: Mapping[str, object]) -> JSONObject:
    """``rec`` with top-level fields added or replaced verbatim."""
    rec.update(extra)
    return rec


# Step Functions' session names are 32 random letters (R07); this one is made up.
SFN_SESSION = "qWkTzPbNcRyLmAsDfGhJuIoVeXnBtYcQ"


def service_role(role: str, session: str, invoked_by: str, account: str = ACCOUNT) -> JSONObject:
    """An assumed role used by a service on its own behalf (``invokedBy`` set)."""
    identity = assumed_role(role, session, account)
    return {"invokedBy": invoked_by, **identity}


def table_resource(table_arn: str, caller_account: str = ACCOUNT) -> JSONObject:
    """A ``resources[]`` entry for a table: ``accountId`` is the caller's, the ARN the table's."""
    return {"accountId": caller_account, "type": "AWS::DynamoDB::Table", "ARN": table_arn}


def table_arn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def function_resource(function: str) -> JSONObject:
    account = function.split(":")[4]
    return {"accountId": account, "type": "AWS::Lambda::Function", "ARN": function}


def stepfunctions_invoke(
    function: str,
    role: str = "sfn-exec-role",
    session: str = SFN_SESSION,
    *,
    account: str = ACCOUNT,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """Step Functions invoking a function: AssumedRole of the state machine's role with a
    random session, ``invokedBy: states.amazonaws.com``, ``requestParameters: null``, the
    function only in ``resources[]``."""
    return _with(
        record(
            LAMBDA,
            "Invoke",
            None,
            None,
            identity=service_role(role, session, STATES, account),
            resources=[function_resource(function)],
            account=account,
            sourceIPAddress=STATES,
            userAgent=STATES,
            additionalEventData={
                "customerEniId": "eni-0a1b2c3d4e5f60718",
                "functionVersion": f"{function}:7",
            },
            time=time,
        ),
        extra,
    )


def service_invoke(
    function: str,
    service: str,
    source_arn: str,
    *,
    account: str = ACCOUNT,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """A trigger service invoking a (maybe qualified) function, naming its source."""
    unqualified = ":".join(function.split(":")[:7])
    return _with(
        record(
            LAMBDA,
            "Invoke",
            {
                "functionName": function,
                "invocationType": "Event",
                "sourceArn": source_arn,
                "sourceAccount": account,
            },
            None,
            identity=aws_service(service),
            resources=[function_resource(unqualified)],
            account=account,
            sourceIPAddress=service,
            userAgent=service,
            sharedEventID="5d7c1f0e-2b3a-4c5d-8e9f-0a1b2c3d4e5f",
            time=time,
        ),
        extra,
    )


def eventbridge_invoke(
    function: str, rule: str, *, time: str = TIME, **extra: object
) -> JSONObject:
    """EventBridge invoking a function: ``sourceArn`` is the rule's ARN, not the bus's."""
    return _with(service_invoke(function, "events.amazonaws.com", rule, time=time), extra)


def rule_arn(name: str, bus: str = "default", account: str = ACCOUNT, region: str = REGION) -> str:
    """``…:rule/<name>`` on the default bus, ``…:rule/<bus>/<name>`` on another."""
    prefix = "" if bus == "default" else f"{bus}/"
    return f"arn:aws:events:{region}:{account}:rule/{prefix}{name}"


def transact_write(
    *items: tuple[str, str, str],
    identity: Mapping[str, object] | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """TransactWriteItems as CloudTrail logs it: ``requestItems[]`` of ``(operation, the key
    spelling the table name goes under — tableName or TableName —, table)``."""
    request_items = [
        {
            "operation": operation,
            key: table,
            "key": {"pk": "k"},
            "conditionExpression": "attribute_exists(#p)",
        }
        for operation, key, table in items
    ]
    return _with(
        record(
            DYNAMODB,
            "TransactWriteItems",
            {
                "requestItems": request_items,
                "returnConsumedCapacity": "TOTAL",
                "returnItemCollectionMetrics": "SIZE",
            },
            None,
            identity=identity,
            resources=resources,
            time=time,
        ),
        extra,
    )


def execute_statement(
    statement: str,
    *,
    identity: Mapping[str, object] | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """PartiQL ExecuteStatement: the statement text, non-key values redacted."""
    return _with(
        record(
            DYNAMODB,
            "ExecuteStatement",
            {"statement": statement},
            None,
            identity=identity,
            resources=resources,
            time=time,
        ),
        extra,
    )


def batch_execute_statement(
    *statements: str,
    identity: Mapping[str, object] | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    return _with(
        record(
            DYNAMODB,
            "BatchExecuteStatement",
            {"requestItems": [{"statement": s} for s in statements]},
            None,
            identity=identity,
            resources=resources,
            time=time,
        ),
        extra,
    )


def execute_transaction(
    *statements: str,
    identity: Mapping[str, object] | None = None,
    resources: Sequence[Mapping[str, object]] | None = None,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """ExecuteTransaction, statements where the API puts them (no record is published)."""
    return _with(
        record(
            DYNAMODB,
            "ExecuteTransaction",
            {"transactStatements": [{"statement": s} for s in statements]},
            None,
            identity=identity,
            resources=resources,
            time=time,
        ),
        extra,
    )


REDACTED = "***(Redacted)"


def delete_objects(
    bucket: str, *, identity: Mapping[str, object] | None = None, time: str = TIME, **extra: object
) -> JSONObject:
    """DeleteObjects as logged: ``delete: ""`` and an ``ARNPrefix``, no key anywhere."""
    return _with(
        record(
            S3,
            "DeleteObjects",
            {
                "bucketName": bucket,
                "Host": f"{bucket}.s3.{REGION}.amazonaws.com",
                "delete": "",
                "x-id": "DeleteObjects",
            },
            None,
            identity=identity,
            resources=[
                {"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
                {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ],
            time=time,
        ),
        extra,
    )


def esm_disabled(
    uuid: str,
    reason: str = "Lambda Function not found",
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """LambdaESMDisabled. Only its name and ``serviceEventDetails.ESMDisableReason`` are
    published; the rest follows CloudTrail's service-event layout (``eventType
    AwsServiceEvent``, the mapping as a resource ARN), an assumption the parser does not
    lean on alone (it reads a UUID from any of the places a record may carry one)."""
    rec = _with(
        record(
            LAMBDA,
            "LambdaESMDisabled",
            None,
            None,
            identity={"accountId": account, "invokedBy": "lambda.amazonaws.com"},
            account=account,
            region=region,
            resources=[
                {
                    "accountId": account,
                    "type": "AWS::Lambda::EventSourceMapping",
                    "ARN": f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}",
                }
            ],
            eventType="AwsServiceEvent",
            serviceEventDetails={"ESMDisableReason": reason},
            sourceIPAddress="lambda.amazonaws.com",
            userAgent="lambda.amazonaws.com",
            time=time,
        ),
        extra,
    )
    del rec["tlsDetails"]
    return rec


def create_state_machine(
    name: str,
    role_arn: str,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    time: str = TIME,
    **extra: object,
) -> JSONObject:
    """CreateStateMachine: ``name``, ``roleArn`` and (today) a hidden definition."""
    machine = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
    return _with(
        record(
            STATES,
            "CreateStateMachine",
            {
                "name": name,
                "roleArn": role_arn,
                "definition": "HIDDEN_DUE_TO_SECURITY_REASONS",
                "type": "STANDARD",
            },
            {"stateMachineArn": machine, "creationDate": "Oct 5, 2026, 1:59:00 PM"},
            account=account,
            region=region,
            time=time,
        ),
        extra,
    )


def start_execution(
    machine: str, *, identity: Mapping[str, object] | None = None, time: str = TIME, **extra: object
) -> JSONObject:
    return _with(
        record(
            STATES,
            "StartExecution",
            {"input": "HIDDEN_DUE_TO_SECURITY_REASONS", "stateMachineArn": machine},
            {"executionArn": machine.replace(":stateMachine:", ":execution:") + ":run-1"},
            identity=identity,
            time=time,
        ),
        extra,
    )


def run_records(
    records: Sequence[JSONObject], engine: Engine | None = None
) -> tuple[Engine, list[Finding]]:
    """Parse ``records`` in order into ``engine`` (a new one by default), then flush it."""
    engine = engine or Engine()
    found: list[Finding] = []
    for rec in records:
        for fact in parse(rec)[1]:
            found.extend(engine.apply(fact))
    found.extend(engine.flush())
    return engine, found
