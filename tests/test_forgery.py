"""Identities and envelopes cannot be forged into a throttle (DESIGN §4, §6; docs/trust.md). In
enforce mode against the emulator, none of the forgeries that once set ``payment-processor``'s
reserved concurrency from 25 to 0 changes it; the genuine loop still does. Custom EventBridge
events saying "AWS API Call via CloudTrail" are rejected with their reason, by replay and by
the worker on the real broker (dead-lettered), which still reads CloudTrail's own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE
from loopwatch.events.envelopes import NOT_AWS_SOURCE, OTHER_ACCOUNT
from loopwatch.service.ship import ship
from loopwatch.testing import records as r
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset
from loopwatch.testing.worker import InProcessWorker, running_worker, worker_settings

ACCOUNT = "123456789012"  # moto's default account
OTHER = "999988887777"
EVIL_APP_ACCOUNT = "111111111111"  # any account of the organisation, allowed events:PutEvents
NAME = "payment-processor"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}"
BUCKET = "payments"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoServer]:
    with moto_server() as server:
        reset(server)
        assert create_function(server, NAME, reserved=25) == FUNCTION
        point_at(server, monkeypatch)
        monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(tmp_path / "ledger.json"))
        monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
        yield server


def configuration() -> list[r.JSONObject]:
    """The real function (role ``pp-role``) and its trigger: every upload to the bucket."""
    return [
        r.create_function(NAME, "pp-role", time=r.at(-60), account=ACCOUNT),
        r.record(
            r.S3,
            "PutBucketNotification",
            {
                "bucketName": BUCKET,
                "NotificationConfiguration": {
                    "CloudFunctionConfiguration": {
                        "CloudFunction": FUNCTION,
                        "Event": "s3:ObjectCreated:*",
                    }
                },
            },
            time=r.at(-30),
            account=ACCOUNT,
        ),
    ]


def writes(identity: r.JSONObject, account: str = ACCOUNT) -> list[r.JSONObject]:
    return [
        r.record(
            r.S3,
            "PutObject",
            {"bucketName": BUCKET, "key": f"in/{i}.json"},
            identity=identity,
            time=r.at(10 + i),
            account=account,
        )
        for i in range(8)
    ]


def genuine_writes() -> list[r.JSONObject]:
    return writes(r.assumed_role("pp-role", NAME, account=ACCOUNT))


def custom_events(
    records: list[r.JSONObject], *, source: str = "evil.app", account: str = EVIL_APP_ACCOUNT
) -> list[r.JSONObject]:
    """``records`` as EventBridge delivers a custom event that says it is "AWS API Call via
    CloudTrail": PutEvents lets its caller choose the detail-type and the detail, but sets the
    account to the caller's and refuses ``aws.*`` sources."""
    return [{**r.eventbridge(x), "source": source, "account": account} for x in records]


def forged_loop() -> list[r.JSONObject]:
    """The notification and the function's writes: a confirmed active loop, if believed."""
    return [*configuration(), *genuine_writes()]


FORGERIES = {
    "a CI role's session named after the function": lambda: writes(
        r.assumed_role("ci-deployer", NAME, account=ACCOUNT)
    ),
    "the same role and session names from another account": lambda: writes(
        r.assumed_role("pp-role", NAME, account=OTHER), account=OTHER
    ),
    "an IAM user's Invoke naming the function as its own source": lambda: [
        r.record(
            r.LAMBDA,
            "Invoke",
            {"functionName": FUNCTION, "sourceArn": FUNCTION},
            identity=r.iam_user("mallory", account=ACCOUNT),
            time=r.at(10 + i),
            account=ACCOUNT,
            resources=[{"type": "AWS::Lambda::Function", "ARN": FUNCTION}],
        )
        for i in range(8)
    ],
    "invocation events whose source is the function itself": lambda: [
        r.invocation(FUNCTION, time=r.at(10 + i), source=FUNCTION) for i in range(8)
    ],
    "custom events from another account saying 'AWS API Call via CloudTrail'": lambda: (
        custom_events(forged_loop())
    ),
    "custom events put in the function's own account": lambda: custom_events(
        forged_loop(), account=ACCOUNT
    ),
    "envelopes whose account is not their records'": lambda: custom_events(
        forged_loop(), source="aws.s3"
    ),
}


