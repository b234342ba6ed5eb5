"""Background noise in simulated trails: realistic management events that change nothing."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from loopwatch.events.records import parse
from loopwatch.replay import replay
from loopwatch.testing.data import invictus_dir, shared_data_dir
from loopwatch.topology import resolve_topology, write_simulation

FILE_NAME = re.compile(
    r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
COMMON = {
    "AssumeRole",
    "GetCallerIdentity",
    "DescribeInstances",
    "ListBuckets",
    "GetBucketAcl",
    "Decrypt",
    "GenerateDataKey",
    "DescribeLogStreams",
    "PutMetricData",
}


def test_noise_changes_no_finding_and_is_all_skipped(tmp_path: Path) -> None:
    topology = resolve_topology("multi-hop-s3-sqs")
    quiet = write_simulation(topology, tmp_path / "quiet")
    noisy = write_simulation(topology, tmp_path / "noisy", noise=1500)
    a, b = replay([str(tmp_path / "quiet")]), replay([str(tmp_path / "noisy")])

    assert noisy.noise == 1500 and noisy.records == quiet.records + 1500
    assert b.counts.used == a.counts.used
    # Every noise record is read and skipped (a repeated one skipped again: only records that
    # yield facts are deduplicated).
    assert b.counts.skipped >= a.counts.skipped + 1500
    assert b.counts.malformed == 0 and b.errors == []
    assert [(x.cycle, x.status, x.detected_at, x.traversals) for x in b.loops] == [
        (x.cycle, x.status, x.detected_at, x.traversals) for x in a.loops
    ]
    assert a.loops  # there is a loop to lose
    assert b.runaway == a.runaway


def test_noise_looks_like_a_real_trail(tmp_path: Path) -> None:
    topology = resolve_topology("s3-self-loop")
    quiet = write_simulation(topology, tmp_path / "quiet")
    noisy = write_simulation(topology, tmp_path / "noisy", noise=2000)
    own = {r["eventID"] for r in quiet.distinct_records()}
    records = noisy.distinct_records()
    noise = [r for r in records if r["eventID"] not in own]

    # The topology's own records are untouched by the noise mixed in beside them.
    assert len(noise) == 2000 and own <= {r["eventID"] for r in records}
    names = Counter(r["eventName"] for r in noise)
    assert set(names) >= COMMON and len(names) >= 12
    assert {r["userIdentity"]["type"] for r in noise} == {"IAMUser", "AssumedRole", "AWSService"}
    assert max(names.values()) < 0.25 * len(noise)  # a mix, not one call repeated
    refused = [r for r in noise if r.get("errorCode")]
    assert 0 < len(refused) < 0.1 * len(noise)
    # Spread over the same span as the loop's traffic, not bunched at one end.
    times = sorted(r["eventTime"] for r in noise)
    own_times = sorted(r["eventTime"] for r in quiet.distinct_records())
    assert own_times[0] <= times[0] and times[-1] <= own_times[-1]
    middle = own_times[len(own_times) // 2]
    assert 0.2 < sum(t < middle for t in times) / len(times) < 0.8
    for record in noise:
        assert parse(record)[1] == (), record["eventName"]  # nothing loopwatch reads
        assert record["recipientAccountId"] == topology.account
        assert record["awsRegion"] == topology.region
        assert record["eventCategory"] == "Management" and record["eventType"] == "AwsApiCall"


def test_noise_goes_into_the_same_files_and_is_deterministic(tmp_path: Path) -> None:
    topology = resolve_topology("s3-self-loop")
    first = write_simulation(topology, tmp_path / "a", noise=500)
    second = write_simulation(topology, tmp_path / "b", noise=500)
    assert [p.relative_to(tmp_path / "a") for p in first.files] == [
        p.relative_to(tmp_path / "b") for p in second.files
    ]
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in second.files]
    for path in first.files:
        rel = path.relative_to(tmp_path / "a").parts
        assert rel[:4] == ("AWSLogs", topology.account, "CloudTrail", topology.region)
        assert FILE_NAME.match(path.name)
        batch = orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
        names = {r["eventName"] for r in batch}
        assert names & COMMON and names - COMMON  # noise and the loop share each file


def test_shared_data_is_found_beside_the_repository_or_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\n")
    anchor = repo / "tests" / "test_x.py"
    assert shared_data_dir(anchor, "set") == tmp_path / "shared" / "data" / "set"
    with pytest.raises(pytest.skip.Exception, match="not found"):
        invictus_dir(anchor)
    real = tmp_path / "shared" / "data" / "cloudtrail-invictus"
    real.mkdir(parents=True)
    (real / "one.json").write_text('{"Records": []}')
    assert invictus_dir(anchor) == real
    with pytest.raises(ValueError, match="not inside a repository"):
        shared_data_dir(Path("/"), "set")
