"""DynamoDB: item writes (write edges).  caller ──write──► table (its stream triggers)

    PutItem, UpdateItem, DeleteItem   requestParameters.tableName (name or ARN)
    BatchWriteItem                    requestParameters.requestItems: one write per table
    TransactWriteItems                requestParameters.requestItems[]: one write per table
    ExecuteStatement                  requestParameters.statement (PartiQL)
    BatchExecuteStatement             requestParameters.requestItems[].statement
    ExecuteTransaction                requestParameters.transactStatements[].statement

Real shapes (DynamoDB developer guide, "Understanding DynamoDB log file entries"):

- ``resources[]`` lists each table as ``AWS::DynamoDB::Table`` with its ARN, and that ARN is
  the table's own: its account (and region) may differ from the caller's (a cross-account
  write, or the guide's own inconsistent example). A table named in the request is matched
  by name against those ARNs; only an unlisted one takes the caller's account and region.
- TransactWriteItems is logged as ``requestItems: [{operation: Put|Update|Delete|
  ConditionCheck, tableName | TableName, …}]`` (both spellings occur in one record), not as
  the API's ``transactItems``; the API shape is read too. ConditionCheck writes nothing.
- PartiQL statements keep their text with non-key values redacted (``***(Redacted)``), so
  the verb and table survive (``loopwatch.events.cloudtrail.partiql``); a SELECT writes
  nothing. No ExecuteTransaction record is published; its statements are read where the
  API puts them (``transactStatements``) and, like BatchExecuteStatement, ``requestItems``.
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
from loopwatch.events.cloudtrail.partiql import UnreadableStatement, written_table
from loopwatch.events.facts import Caller, Fact, Write

DYNAMODB = "dynamodb.amazonaws.com"
_API_WRITES = ("put", "update", "delete", "Put", "Update", "Delete")  # not conditionCheck
_LOGGED_WRITES = frozenset({"put", "update", "delete"})  # requestItems[].operation, lowered


@handles(DYNAMODB, "PutItem", "UpdateItem", "DeleteItem")
def item_written(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    name = text(request(rec), "tableName")
    tables = _listed_tables(rec)
    if name is None:
        name = _only_table(tables)
    return (Write(event_time(rec), who, _table(name, who, tables)),)


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
    params = request(rec)
    logged, api = objects(params.get("requestItems")), objects(params.get("transactItems"))
    counts: dict[str, int] = {}
    for item in logged:  # as CloudTrail logs it
        operation = text(item, "operation")
        name = text(item, "tableName") or text(item, "TableName")
        if name and operation and operation.lower() in _LOGGED_WRITES:
            counts[name] = counts.get(name, 0) + 1
    for item in api:  # the API's own shape
        for op in _API_WRITES:
            if name := text(obj(item, op), "tableName"):
                counts[name] = counts.get(name, 0) + 1
    if not counts and (logged or api):  # only condition checks: nothing written
        return ()
    return _per_table(rec, who, counts)


@handles(DYNAMODB, "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction")
def statements_executed(rec: JSON) -> tuple[Fact, ...]:
    """One write per table that an INSERT, UPDATE or DELETE names; reads give nothing."""
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    statements = [params.get("statement")]
    for key in ("requestItems", "transactStatements"):
        statements += [item.get("statement") for item in objects(params.get(key))]
    counts: dict[str, int] = {}
    tables = _listed_tables(rec)
    for statement in statements:
        if not isinstance(statement, str):
            continue
        try:
            name = written_table(statement)
        except UnreadableStatement:
            name = _only_table(tables)  # a write for sure; the record's one table is it
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return ()
    time = event_time(rec)
    return tuple(Write(time, who, _table(n, who, tables), count=c) for n, c in counts.items())


def _per_table(rec: JSON, who: Caller, counts: dict[str, int]) -> tuple[Fact, ...]:
    time = event_time(rec)
    tables = _listed_tables(rec)
    if not counts:
        return (Write(time, who, _table(_only_table(tables), who, tables)),)
    return tuple(Write(time, who, _table(n, who, tables), count=c) for n, c in counts.items())


def _listed_tables(rec: JSON) -> dict[str, str]:
    """Table name → the table's own ARN, from ``resources[]``."""
    found: dict[str, str] = {}
    for resource in objects(rec.get("resources")):
        arn = text(resource, "ARN") or ""
        if resource.get("type") == "AWS::DynamoDB::Table" and arn.startswith("arn:"):
            table = arns.table_arn(arn, "", "")
            found[arns.name(table)] = table
    return found


def _only_table(tables: dict[str, str]) -> str:
    """The table a record that names none in its request writes: its one listed table."""
    if len(tables) == 1:
        return next(iter(tables.values()))
    raise MalformedRecord("no table in requestParameters and not exactly one in resources")


def _table(name_or_arn: str, who: Caller, tables: dict[str, str]) -> str:
    if name_or_arn.startswith("arn:"):
        return arns.table_arn(name_or_arn, who.account, who.region)
    listed = tables.get(name_or_arn)
    if listed is not None:
        return listed
    return arns.table_arn(name_or_arn, who.account, who.region)
