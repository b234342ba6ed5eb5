"""Identities cannot be forged into a throttle (DESIGN §4, §6). In enforce mode against the
emulator, none of the forgeries that once set ``payment-processor``'s reserved concurrency from
25 to 0 changes it; the genuine loop still does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopwatch.cli import main
from loopwatch.testing import records as r
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset

ACCOUNT = "123456789012"  # moto's default account
OTHER = "999988887777"
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