def act(
    tmp_path: Path, records: list[r.JSONObject], capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    path = tmp_path / "trail.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in records))
    capsys.readouterr()
    main(["replay", "--act", "--throttle", "enforce", "--format", "json", str(path)])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forgery_never_throttles(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], forgery: str
) -> None:
    report = act(tmp_path, [*configuration(), *FORGERIES[forgery]()], capsys)
    assert reserved_concurrency(aws, FUNCTION) == 25
    assert not [loop for loop in report["loops"] if loop["status"] == "active"], report["loops"]


def test_the_genuine_loop_still_throttles_to_zero(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = writes(r.assumed_role("pp-role", NAME, account=ACCOUNT))
    forged = [f() for f in FORGERIES.values()]
    report = act(tmp_path, [*configuration(), *genuine, *(x for f in forged for x in f)], capsys)
    (loop,) = [loop for loop in report["loops"] if loop["status"] == "active"]
    assert loop["confirmed"] is True and FUNCTION in loop["functions"]
    assert reserved_concurrency(aws, FUNCTION) == 0


def test_forged_envelopes_are_rejected_with_their_reason(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    custom = custom_events(forged_loop())
    elsewhere = custom_events(forged_loop(), source="aws.s3")
    report = act(tmp_path, [*custom, *elsewhere], capsys)
    assert report["records"]["malformed"] == len(custom) + len(elsewhere)
    assert report["records"]["used"] == 0 and report["loops"] == []
    assert [e["reason"] for e in report["errors"]] == [
        f"{len(custom)} malformed records skipped: {NOT_AWS_SOURCE}",
        f"{len(elsewhere)} malformed records skipped: {OTHER_ACCOUNT}",
    ]
    assert reserved_concurrency(aws, FUNCTION) == 25


def test_the_genuine_loop_through_eventbridge_still_throttles_to_zero(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envelopes = [r.eventbridge(x) for x in forged_loop()]
    assert {e["source"] for e in envelopes} == {"aws.s3", "aws.lambda"}
    report = act(tmp_path, envelopes, capsys)
    assert report["records"]["malformed"] == 0, report["errors"]
    (loop,) = [loop for loop in report["loops"] if loop["status"] == "active"]
    assert loop["confirmed"] is True and FUNCTION in loop["functions"]
    assert reserved_concurrency(aws, FUNCTION) == 0


def test_the_worker_dead_letters_forged_envelopes_and_reads_cloudtrails(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data")
    forged, genuine = tmp_path / "forged.jsonl", tmp_path / "genuine.jsonl"
    custom = custom_events(forged_loop())
    forged.write_bytes(b"\n".join(orjson.dumps(x) for x in custom))
    genuine.write_bytes(b"\n".join(orjson.dumps(r.eventbridge(x)) for x in forged_loop()))
    with running_worker(settings, kafka_broker) as worker:
        asyncio.run(ship([str(forged)], settings))  # keyed by the account the records name
        worker.wait_applied(kafka_broker)
        assert made(worker) == 0 and worker.service.processor.open_incidents() == []
        letters = [
            orjson.loads(m.value) for m in kafka_broker.read_to_end(settings.topic("deadletter"))
        ]
        assert {(d["reason"], d["key"]) for d in letters} == {(NOT_AWS_SOURCE, ACCOUNT)}
        assert sum(d.get("count", 1) for d in letters) == len(custom)
        assert {d["record"]["source"] for d in letters} == {"evil.app"}

        asyncio.run(ship([str(genuine)], settings))
        worker.wait_applied(kafka_broker)
        findings = worker.read_findings(kafka_broker)
    loops = [f for f in findings if f.get("kind") == "loop"]
    assert ACTIVE in {f["status"] for f in loops} and all(FUNCTION in f["functions"] for f in loops)


def made(worker: InProcessWorker) -> int:
    """Findings the worker has made so far (counted on its own loop)."""

    async def count() -> int:
        return sum(worker.service.processor.metrics.findings.values())

    return worker.call(count)
