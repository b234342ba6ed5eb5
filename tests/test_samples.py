"""Every published real record in ``../shared/data/cloudtrail-samples`` gives the facts its
SOURCES.md line implies.

The expected facts are written out by hand below, one entry per sample, from what each
record says and what SOURCES.md notes about it; nothing here is computed by the parser.
The samples are third-party data and stay outside the project: the test reads them in place
and is skipped when they are absent.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loopwatch.events.facts import (
    EVENT_SOURCE_MAPPING,
    S3_NOTIFICATION,
    BucketTriggersReplaced,
    Caller,
    Fact,
    FunctionDeclared,
    FunctionDeleted,
    Invoked,
    Trigger,
    TriggerAdded,
    Write,
)
from loopwatch.events.records import MalformedRecord, parse
from loopwatch.graph.identity import NOT_A_FUNCTION, PRESUMED, Identities

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cloudtrail-samples"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


STRATUS = "arn:aws:lambda:us-east-1:123837392027:function:stratus-red-team"
BOB_W2 = Caller("111122223333", "us-west-2", "users", "bob")
MUSIC = "arn:aws:dynamodb:us-west-2:123456789012:table/Music"  # the table's own account
SFN_FN = "arn:aws:lambda:us-east-1:012345679012:function:my-function-name"
JOHNDOE = Caller("111122223333", "us-east-1", "MyRole", "johndoe-session")
DEFAULT_BUS = "arn:aws:events:us-east-1:111122223333:event-bus/default"
NONE: tuple[Fact, ...] = ()

# ID -> (eventID, eventName, expected facts or the exception parsing must raise)
EXPECTED: dict[str, tuple[str | None, str, tuple[Fact, ...] | type[Exception]]] = {
    "R01": (
        "134ef1d9-d57e-4e3a-955a-b773468afca9",
        "DeleteFunction20150331",
        (FunctionDeleted(ts("2023-07-10T12:28:39Z"), f"{STRATUS}-backdoor-f-func"),),
    ),
    "R02": (
        "9e5d3ce3-eeb6-47a9-9d90-28ea4ff5d4c0",
        "DeleteFunction20150331",
        (FunctionDeleted(ts("2023-07-10T12:28:38Z"), f"{STRATUS}-olc-func-xhfgzaowxc"),),
    ),
    # A resource policy, not a trigger: nothing.
    "R03": ("b1f37249-bb39-4b9c-a302-e6d0f807d70c", "AddPermission20150331v2", NONE),
    "R04": (
        "2e15203f-d196-441a-adeb-794b195b4a28",
        "CreateFunction20150331",
        (
            FunctionDeclared(
                ts("2023-07-10T12:25:33Z"),
                f"{STRATUS}-backdoor-f-func",
                "arn:aws:iam::123837392027:role/stratus-red-team-backdoor-f-lambda",
            ),
        ),
    ),
    "R05": ("2b7c36ee-1525-45a4-b58a-dc1a828d2c7f", "CreateFunction20150331", NONE),  # failed
    "R06": (
        "31b7f7f7-356d-427d-84c2-5f91afccf1cf",
        "CreateFunction20150331",
        (
            FunctionDeclared(
                ts("2023-07-10T12:26:49Z"),
                f"{STRATUS}-olc-func-xhfgzaowxc",
                "arn:aws:iam::123837392027:role/stratus-red-team-olc-lambda-xhfgzaowxc",
            ),
        ),
    ),
    # Step Functions: an invocation by a state machine known only by its role; no write by
    # the random session.
    "R07": (
        "b1e55492-d8be-4b9a-b794-a8a0a28162f0",
        "Invoke",
        (
            Invoked(
                ts("2023-03-21T05:32:03Z"),
                SFN_FN,
                None,
                "states.amazonaws.com",
                "arn:aws:iam::012345679012:role/My-RoleName-1746R4C1N6UFS",
            ),
        ),
    ),
    # EventBridge: the rule my-rule-name-… of the default bus; the trigger is the bus.
    "R08": (
        "32321ee4-ffd9-4fae-9207-a9bb12efc18c",
        "Invoke",
        (
            Invoked(
                ts("2023-03-21T05:32:03Z"),
                SFN_FN,
                "arn:aws:events:us-east-1:012345679012:event-bus/default",
                "events.amazonaws.com",
            ),
        ),
    ),
    # The run of an async invoke already counted by its Invoke record.
    "R09": ("904d57aa-6ff8-43e0-9a78-a4ad67c32595", "InvokeExecution", NONE),
    "R10": (
        "41a7b514-4d6f-41bb-974c-2864dede35eb",
        "PutBucketNotification",
        (
            BucketTriggersReplaced(
                ts("2018-09-25T07:05:47Z"),
                "arn:aws:s3:::www.some-bucket.xyz",
                (
                    Trigger(
                        "s3:www.some-bucket.xyz:0",
                        "arn:aws:s3:::www.some-bucket.xyz",
                        "arn:aws:lambda:us-east-1:61*******47:function:test-s3-change-dev-hello",
                        S3_NOTIFICATION,
                        events=("s3:ObjectCreated:*",),
                        detail="cbf21635-380e-4a26-92e9-de9e32f4fe7d",
                    ),
                ),
            ),
        ),
    ),
    # An empty configuration: the bucket's notifications are removed.
    "R11": (
        "3fb71544-ab01-433b-94df-651b808348fe",
        "PutBucketNotification",
        (
            BucketTriggersReplaced(
                ts("2016-08-23T02:24:27Z"), "arn:aws:s3:::kjh-encryption-test1", ()
            ),
        ),
    ),
    "R12": (
        "a954451c-c2fc-4561-8aea-7a30ba1fdf52",
        "PutItem",
        (Write(ts("2019-01-19T15:41:54Z"), BOB_W2, MUSIC),),
    ),
    "R13": ("a954451c-c2fc-4561-8aea-7a30ba1fdf52", "UpdateItem", NONE),  # failed
    # Put + Update + Delete on Music (ConditionCheck writes nothing); record region us-west-1,
    # the table's ARN says us-west-2.
    "R14": (
        "4f1cc78b-5c94-4174-a6ad-3ee78605381c",
        "TransactWriteItems",
        (
            Write(
                ts("2020-09-03T21:48:12Z"),
                Caller("111122223333", "us-west-1", "users", "bob"),
                MUSIC,
                count=3,
            ),
        ),
    ),
    "R15": ("43e437b5-908a-46af-84e6-e27fffb9c5cd", "TransactWriteItems", NONE),  # failed
    "R16": ("0b5c4779-e169-4227-a1de-6ed01dd18ac7", "ExecuteStatement", NONE),  # a SELECT
    # An UPDATE and an INSERT INTO Music.
    "R17": (
        "f863f966-b741-4c36-b15e-f867e829035a",
        "BatchExecuteStatement",
        (Write(ts("2021-03-03T23:24:48Z"), BOB_W2, MUSIC, count=2),),
    ),
    "R18": ("30a20c8e-a3a1-4b07-9139-cd9cd73b5eb8", "StartExecution", NONE),  # an IAM user
    "R19": ("e92a3e85-8ecd-4d23-8074-843aabfe89bf", "GetFunction", NONE),  # failed
    "R20": (
        "20b84ce5-730f-482e-b2b2-e8fcc87ceb22",
        "DeleteFunction",
        (
            FunctionDeleted(
                ts("2015-03-18T19:04:42Z"),
                "arn:aws:lambda:us-east-1:999999999999:function:basic-node-task",
            ),
        ),
    ),
    # The role only in responseElements, the function named by its ARN.
    "R21": (
        "da929d96-8e20-475c-a810-973addd64769",
        "UpdateFunctionConfiguration20150331v2",
        (
            FunctionDeclared(
                ts("2024-07-30T21:57:20Z"),
                "arn:aws:lambda:eugov-eastcentral-1r:712967571683:function:"
                "stratus-red-team-lambda-layer-simpleLambda",
                "arn:aws:iam::712967571683:role/stratus-red-team-lambda-layer-lambda-role",
            ),
        ),
    ),
    "R22": ("b67a9bba-d9da-4980-bf74-baed881b117d", "AddPermission20150331v2", NONE),
    "R23": ("6829a09f-4a37-4ec7-86d2-e739f77a57f3", "PutObject", NONE),  # an IAM user
    "R24": ("0c06e2ff-5e88-44e6-a081-57871bbe770b", "CopyObject", NONE),  # an IAM user
    # An EC2 instance-profile session: a write fact; its caller is no function (below).
    "R25": (
        "4dfbb87b-9d53-4cbc-a013-b1544cea8c02",
        "Publish",
        (
            Write(
                ts("2024-10-30T20:41:38Z"),
                Caller(
                    "00000000000", "us-east-1", "private-ec2-instance-role", "i-0ddf9acf8eeb33959"
                ),
                "arn:aws:sns:us-east-1:00000000000:pwncloud-data-exfiltration",
            ),
        ),
    ),
    "R26": ("8c5abfc5-26d3-4ac1-beae-d2462f9d8d37", "Subscribe", NONE),  # email leaves AWS
    "R27": (
        "6642d073-04f9-474f-a31d-5ef412875c07",
        "CreateFunction20150331",
        (
            FunctionDeclared(
                ts("2024-09-11T09:29:33Z"),
                "arn:aws:lambda:us-east-1:1010101010101:function:cloudtrail-events-test",
                "arn:aws:iam::1010101010101:role/cloudtrail-events-test-lambda-fn",
            ),
        ),
    ),
    "R28": ("98675cf5-df23-4169-8411-58429782c464", "AddPermission20150331v2", NONE),
    "R29": ("49d14f36-6450-44a5-a501-b0fdcdfaeb98", "PutRule", NONE),  # no targets yet
    "R30": (
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE33333",
        "PutEvents",
        (Write(ts("2026-03-07T00:51:07Z"), JOHNDOE, DEFAULT_BUS, count=1),),
    ),
    "R31": (
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE66666",
        "PutEvents",
        (Write(ts("2026-03-07T00:51:06Z"), JOHNDOE, DEFAULT_BUS, count=1),),
    ),
    # filterCriteria {} (KMS-encrypted): no filter to show.
    "R32": (
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222",
        "CreateEventSourceMapping20150331",
        (
            TriggerAdded(
                ts("2024-05-09T21:05:41Z"),
                Trigger(
                    "a1b2c3d4-5678-90ab-cdef-EXAMPLEaaaaa",
                    "arn:aws:sqs:us-east-2:123456789012:example-queue",
                    "arn:aws:lambda:us-east-2:123456789012:function:example-function",
                    EVENT_SOURCE_MAPPING,
                ),
            ),
        ),
    ),
    "R33": (
        "3074546e-1bfa-4973-8502-b1bb4d0bda1a",
        "PutObject",
        (
            Write(
                ts("2020-05-22T08:38:05Z"),
                Caller("123456789012", "eu-west-1", "SomeRole", "user-SomeRole"),
                "arn:aws:s3:::BUCKETNAME",
                key="OBJECTKEY",
                s3_event="ObjectCreated:Put",
            ),
        ),
    ),
    # Abridged by their sources: no eventTime, not complete records.
    "N01": (None, "DeleteObject", MalformedRecord),
    "N02": (None, "CopyObject", MalformedRecord),
    "N03": (None, "DeleteObjects", MalformedRecord),
    "N04": (
        "98c735d8-70e0-4644-9432-b6ced4d791b1",
        "SendMessage",
        (
            Write(
                ts("2023-11-07T23:59:11Z"),
                Caller("123456789012", "ap-southeast-4", "RoleToBeAssumed", "SessionName"),
                "arn:aws:sqs:ap-southeast-4:123456789012:MyQueue",
            ),
        ),
    ),
}

# What each writer is taken for with nothing known: people and CI look like functions and
# stay presumed (so nothing resting on them is confirmed); an instance profile is no function.
WRITER_KIND = {
    "R12": PRESUMED,
    "R14": PRESUMED,
    "R17": PRESUMED,
    "R25": NOT_A_FUNCTION,
    "R30": PRESUMED,
    "R31": PRESUMED,
    "R33": PRESUMED,
    "N04": PRESUMED,
}


def _samples() -> dict[str, dict[str, Any]]:
    if not SAMPLES.is_dir():
        pytest.skip(f"third-party samples not present at {SAMPLES} (shared/data is not shipped)")
    found: dict[str, dict[str, Any]] = {}
    for prefix, name in (("R", "records.jsonl"), ("N", "records_nonverbatim.jsonl")):
        lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
        for n, line in enumerate((line for line in lines if line.strip()), start=1):
            found[f"{prefix}{n:02d}"] = json.loads(line)
    return found


def _sources() -> dict[str, tuple[str, str]]:
    """ID -> (eventSource, eventName) from SOURCES.md's table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in (SAMPLES / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0][:1] in ("R", "N") and cells[0][1:].isdigit():
            source, _, name = cells[1].partition(" / ")
            rows[cells[0]] = (source, name)
    return rows


