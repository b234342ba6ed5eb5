"""Bad input costs nothing valid (issue 16, item 8): a configuration record with a field of
the wrong type is malformed — counted, with a reason, and no fact — never read as an empty
configuration that erases the real one."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.events.intake import Intake
from loopwatch.events.records import MalformedRecord, parse
from loopwatch.events.times import parse_time
from loopwatch.testing import records as r
from loopwatch.testing.data import shared_data_dir
from loopwatch.testing.records import EVENTS, LAMBDA, S3, SNS, function_arn, record
from loopwatch.topology import builtin_topologies, load_topology, simulate

NOW = parse_time("2026-10-05T15:00:00Z")
FN = function_arn("thumb")
QUEUE = f"arn:aws:sqs:{r.REGION}:{r.ACCOUNT}:jobs"
TOPIC = f"arn:aws:sns:{r.REGION}:{r.ACCOUNT}:news"
UUID = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"


def notification(config: dict[str, Any]) -> dict[str, Any]:
    request = {
        "bucketName": "uploads",
        "notification": "",
        "NotificationConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", **config},
    }
    return record(S3, "PutBucketNotification", request, None)


LAMBDA_CONFIG = {
    "Id": "thumbs",
    "CloudFunction": FN,
    "Event": ["s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"],
    "Filter": {
        "S3Key": {
            "FilterRule": [{"Name": "Prefix", "Value": "in/"}, {"Name": "Suffix", "Value": ".jpg"}]
        }
    },
}


def well_typed() -> dict[str, dict[str, Any]]:
    """One well-typed configuration record of every shape a configuration parser reads."""
    return {
        "bucket": notification(
            {
                "CloudFunctionConfiguration": LAMBDA_CONFIG,
                "QueueConfiguration": {"Queue": QUEUE, "Event": "s3:ObjectRemoved:*"},
                "TopicConfiguration": [{"Topic": TOPIC, "Event": "s3:ObjectCreated:*"}],
                "EventBridgeConfiguration": {},
            }
        ),
        "create-mapping": record(
            LAMBDA,
            "CreateEventSourceMapping20150331",
            {
                "eventSourceArn": QUEUE,
                "functionName": "thumb",
                "enabled": True,
                "filterCriteria": {"filters": [{"pattern": '{"body": ["x"]}'}]},
            },
            {"uUID": UUID, "eventSourceArn": QUEUE, "functionArn": FN, "filterCriteria": {}},
        ),
        "update-mapping": record(
            LAMBDA,
            "UpdateEventSourceMapping20150331",
            {"uUID": UUID, "functionName": "thumb", "enabled": False},
            {"uUID": UUID, "eventSourceArn": QUEUE, "functionArn": FN, "state": "Updating"},
        ),
        "delete-mapping": record(
            LAMBDA, "DeleteEventSourceMapping20150331", {"uUID": UUID}, {"uUID": UUID}
        ),
        "subscribe": record(
            SNS,
            "Subscribe",
            {
                "topicArn": TOPIC,
                "protocol": "lambda",
                "endpoint": FN,
                "attributes": {"FilterPolicy": '{"kind": ["photo"]}'},
            },
            {"subscriptionArn": f"{TOPIC}:9e5fd7a2"},
        ),
        "put-targets": record(
            EVENTS,
            "PutTargets",
            {"rule": "r", "eventBusName": "orders", "targets": [{"id": "1", "arn": FN}]},
        ),
        "remove-targets": record(
            EVENTS, "RemoveTargets", {"rule": "r", "eventBusName": "orders", "ids": ["1"]}
        ),
        "destinations": record(
            LAMBDA,
            "PutFunctionEventInvokeConfig",
            {
                "functionName": "thumb",
                "destinationConfig": {
                    "onSuccess": {"destination": QUEUE},
                    "onFailure": {"destination": TOPIC},
                },
            },
        ),
        "create-function": r.create_function("thumb", "thumb-role"),
        "update-function": record(
            LAMBDA,
            "UpdateFunctionConfiguration20150331v2",
            {"functionName": FN, "environment": {}},
            {"functionArn": FN, "role": f"arn:aws:iam::{r.ACCOUNT}:role/thumb-role"},
        ),
    }


NC = ("requestParameters", "NotificationConfiguration")
LAMBDA_AT = (*NC, "CloudFunctionConfiguration")
RULES = (*LAMBDA_AT, "Filter", "S3Key", "FilterRule")

# (shape, path to the field, a value of the wrong type)
WRONG: list[tuple[str, tuple[object, ...], object]] = [
    ("bucket", NC, 7),
    ("bucket", NC, "uploads"),
    ("bucket", NC, []),
    ("bucket", LAMBDA_AT, "thumb"),
    ("bucket", LAMBDA_AT, []),
    ("bucket", (*NC, "QueueConfiguration"), [7]),
    ("bucket", (*NC, "TopicConfiguration"), 7),
    ("bucket", (*NC, "EventBridgeConfiguration"), "on"),
    ("bucket", (*LAMBDA_AT, "CloudFunction"), 7),
    ("bucket", (*NC, "QueueConfiguration", "Queue"), {"arn": QUEUE}),
    ("bucket", (*LAMBDA_AT, "Event"), 7),
    ("bucket", (*LAMBDA_AT, "Event"), [7]),
    ("bucket", (*LAMBDA_AT, "Id"), 7),
    ("bucket", (*LAMBDA_AT, "Filter"), "in/"),
    ("bucket", (*LAMBDA_AT, "Filter", "S3Key"), 7),
    ("bucket", RULES, "in/"),
    ("bucket", (*RULES, 0), "in/"),
    ("bucket", (*RULES, 0, "Name"), 7),
    ("bucket", (*RULES, 1, "Value"), 7),
    ("bucket", ("requestParameters",), "uploads"),
    ("create-mapping", ("requestParameters", "enabled"), "no"),
    ("create-mapping", ("requestParameters", "eventSourceArn"), 7),
    ("create-mapping", ("requestParameters", "functionName"), 7),
    ("create-mapping", ("requestParameters", "filterCriteria"), 7),
    ("create-mapping", ("requestParameters", "filterCriteria", "filters"), {"pattern": "x"}),
    ("create-mapping", ("requestParameters", "filterCriteria", "filters", 0), "x"),
    ("create-mapping", ("requestParameters", "filterCriteria", "filters", 0, "pattern"), 7),
    ("create-mapping", ("responseElements", "uUID"), 7),
    ("create-mapping", ("responseElements",), "ok"),
    ("update-mapping", ("requestParameters", "enabled"), "false"),
    ("update-mapping", ("requestParameters", "uUID"), 7),
    ("update-mapping", ("requestParameters", "functionName"), ["thumb"]),
    ("update-mapping", ("responseElements", "state"), 7),
    ("update-mapping", ("responseElements", "functionArn"), 7),
    ("delete-mapping", ("requestParameters", "uUID"), 7),
    ("subscribe", ("requestParameters", "protocol"), 7),
    ("subscribe", ("requestParameters", "endpoint"), 7),
    ("subscribe", ("requestParameters", "topicArn"), [TOPIC]),
    ("subscribe", ("requestParameters", "attributes"), "x"),
    ("subscribe", ("requestParameters", "attributes", "FilterPolicy"), {"kind": ["photo"]}),
    ("subscribe", ("responseElements", "subscriptionArn"), 7),
    ("put-targets", ("requestParameters", "targets"), 7),
    ("put-targets", ("requestParameters", "targets"), []),
    ("put-targets", ("requestParameters", "targets", 0), FN),
    ("put-targets", ("requestParameters", "targets", 0, "arn"), 7),
    ("put-targets", ("requestParameters", "eventBusName"), 7),
    ("remove-targets", ("requestParameters", "ids"), 1),
    ("remove-targets", ("requestParameters", "ids", 0), 1),
    ("destinations", ("requestParameters", "destinationConfig"), 7),
    ("destinations", ("requestParameters", "destinationConfig", "onSuccess"), QUEUE),
    ("destinations", ("requestParameters", "destinationConfig", "onFailure", "destination"), 7),
    ("create-function", ("requestParameters", "role"), 7),
    ("create-function", ("responseElements", "functionArn"), 7),
    ("update-function", ("responseElements", "role"), {"arn": "x"}),
    ("update-function", ("responseElements",), 7),
]


def put(rec: dict[str, Any], path: tuple[object, ...], value: object) -> dict[str, Any]:
    out = copy.deepcopy(rec)
    parent: Any = out
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return out


@pytest.mark.parametrize(("shape", "path", "value"), WRONG, ids=lambda v: repr(v)[:40])
def test_a_field_of_the_wrong_type_makes_the_record_malformed(
    shape: str, path: tuple[object, ...], value: object
) -> None:
    good = well_typed()[shape]
    assert parse(good)[1], shape  # the well-typed record is a configuration that counts
    bad = put(good, path, value)
    with pytest.raises(MalformedRecord):
        parse(bad)
    taken = Intake().take([bad, r.eventbridge(bad)], NOW)
    assert taken.facts == [] and taken.counts.malformed == 2 and taken.counts.used == 0
    (reason,) = taken.rejected
    assert reason and "parser error" not in reason


def test_an_empty_configuration_still_clears_and_an_absent_one_is_malformed() -> None:
    (cleared,) = parse(notification({}))[1]
    assert cleared.triggers == ()  # type: ignore[union-attr]
    absent = notification({})
    del absent["requestParameters"]["NotificationConfiguration"]
    with pytest.raises(MalformedRecord, match="NotificationConfiguration"):
        parse(absent)


# --- property: a type mutation is malformed or changes nothing -------------------------


def real_configuration_records() -> list[dict[str, Any]]:
    """Configuration records in real shapes: the published samples, every built-in topology's
    simulated configuration, and the well-typed ones above."""
    found: list[dict[str, Any]] = list(well_typed().values())
    samples = shared_data_dir(__file__, "cloudtrail-samples")
    for name in ("records.jsonl", "records_nonverbatim.jsonl"):
        path = samples / name
        if path.is_file():
            found += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
    for topology in builtin_topologies():
        found += [dict(t.record) for t in simulate(load_topology(topology)).records]
    configuration = [
        rec
        for rec in found
        if isinstance(rec, dict) and str(rec.get("eventName")).startswith(CONFIGURATION_CALLS)
    ]
    seen: set[bytes] = set()
    unique = []
    for rec in configuration:
        key = orjson.dumps({k: v for k, v in rec.items() if k not in ("eventID", "requestID")})
        if key not in seen:
            seen.add(key)
            unique.append(rec)
    return unique


# The calls whose parsers change configuration (DESIGN §4's trigger table, and functions).
CONFIGURATION_CALLS = (
    "PutBucketNotification",
    "CreateEventSourceMapping",
    "UpdateEventSourceMapping",
    "DeleteEventSourceMapping",
    "Subscribe",
    "Unsubscribe",
    "PutRule",
    "PutTargets",
    "RemoveTargets",
    "PutFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig",
    "CreateFunction",
    "UpdateFunctionConfiguration",
    "DeleteFunction",
)
_RECORDS: list[dict[str, Any]] = []


def records_pool() -> list[dict[str, Any]]:
    if not _RECORDS:
        _RECORDS.extend(real_configuration_records())
    return _RECORDS


def kind(value: object) -> str:
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else (type(value).__name__)
    )


# Values of every JSON type but null (null is absence, not a wrong type) and but lists of
# strings (which XML-born fields accept for one string).
WRONG_VALUES = st.one_of(
    st.integers(-5, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=8),
    st.just([]),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.just({}),
    st.dictionaries(st.sampled_from(["a", "arn", "Name"]), st.integers(), min_size=1),
)


def _at(value: Any, path: tuple[object, ...], default: object) -> object:
    """The value at ``path`` inside ``value``, or ``default`` where the path is not there."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return default
    return value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_type_mutations_of_configuration_records_are_malformed_or_change_nothing(
    data: st.DataObject,
) -> None:
    original = data.draw(st.sampled_from(records_pool()))
    try:
        expected = parse(original)[1]
    except MalformedRecord:
        return  # a published sample that is malformed as it stands
    rec = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 2))):
        path = data.draw(st.sampled_from(r.paths(rec)[1:]))
        parent: Any = rec
        for step in path[:-1]:
            parent = parent[step]
        old = _at(original, path, parent[path[-1]])  # the well-typed value, not a mutant's
        value = data.draw(WRONG_VALUES.filter(lambda v, old=old: kind(v) != kind(old)))
        parent[path[-1]] = value
    try:
        found = parse(rec)[1]
    except MalformedRecord:
        return
    assert found == expected, (original, rec)


# --- end to end ---------------------------------------------------------------------------


def test_a_wrongly_typed_configuration_beside_a_real_loop_costs_only_itself(
    tmp_path: Path,
) -> None:
    loop = r.s3_self_loop(writes=6)
    bad = r.record(
        S3,
        "PutBucketNotification",
        {"bucketName": "uploads", "NotificationConfiguration": 7},
        time=r.at(12),  # after the real configuration, in the middle of the loop
    )
    r.write_log(tmp_path / "trail" / "loop.json", loop)
    (tmp_path / "trail" / "bad.jsonl").write_bytes(orjson.dumps(bad) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", "replay", "--format", "json", str(tmp_path / "trail")],
        capture_output=True,
        timeout=300,
        check=False,
    )
    report = orjson.loads(done.stdout)
    assert done.returncode == 1, done.stderr
    assert report["records"]["malformed"] == 1
    assert report["records"]["used"] == len(loop)
    (found,) = report["loops"]
    assert found["status"] == "active" and found["confirmed"] is True and not found["unknown"]
    assert found["cycle"][0] == "arn:aws:s3:::uploads" or "arn:aws:s3:::uploads" in found["cycle"]
    assert any("NotificationConfiguration" in e["reason"] for e in report["errors"])
