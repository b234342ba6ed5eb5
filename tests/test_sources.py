"""Sources (DESIGN §3): every input form delivered in order; damage reported, never raised."""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loopwatch.events import sources
from loopwatch.events.sources import Chunk, SourceError, SourceUnavailable, plan
from loopwatch.testing.aws import MotoServer, moto_server
from loopwatch.testing.records import LAMBDA, S3, SQS, assumed_role, invocation, record, trail_file

ROLE = assumed_role("worker-role", "worker")


def records(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        record(SQS, "SendMessage", {"queueUrl": f"q{i}"}, id=f"id-{i}")
        for i in range(start, start + n)
    ]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def trail_gz(recs: list[dict[str, Any]]) -> bytes:
    return gzip.compress(orjson.dumps(trail_file(*recs)))


def jsonl(objs: list[Any]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def ids(chunks: list[Chunk]) -> list[str]:
    return [
        o["eventID"] for c in chunks for o in c.objects if isinstance(o, dict) and "eventID" in o
    ]


def errors(chunks: list[Chunk]) -> list[SourceError]:
    return [e for c in chunks for e in c.errors]


# --- folders ---------------------------------------------------------------------


def test_folder_trees_are_walked_in_sorted_order(tmp_path: Path) -> None:
    acct = tmp_path / "AWSLogs" / "111122223333"
    day = acct / "CloudTrail" / "us-east-1" / "2026" / "10" / "05"
    org = (
        tmp_path
        / "AWSLogs"
        / "o-a1b2c3d4e5"
        / "444455556666"
        / "CloudTrail"
        / "eu-west-1"
        / "2026"
        / "10"
        / "05"
    )
    b = write(
        day / "111122223333_CloudTrail_us-east-1_20261005T1405Z_b.json.gz", trail_gz(records(2, 2))
    )
    a = write(
        day / "111122223333_CloudTrail_us-east-1_20261005T1400Z_a.json.gz", trail_gz(records(2, 0))
    )
    c = write(
        org / "444455556666_CloudTrail_eu-west-1_20261005T1400Z_c.json",
        orjson.dumps(trail_file(*records(1, 4))),
    )
    d = write(
        tmp_path / "probe" / "invocations.jsonl",
        jsonl([invocation("arn:aws:lambda:us-east-1:1:function:f")]),
    )
    # Not logs: digests, other files.
    write(
        acct / "CloudTrail-Digest" / "us-east-1" / "digest.json.gz",
        gzip.compress(b'{"awsAccountId": "1"}'),
    )
    write(day / "README.txt", b"hello")

    source_plan = plan([str(tmp_path)])
    chunks = list(source_plan.chunks())
    assert [c.source for c in chunks] == [str(a), str(b), str(c), str(d)]
    assert ids(chunks) == [f"id-{i}" for i in range(5)]
    assert errors(chunks) == []
    assert source_plan.total_bytes == sum(p.stat().st_size for p in (a, b, c, d))
    assert [c.size for c in chunks] == [p.stat().st_size for p in (a, b, c, d)]


def test_named_files_are_read_whatever_their_name_and_only_once(tmp_path: Path) -> None:
    log = write(tmp_path / "logs" / "one.json.gz", trail_gz(records(1)))
    odd = write(tmp_path / "export.log", jsonl(records(1, 1)))
    chunks = list(plan([str(tmp_path / "logs"), str(log), str(odd)]).chunks())
    assert [c.source for c in chunks] == [str(log), str(odd)]
    assert ids(chunks) == ["id-0", "id-1"]


def test_gzip_is_recognised_by_its_magic_bytes(tmp_path: Path) -> None:
    zipped = write(tmp_path / "a.json", trail_gz(records(1)))
    plain = write(tmp_path / "b.json.gz", orjson.dumps(trail_file(*records(1, 1))))
    two_members = write(
        tmp_path / "c.jsonl.gz",
        gzip.compress(jsonl(records(1, 2))) + gzip.compress(jsonl(records(1, 3))),
    )
    chunks = list(plan([str(zipped), str(plain), str(two_members)]).chunks())
    assert ids(chunks) == ["id-0", "id-1", "id-2", "id-3"]
    assert errors(chunks) == []


# --- bad files -------------------------------------------------------------------


def test_every_bad_file_is_reported_and_good_neighbours_delivered(tmp_path: Path) -> None:
    good_doc = trail_gz(records(3, 0))
    bad = {
        "b-truncated.json.gz": good_doc[: len(good_doc) // 2],
        "c-corrupt.json.gz": good_doc[:10] + b"\x00" * 20 + good_doc[30:],
        "d-not-json.json": b"this is not json\n",
        "e-no-records.json": b'{"logs": []}',
        "f-records-not-list.json": b'{"Records": {"a": 1}}',
        "g-empty.json": b"",
        "h-empty.jsonl.gz": gzip.compress(b""),
        "i-bad-lines.jsonl": jsonl(records(1, 10))[:-1]
        + b"\n{oops\n\n"
        + jsonl(records(1, 11))
        + b"nope\n",
    }
    write(tmp_path / "a-good.json.gz", good_doc)
    for name, data in bad.items():
        write(tmp_path / name, data)
    write(tmp_path / "z-good.jsonl", jsonl(records(2, 20)))
    (tmp_path / "j-dangling.json").symlink_to(tmp_path / "missing.json")

    chunks = list(plan([str(tmp_path)]).chunks())
    assert ids(chunks) == ["id-0", "id-1", "id-2", "id-10", "id-11", "id-20", "id-21"]
    reasons = {Path(e.source).name: e.reason for e in errors(chunks)}
    assert set(reasons) == {
        "b-truncated.json.gz",
        "c-corrupt.json.gz",
        "d-not-json.json",
        "e-no-records.json",
        "f-records-not-list.json",
        "i-bad-lines.jsonl",
        "j-dangling.json",
    }
    assert reasons["b-truncated.json.gz"] == "truncated gzip"
    assert reasons["c-corrupt.json.gz"].startswith("corrupt gzip")
    assert reasons["d-not-json.json"].startswith("not JSON")
    assert reasons["e-no-records.json"] == "not a CloudTrail log file: no Records list"
    assert reasons["f-records-not-list.json"] == "Records is not a list but dict"
    assert reasons["i-bad-lines.jsonl"].startswith("2 lines are not JSON (first: line 2: ")
    assert reasons["j-dangling.json"] == "No such file or directory"
    bad_lines = next(c for c in chunks if c.source.endswith("i-bad-lines.jsonl"))
    assert (bad_lines.malformed, len(bad_lines.objects)) == (2, 2)


def test_truncated_jsonl_gz_keeps_its_complete_lines(tmp_path: Path) -> None:
    lines = jsonl(records(50))
    data = gzip.compress(lines)
    cut = write(tmp_path / "cut.jsonl.gz", data[: len(data) * 2 // 3])
    (chunk,) = plan([str(cut)]).chunks()
    assert 0 < len(chunk.objects) < 50
    assert ids([chunk]) == [f"id-{i}" for i in range(len(chunk.objects))]
    assert chunk.malformed == 0
    (error,) = chunk.errors
    assert error == SourceError(
        str(cut), f"truncated gzip; kept the {len(chunk.objects)} complete lines before it"
    )


def test_a_file_that_vanishes_after_planning_is_reported(tmp_path: Path) -> None:
    gone = write(tmp_path / "gone.json", orjson.dumps(trail_file()))
    kept = write(tmp_path / "kept.json", orjson.dumps(trail_file(*records(1))))
    source_plan = plan([str(tmp_path)])
    gone.unlink()
    chunks = list(source_plan.chunks())
    assert [c.source for c in chunks] == [str(gone), str(kept)]
    assert errors(chunks) == [SourceError(str(gone), "No such file or directory")]
    assert ids(chunks) == ["id-0"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_files_and_folders(tmp_path: Path) -> None:
    secret = write(tmp_path / "logs" / "secret.json", orjson.dumps(trail_file()))
    write(tmp_path / "logs" / "open.json", orjson.dumps(trail_file(*records(1))))
    locked = tmp_path / "logs" / "locked"
    locked.mkdir()
    secret.chmod(0)
    locked.chmod(0)
    try:
        chunks = list(plan([str(tmp_path / "logs")]).chunks())
        assert ids(chunks) == ["id-0"]
        assert {e.source for e in errors(chunks)} == {str(locked), str(secret)}
        with pytest.raises(SourceUnavailable):
            plan([str(secret)])
        with pytest.raises(SourceUnavailable):
            plan([str(locked)])
    finally:
        secret.chmod(0o644)
        locked.chmod(0o755)


def test_a_missing_source_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="no-such"):
        plan([str(tmp_path / "no-such.json")])


# --- stdin -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        orjson.dumps(trail_file(*records(2))),
        trail_gz(records(2)),
        jsonl(records(2)),
        gzip.compress(jsonl(records(2))),
        orjson.dumps(records(2)),
    ],
    ids=["cloudtrail", "cloudtrail-gz", "jsonl", "jsonl-gz", "list"],
)
def test_stdin_is_sniffed(data: bytes) -> None:
    source_plan = plan(["-"], stdin=io.BytesIO(data))
    (chunk,) = source_plan.chunks()
    assert chunk.source == "-"
    assert ids([chunk]) == ["id-0", "id-1"]
    assert chunk.errors == ()
    assert chunk.size == len(data)


def test_stdin_single_object_and_bad_lines() -> None:
    (one,) = plan(
        ["-"], stdin=io.BytesIO(orjson.dumps(invocation("arn:aws:lambda:r:1:function:f")))
    ).chunks()
    assert len(one.objects) == 1
    (mixed,) = plan(["-"], stdin=io.BytesIO(jsonl(records(1)) + b"garbage\n")).chunks()
    assert (len(mixed.objects), mixed.malformed) == (1, 1)
    assert mixed.errors == (SourceError("-", mixed.errors[0].reason),)
    assert mixed.errors[0].reason.startswith("1 line is not JSON (first: line 2: ")
    (empty,) = plan(["-"], stdin=io.BytesIO(b"")).chunks()
    assert (empty.objects, empty.errors) == ([], ())


# --- S3 --------------------------------------------------------------------------

BUCKET = "org-trail-logs"
PREFIX = "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2026/10/05/"


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def bucket(aws: MotoServer) -> Iterator[Any]:
    s3 = aws.s3()
    s3.create_bucket(Bucket=BUCKET)
    yield s3
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def test_s3_prefix_is_listed_and_read(bucket: Any) -> None:
    first, second = trail_gz(records(2)), trail_gz(records(1, 2))
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "b_20261005T1405Z.json.gz", Body=second)
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "a_20261005T1400Z.json.gz", Body=first)
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "c_bad.json.gz", Body=first[:40])
    bucket.put_object(
        Bucket=BUCKET,
        Key="AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail-Digest/x.json.gz",
        Body=b"{}",
    )
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "notes.txt", Body=b"hi")

    source_plan = plan([f"s3://{BUCKET}/AWSLogs/"], s3_client=bucket)
    assert source_plan.total_bytes == len(first) + len(second) + 40
    chunks = list(source_plan.chunks())
    assert [c.source for c in chunks] == [
        f"s3://{BUCKET}/{PREFIX}a_20261005T1400Z.json.gz",
        f"s3://{BUCKET}/{PREFIX}b_20261005T1405Z.json.gz",
        f"s3://{BUCKET}/{PREFIX}c_bad.json.gz",
    ]
    assert ids(chunks) == ["id-0", "id-1", "id-2"]
    assert errors(chunks) == [SourceError(f"s3://{BUCKET}/{PREFIX}c_bad.json.gz", "truncated gzip")]


