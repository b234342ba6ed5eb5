"""Bounded work per record (issue 17): a record naming more targets than its call accepts
yields facts for its first ones, and is counted as truncated with the event and how many were
dropped — by the parser, the intake, replay's report (JSON and errors, any number of jobs), and
for two records naming 100,000 resources each, in bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.detect.router import Router
from loopwatch.events import facts as f
from loopwatch.events.cloudtrail.base import (
    MAX_TARGETS,
    Capped,
    Truncation,
    target_limit,
)
from loopwatch.events.intake import Intake, parse_batch
from loopwatch.events.records import parse
from loopwatch.replay import replay
from loopwatch.testing import records as r
from loopwatch.testing.poison import fan_out_record

ROLE = r.assumed_role("fan-role", "fanner")
NOW = time.time()


@dataclass(frozen=True)
class Shape:
    """A call that names many targets: a record of it naming ``n``, and the target a fact of
    it is about (in the order the record names them)."""

    event: str
    noun: str
    record: Callable[[int], dict[str, Any]]
    target: Callable[[f.Fact], str]


def _written(fact: f.Fact) -> str:
    assert isinstance(fact, f.Write)
    return fact.target


def _key(fact: f.Fact) -> str:
    assert isinstance(fact, f.Write) and fact.key is not None
    return fact.key


def _added(fact: f.Fact) -> str:
    assert isinstance(fact, f.TriggerAdded)
    return fact.trigger.target


def _removed(fact: f.Fact) -> str:
    assert isinstance(fact, f.TriggerRemoved)
    return fact.trigger_id


def _data(source: str, name: str, request: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return r.record(source, name, request, identity=ROLE, **kw)


SHAPES = [
    Shape(
        "BatchWriteItem",
        "tables",
        lambda n: fan_out_record(r.ACCOUNT, n, tag="x"),
        _written,
    ),
    Shape(  # the flattened list some records carry
        "BatchWriteItem",
        "tables",
        lambda n: _data(
            r.DYNAMODB,
            "BatchWriteItem",
            {"requestItems": [{"tableName": f"t{i}"} for i in range(n)]},
        ),
        _written,
    ),
    Shape(
        "TransactWriteItems",
        "tables",
        lambda n: _data(
            r.DYNAMODB,
            "TransactWriteItems",
            {"requestItems": [{"operation": "Put", "tableName": f"t{i}"} for i in range(n)]},
        ),
        _written,
    ),
    Shape(
        "ExecuteTransaction",
        "statements",
        lambda n: _data(
            r.DYNAMODB,
            "ExecuteTransaction",
            {
                "transactStatements": [
                    {"statement": f"DELETE FROM t{i} WHERE pk=1"} for i in range(n)
                ]
            },
        ),
        _written,
    ),
    Shape(
        "PutEvents",
        "event buses",
        lambda n: _data(
            r.EVENTS, "PutEvents", {"entries": [{"eventBusName": f"b{i}"} for i in range(n)]}
        ),
        _written,
    ),
    Shape(
        "PutTargets",
        "targets",
        lambda n: r.record(
            r.EVENTS,
            "PutTargets",
            {
                "rule": "r",
                "targets": [{"id": f"i{i}", "arn": r.function_arn(f"f{i}")} for i in range(n)],
            },
        ),
        _added,
    ),
    Shape(
        "RemoveTargets",
        "target ids",
        lambda n: r.record(
            r.EVENTS, "RemoveTargets", {"rule": "r", "ids": [f"i{i}" for i in range(n)]}
        ),
        _removed,
    ),
    Shape(  # keys only in resources[], as the ARNs of the objects
        "DeleteObjects",
        "keys",
        lambda n: _data(
            r.S3,
            "DeleteObjects",
            {"bucketName": "uploads", "delete": ""},
            resources=[
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::uploads/k{i}"} for i in range(n)
            ],
        ),
        _key,
    ),
]


def test_a_batch_write_naming_7000_tables_yields_its_first_25_and_says_what_it_dropped() -> None:
    record = fan_out_record(r.ACCOUNT, 7_000)
    _, facts = parse(record)
    tables = list(record["requestParameters"]["requestItems"])  # type: ignore[index]
    assert [_written(fact) for fact in facts] == [
        f"arn:aws:dynamodb:us-east-1:{r.ACCOUNT}:table/{name}" for name in tables[:25]
    ]
    assert isinstance(facts, Capped)
    assert facts.truncation == Truncation("BatchWriteItem", "tables", 7_000, 25)
    assert facts.truncation.reason == (
        "BatchWriteItem named 7,000 tables: facts for the first 25, 6,975 dropped"
    )


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.event} {s.noun}")
@given(n=st.integers(1, 3 * MAX_TARGETS))
def test_a_record_yields_facts_for_as_many_targets_as_its_call_accepts(
    shape: Shape, n: int
) -> None:
    limit = target_limit(shape.event)
    _, facts = parse(shape.record(n))
    _, first = parse(shape.record(min(n, limit)))
    # The facts of its first targets, exactly those of the record naming only them.
    assert facts == first
    assert len({shape.target(fact) for fact in facts}) == min(n, limit)
    if n <= limit:
        assert type(facts) is tuple
    else:
        assert isinstance(facts, Capped)
        assert facts.truncation == Truncation(shape.event, shape.noun, n, limit)
        assert f"named {n:,} {shape.noun}" in facts.truncation.reason
        assert f"{n - limit:,} dropped" in facts.truncation.reason


def test_no_limit_is_above_max_targets_nor_below_what_aws_accepts() -> None:
    # The calls' own limits (see TARGET_LIMITS): a record CloudTrail writes is never cut.
    accepted = {
        "BatchWriteItem": 25,
        "BatchExecuteStatement": 25,
        "PutEvents": 10,
        "PutTargets": 10,
    }
    for event, most in {**accepted, "TransactWriteItems": 100, "RemoveTargets": 100}.items():
        assert most <= target_limit(event) <= MAX_TARGETS


def test_the_intake_counts_a_truncated_record_once_and_not_again_as_a_duplicate() -> None:
    cut = fan_out_record(r.ACCOUNT, 300)
    whole = fan_out_record(r.ACCOUNT, 3)
    taken = Intake().take([cut, dict(cut), whole], NOW)
    assert (taken.counts.used, taken.counts.duplicates, taken.counts.truncated) == (2, 1, 1)
    assert taken.counts.truncations == {Truncation("BatchWriteItem", "tables", 300, 25): 1}
    assert taken.counts.to_json()["truncated"] == 1
    assert len(taken.facts) == 25 + 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_replay_reports_truncated_records_in_its_counts_and_errors(
    tmp_path: Path, jobs: int
) -> None:
    logs = tmp_path / "logs"
    r.write_log(logs / "loop.json", r.s3_self_loop(4))
    flood = [fan_out_record(r.ACCOUNT, 7_000, time=r.at(-100 + i), tag=str(i)) for i in range(3)]
    r.write_log(logs / "flood.json.gz", flood)
    report = replay([str(logs)], jobs=jobs).to_json()
    assert report["records"]["truncated"] == 3
    assert report["records"]["used"] == 6 + 3  # truncated records are used too
    (error,) = [e for e in report["errors"] if "truncated" in e["reason"]]
    assert error["source"].endswith("flood.json.gz")
    assert error["reason"] == (
        "3 records truncated: BatchWriteItem named 7,000 tables: facts for the first 25,"
        " 6,975 dropped"
    )
    assert [loop["status"] for loop in report["loops"]] == ["active"]


def test_two_records_naming_100k_resources_each_cost_bounded_memory() -> None:
    """Before the cap they gave 200,000 facts and hops: 190 MB traced, 20 s."""
    n = 100_000
    tables = fan_out_record(r.ACCOUNT, n)
    tables["resources"] = [
        {
            "type": "AWS::DynamoDB::Table",
            "ARN": f"arn:aws:dynamodb:us-east-1:{r.ACCOUNT}:table/{name}",
        }
        for name in tables["requestParameters"]["requestItems"]
    ]
    keys = SHAPES[-1].record(n)
    values = orjson.loads(orjson.dumps([tables, keys]))  # decoded as the intake gets them

    tracemalloc.start()
    try:
        router = Router()
        taken, routed = router.admit(parse_batch(values, NOW))
        router.feed(routed)
        router.settle()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{peak:,} bytes"
    assert len(routed) == target_limit("BatchWriteItem") + target_limit("DeleteObjects")
    assert taken.counts.truncated == 2
    assert sorted(t.reason for t in taken.counts.truncations) == [
        "BatchWriteItem named 100,000 tables: facts for the first 25, 99,975 dropped",
        "DeleteObjects named 100,000 keys: facts for the first 100, 99,900 dropped",
    ]
