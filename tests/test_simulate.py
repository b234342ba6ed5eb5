"""The simulator and the files it writes: determinism, layout, record shape, ground truth."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loopwatch.topology import builtin_topologies_dir, load_topology, simulate, write_simulation
from loopwatch.topology.model import S3Notification

TOPOLOGIES = builtin_topologies_dir()
FILE_NAME = re.compile(
    r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
# Keys every real CloudTrail API-call record carries (invictus sample, CloudTrail docs).
RECORD_KEYS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}


def read_records(files: list[Path]) -> list[dict[str, Any]]:
    out = []
    for f in files:
        out.extend(json.loads(gzip.decompress(f.read_bytes()))["Records"])
    return out


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    topo = load_topology(TOPOLOGIES / "multi-hop-s3-sqs.yaml")
    write_simulation(topo, tmp_path / "a")
    write_simulation(topo, tmp_path / "b")
    a, b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert a and a == b


def test_files_are_gzip_cloudtrail_in_awslogs_layout(tmp_path: Path) -> None:
    topo = load_topology(TOPOLOGIES / "s3-self-loop.yaml")
    result = write_simulation(topo, tmp_path)
    assert len(result.files) >= 2  # three minutes of loop plus setup spans 5-minute files
    for f in result.files:
        rel = f.relative_to(tmp_path).parts
        assert rel[:4] == ("AWSLogs", topo.account, "CloudTrail", topo.region)
        match = FILE_NAME.match(f.name)
        assert match and match[1] == topo.account and match[2] == topo.region
        assert "".join(rel[4:7]) == match[3][:8]
        assert set(json.loads(gzip.decompress(f.read_bytes()))) == {"Records"}
    records = read_records(list(result.files))
    ids = Counter(r["eventID"] for r in records)
    assert len(ids) == result.records
    assert sum(ids.values()) - len(ids) == result.duplicates >= 1


def test_records_have_the_real_shape(tmp_path: Path) -> None:
    topo = load_topology(TOPOLOGIES / "s3-self-loop.yaml")
    records = read_records(list(write_simulation(topo, tmp_path).files))
    for rec in records:
        assert rec.keys() >= RECORD_KEYS, rec["eventName"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["eventTime"])
        assert rec["eventVersion"] in {"1.08", "1.09"}
        assert rec["eventCategory"] == ("Management" if rec["managementEvent"] else "Data")
    by_name = {r["eventName"]: r for r in records}
    put = by_name["PutObject"]
    caller = next(r for r in records if r["userIdentity"]["type"] == "AssumedRole")["userIdentity"]
    assert caller["arn"] == "arn:aws:sts::111122223333:assumed-role/thumbnailer-exec/thumbnailer"
    assert caller["principalId"].startswith("AROA") and caller["principalId"].endswith(
        ":thumbnailer"
    )
    assert caller["accessKeyId"].startswith("ASIA")
    assert caller["sessionContext"]["sessionIssuer"]["userName"] == "thumbnailer-exec"
    assert {"bucketName", "key"} <= put["requestParameters"].keys()
    invoke = by_name["Invoke"]
    assert invoke["userIdentity"] == {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}
    assert invoke["requestParameters"]["sourceArn"] == "arn:aws:s3:::uploads"
    assert invoke["resources"][0]["ARN"] == topo.arn("fn:thumbnailer")
    create = by_name["CreateFunction20150331"]
    assert create["requestParameters"]["role"].endswith(":role/thumbnailer-exec")
    note = by_name["PutBucketNotification"]["requestParameters"]["NotificationConfiguration"]
    assert note["CloudFunctionConfiguration"]["CloudFunction"] == topo.arn("fn:thumbnailer")


def test_setup_and_data_events_carry_design_field_paths() -> None:
    def names(name: str) -> dict[str, dict[str, Any]]:
        sim = simulate(load_topology(TOPOLOGIES / f"{name}.yaml"))
        return {r.record["eventName"]: r.record for r in sim.records}

    sqs = names("disabled-mapping")
    mapping = [
        r.record
        for r in simulate(load_topology(TOPOLOGIES / "disabled-mapping.yaml")).records
        if r.record["eventName"] == "CreateEventSourceMapping20150331"
    ]
    assert sorted(m["requestParameters"]["enabled"] for m in mapping) == [False, True]
    assert all(m["responseElements"]["uUID"] for m in mapping)
    assert sqs["SendMessage"]["requestParameters"]["queueUrl"].startswith("https://sqs.")
    assert names("sns-loop")["Publish"]["requestParameters"]["topicArn"].startswith("arn:aws:sns:")
    assert names("sns-loop")["Subscribe"]["requestParameters"]["protocol"] == "lambda"
    ddb = names("dynamodb-stream-loop")
    assert ddb["PutItem"]["requestParameters"]["tableName"] == "orders"
    assert (
        "/stream/" in ddb["CreateEventSourceMapping20150331"]["requestParameters"]["eventSourceArn"]
    )
    assert names("kinesis-loop")["PutRecord"]["requestParameters"]["streamName"] == "clicks"
    bus = names("eventbridge-loop")
    assert bus["PutEvents"]["requestParameters"]["entries"][0]["eventBusName"] == "orders-bus"
    assert bus["PutTargets"]["requestParameters"]["targets"][0]["arn"].endswith(":function:router")
    assert bus["PutRule"]["requestParameters"]["eventBusName"] == "orders-bus"
    invoke = names("lambda-mutual-recursion")["Invoke"]
    assert invoke["userIdentity"]["type"] in {"AssumedRole", "IAMUser"}
    busy = names("busy-pipeline")
    config = busy["PutFunctionEventInvokeConfig"]["requestParameters"]["destinationConfig"]
    assert config["onFailure"]["destination"].endswith(":dead-letters")


@pytest.mark.parametrize("name", ["s3-prefix-near-miss", "s3-suffix-near-miss"])
def test_near_miss_writes_never_match_the_filter(name: str) -> None:
    topo = load_topology(TOPOLOGIES / f"{name}.yaml")
    (note,) = [t for t in topo.triggers if isinstance(t, S3Notification)]
    sim = simulate(topo)
    function_puts = [
        r.record
        for r in sim.records
        if r.record["eventName"] == "PutObject"
        and r.record["userIdentity"]["type"] == "AssumedRole"
    ]
    user_puts = [
        r.record
        for r in sim.records
        if r.record["eventName"] == "PutObject" and r.record["userIdentity"]["type"] == "IAMUser"
    ]
    assert function_puts and user_puts
    assert all(r["requestParameters"]["bucketName"] == note.bucket for r in function_puts)
    assert not any(
        note.matches(r["requestParameters"]["key"], "ObjectCreated:Put") for r in function_puts
    )
    assert all(note.matches(r["requestParameters"]["key"], "ObjectCreated:Put") for r in user_puts)
    # one run per seed: nothing the function wrote triggered it again
    assert sum(sim.invocations.values()) == len(user_puts)


def test_ground_truth_third_traversal_exists_for_every_expected_loop() -> None:
    for path in sorted(TOPOLOGIES.glob("*.yaml")):
        topo = load_topology(path)
        sim = simulate(topo)
        assert len(sim.truth) == len(topo.expected(inventory=True).loops)
        start = topo.traffic.start.timestamp()
        for truth in sim.truth:
            assert truth.observed_edges, path.name
            assert truth.traversals >= 5, path.name
            assert truth.third_traversal_at is not None, path.name
            assert start <= truth.third_traversal_at <= start + topo.traffic.duration


def test_guarded_writeback_runs_twice_per_seed() -> None:
    topo = load_topology(TOPOLOGIES / "s3-guarded-writeback.yaml")
    sim = simulate(topo)
    seeds = [r for r in sim.records if r.record["userIdentity"]["type"] == "IAMUser"]
    seeds = [r for r in seeds if r.record["eventName"] == "PutObject"]
    invokes = [r for r in sim.records if r.record["eventName"] == "Invoke"]
    writes = [r for r in sim.records if r.record["userIdentity"]["type"] == "AssumedRole"]
    assert len(seeds) >= 3
    assert len(invokes) == 2 * len(seeds) == sum(sim.invocations.values())
    assert len(writes) == len(seeds)  # gain = writes / invocations = 0.5
    assert all("sourceArn" in r.record["requestParameters"] for r in invokes)


def test_max_events_bounds_a_loop() -> None:
    topo = load_topology(TOPOLOGIES / "s3-self-loop.yaml")
    from dataclasses import replace

    small = replace(topo, traffic=replace(topo.traffic, max_events=50))
    sim = simulate(small)
    assert sim.truncated
    assert len(sim.records) + len(sim.invocation_events) == 50


def test_start_and_account_overrides_move_the_simulation(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    topo = load_topology(TOPOLOGIES / "s3-self-loop.yaml")
    start = datetime(2023, 7, 10, 12, 0, tzinfo=UTC)
    result = write_simulation(topo, tmp_path, start=start, account="218007301253")
    assert result.topology.account == "218007301253"
    assert result.first_time < start < result.last_time
    records = read_records(list(result.files))
    assert {r["recipientAccountId"] for r in records} == {"218007301253"}
    assert min(r["eventTime"] for r in records).startswith("2023-07-10T11:59")
    with pytest.raises(ValueError, match="timezone"):
        write_simulation(topo, tmp_path, start=datetime(2023, 7, 10, 12, 0))


def test_invocation_events_follow_the_schema(tmp_path: Path) -> None:
    topo = load_topology(TOPOLOGIES / "kinesis-loop.yaml")
    result = write_simulation(topo, tmp_path)
    assert result.invocation_file is not None
    lines = gzip.decompress(result.invocation_file.read_bytes()).decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == result.invocation_events > 0
    for e in events:
        assert set(e) == {"kind", "time", "function", "request_id", "source", "trace"}
        assert e["kind"] == "lambda.invocation"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"])
        assert e["source"] == topo.arn("kinesis:clicks")