def test_every_sample_is_in_the_table_and_matches_sources_md() -> None:
    samples = _samples()
    sources = _sources()
    assert set(samples) == set(EXPECTED) == set(sources)
    for sample_id, rec in samples.items():
        event_id, name, _ = EXPECTED[sample_id]
        assert (rec.get("eventSource"), rec.get("eventName")) == sources[sample_id], sample_id
        assert (rec.get("eventID"), rec.get("eventName")) == (event_id, name), sample_id


@pytest.mark.parametrize("sample_id", sorted(EXPECTED))
def test_sample_gives_its_facts(sample_id: str) -> None:
    rec = _samples()[sample_id]
    event_id, _, expected = EXPECTED[sample_id]
    if isinstance(expected, type):
        with pytest.raises(expected):
            parse(rec)
        return
    assert parse(rec) == (event_id, expected)


@pytest.mark.parametrize("sample_id", sorted(WRITER_KIND))
def test_sample_writers_identity(sample_id: str) -> None:
    (write,) = parse(_samples()[sample_id])[1]
    assert isinstance(write, Write)
    assert Identities().resolve(write.caller)[1] == WRITER_KIND[sample_id]
    # Once the account's functions are known (an inventory listing none of these sessions),
    # none of them is a function.
    ids = Identities()
    ids.know_all_functions(write.caller.account, [])
    assert ids.resolve(write.caller) == (None, NOT_A_FUNCTION)
