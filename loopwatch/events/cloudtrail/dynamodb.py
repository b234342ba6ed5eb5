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

from collections.abc import Collection, Iterator

from loopwatch.events import arns
from loopwatch.events.cloudtrail.base import (
    JSON,
    MalformedRecord,
    Truncation,
    caller,
    capped,
    event_time,
    facts_of,
    handles,
    listed,
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
    table = _only_table(rec) if name is None else _table(name, who, _listed_tables(rec, {name}))
    return (Write(event_time(rec), who, table),)


@handles(DYNAMODB, "BatchWriteItem")
def batch_written(rec: JSON) -> tuple[Fact, ...]:
    who = caller(rec)
    if who is None:
        return ()
    items = request(rec).get("requestItems")
    if isinstance(items, dict):  # the API shape {table: [requests]}: each table named once
        named, truncation = capped(rec, items.items(), "tables")  # read no further
        counts = {
            name: len(requests) if isinstance(requests, list) else 1
            for name, requests in named
            if isinstance(name, str) and name
        }
        return _per_table(rec, who, counts, truncation)
    counts = {}
    for item in objects(items):  # a flattened list of {tableName, …}
        if name := text(item, "tableName"):
            counts[name] = counts.get(name, 0) + 1
    return _per_table(rec, who, *_first_tables(rec, counts))


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
    return _per_table(rec, who, *_first_tables(rec, counts))


@handles(DYNAMODB, "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction")
def statements_executed(rec: JSON) -> tuple[Fact, ...]:
    """One write per table that an INSERT, UPDATE or DELETE names; reads give nothing."""
    who = caller(rec)
    if who is None:
        return ()
    params = request(rec)
    named = [params.get("statement")]
    for key in ("requestItems", "transactStatements"):
        named += [item.get("statement") for item in objects(params.get(key))]
    statements, truncation = capped(rec, [s for s in named if isinstance(s, str)], "statements")
    counts: dict[str, int] = {}
    for statement in statements:
        try:
            name = written_table(statement)
        except UnreadableStatement:
            name = _only_table(rec)  # a write for sure; the record's one table is it
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return ()
    time = event_time(rec)
    tables = _listed_tables(rec, counts)
    writes = (Write(time, who, _table(n, who, tables), count=c) for n, c in counts.items())
    return facts_of(writes, truncation)


def _first_tables(rec: JSON, counts: dict[str, int]) -> tuple[dict[str, int], Truncation | None]:
    """The first ``target_limit`` tables of ``counts`` (table → items written), and what was cut."""
    kept, truncation = capped(rec, counts.items(), "tables")
    return dict(kept), truncation


def _per_table(
    rec: JSON, who: Caller, counts: dict[str, int], truncation: Truncation | None
) -> tuple[Fact, ...]:
    """One write per table of ``counts`` (table → items written, already cut to
    ``target_limit``); the record's one listed table when the request names none."""
    time = event_time(rec)
    if not counts:
        return (Write(time, who, _only_table(rec)),)
    tables = _listed_tables(rec, counts)
    writes = (Write(time, who, _table(n, who, tables), count=c) for n, c in counts.items())
    return facts_of(writes, truncation)


def _resource_tables(rec: JSON) -> Iterator[tuple[str, str]]:
    """(name, table ARN) of each table in ``resources[]``, as they are asked for."""
    for resource in listed(rec.get("resources")):
        if isinstance(resource, dict) and resource.get("type") == "AWS::DynamoDB::Table":
            arn = text(resource, "ARN") or ""
            if arn.startswith("arn:"):
                table = arns.table_arn(arn, "", "")
                yield arns.name(table), table


def _listed_tables(rec: JSON, names: Collection[str]) -> dict[str, str]:
    """Table name → the table's own ARN, from ``resources[]``, for the tables of ``names``
    only: a record may list thousands, and only those it writes are kept."""
    return {name: table for name, table in _resource_tables(rec) if name in names}


def _only_table(rec: JSON) -> str:
    """The table a record that names none in its request writes: its one listed table."""
    tables: dict[str, str] = {}
    for name, table in _resource_tables(rec):
        tables[name] = table
        if len(tables) > 1:  # already not one: read no further
            break
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