def test_s3_missing_bucket_is_unavailable(aws: MotoServer) -> None:
    with pytest.raises(SourceUnavailable, match="NoSuchBucket"):
        plan(["s3://no-such-bucket-here/AWSLogs/"], s3_client=aws.s3())


def test_s3_client_is_made_from_the_environment_only_when_needed(
    bucket: Any, aws: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bucket.put_object(Bucket=BUCKET, Key=PREFIX + "a.json.gz", Body=trail_gz(records(1)))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    chunks = list(plan([f"s3://{BUCKET}"]).chunks())
    assert ids(chunks) == ["id-0"]

    import boto3

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("no s3:// source, no client")

    monkeypatch.setattr(boto3, "client", no_client)
    local = write(tmp_path / "a.json", orjson.dumps(trail_file()))
    assert [c.source for c in plan([str(local)]).chunks()] == [str(local)]


def test_objects_keep_their_file_order_for_replay(tmp_path: Path) -> None:
    mixed = [
        record(S3, "PutObject", {"bucketName": "b", "key": "k"}, identity=ROLE, id="z"),
        record(LAMBDA, "Invoke", {"functionName": "f"}, identity=ROLE, id="a"),
        record(SQS, "SendMessage", {"queueUrl": "q"}, id="m"),
    ]
    log = write(tmp_path / "x.json", orjson.dumps(trail_file(*mixed)))
    (chunk,) = plan([str(log)]).chunks()
    assert ids([chunk]) == ["z", "a", "m"]


def test_permission_errors_are_reported_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads everything, so the OS is made to refuse instead (same errors, same paths).
    logs = tmp_path / "logs"
    secret = write(logs / "secret.json", orjson.dumps(trail_file()))
    write(logs / "open.json", orjson.dumps(trail_file(*records(1))))
    (logs / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def open_(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "secret.json":
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(sources, "open", open_, raising=False)  # how sources reads a file
    chunks = list(plan([str(logs)]).chunks())
    assert ids(chunks) == ["id-0"]
    assert errors(chunks) == [  # walk order: a folder's files, then its subfolders
        SourceError(str(secret), "Permission denied"),
        SourceError(str(logs / "locked"), "Permission denied"),
    ]
    with pytest.raises(SourceUnavailable, match="Permission denied"):
        plan([str(logs / "locked")])
