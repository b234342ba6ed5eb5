"""DynamoDB: item writes (write edges).  caller ──write──► table (its stream triggers)

    PutItem, UpdateItem, DeleteItem   requestParameters.tableName (name or ARN)
    BatchWriteItem                    requestParameters.requestItems: one write per table
    TransactWriteItems                requestParameters.transactItems: one write per table
Where the request does not name the table, ``resources[].ARN`` (AWS::DynamoDB::Table) does.
"""

from __future__ import annotations

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    caller,
    event_time,
    handles,
    obj,
    objects,
    request,
    text,
)
from loopwatch.events.facts import Caller, Fact, Write

DYNAMODB = "dynamodb.amazonaws.com"
_WRITES = ("put", "update", "delete", "Put", "Update", "Delete")  # not conditionCheck


@handles(DYNAMODB, "PutItem", "UpdateItem", "DeleteItem")
def item_written(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    name = text(request(rec), "tableName") or _resource_table(rec)
    return (Write(event_time(rec), who, _table(name, who)),)


@handles(DYNAMODB, "BatchWriteItem")
def batch_written(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    items = request(rec).get("requestItems")
    counts: dict[str, int] = {}
    if isinstance(items, dict):  # the API shape: {table: [requests]}
        for name, requests in items.items():
            if isinstance(name, str) and name:
                counts[name] = len(requests) if isinstance(requests, list) else 1
    else:  # a flattened list of {tableName, …}
        for item in objects(items):
            if name := text(item, "tableName"):
                counts[name] = counts.get(name, 0) + 1
    return _per_table(rec, who, counts)


@handles(DYNAMODB, "TransactWriteItems")
def transaction_written(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    counts: dict[str, int] = {}
    for item in objects(request(rec).get("transactItems")):
        for op in _WRITES:
            if name := text(obj(item, op), "tableName"):
                counts[name] = counts.get(name, 0) + 1
    return _per_table(rec, who, counts)


def _per_table(rec: JSON, who: Caller, counts: dict[str, int]) -> tuple[Fact, ...]:
    time = event_time(rec)
    if not counts:
        return (Write(time, who, _table(_resource_table(rec), who)),)
    return tuple(Write(time, who, _table(n, who), count=c) for n, c in counts.items())


def _resource_table(rec: JSON) -> str:
    for resource in objects(rec.get("resources")):
        if resource.get("type") == "AWS::DynamoDB::Table" and (arn := text(resource, "ARN")):
            return arn
    raise MalformedRecord("no table in requestParameters or resources")


def _table(name_or_arn: str, who: Caller) -> str:
    return arns.table_arn(name_or_arn, who.account, who.region)
