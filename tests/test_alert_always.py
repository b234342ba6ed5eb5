"""The alert always goes out (DESIGN §6): a ledger that cannot be written or read, a throttle
call AWS denies, an emulator that is down — each alert is sent and its action says what
failed, and `replay --act` still prints its report; a worker goes on alerting, and throttles
again once its ledger is fixed. A real local receiver, moto and the real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE, OPENED, LoopFinding, finding_json
from loopwatch.net import free_port
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import create_function, iam_enforced, reserved_concurrency, reset
from loopwatch.testing.worker import enforcing_settings, running_worker
from loopwatch.topology import resolve_topology, write_simulation
from loopwatch.trust import RecordKey, key_from_settings, seal

ACCOUNT = "123456789012"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("sim")
    write_simulation(resolve_topology("sqs-loop"), out, account=ACCOUNT)
    return str(out)


@pytest.fixture
def aws(server: MotoServer, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """AWS at the emulator (`worker` at reserved concurrency 25); the receiver answers."""
    reset(server)
    create_function(server, "worker", reserved=25)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    point_at(server, monkeypatch)
    return server


@pytest.fixture
def env(
    aws: MotoServer, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """And the `loopwatch` commands' settings: alerts at the receiver, a fresh ledger."""
    for name, value in {
        "LOOPWATCH_ALERT_URLS": httpserver.url_for("/hook"),
        "LOOPWATCH_ALERT_SECRET": "always-secret",
        "LOOPWATCH_LEDGER_PATH": str(tmp_path / "ledger.json"),
        "LOOPWATCH_THROTTLE_DEADLINE_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
    return monkeypatch


def act(logs: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    """`replay --act --throttle enforce --format json`: its report (exit 1: the loop is
    active, whatever the actions did) and its stderr."""
    capsys.readouterr()
    assert main(["replay", "--act", "--throttle", "enforce", "--format", "json", logs]) == 1
    captured = capsys.readouterr()
    report: dict[str, Any] = json.loads(captured.out)
    assert [loop["status"] for loop in report["loops"]] == ["active"]
    return report, captured.err


def the_alert(httpserver: HTTPServer) -> dict[str, Any]:
    (request,) = [r for r, _ in httpserver.log]
    body: dict[str, Any] = json.loads(request.get_data())
    return body


def outcome_of(alert: dict[str, Any]) -> dict[str, Any]:
    (outcome,) = alert["action"]["outcomes"]
    assert outcome["function"] == FUNCTION
    return outcome


def test_an_unwritable_ledger_throttles_nothing_and_the_alert_says_so(
    env: pytest.MonkeyPatch,
    logs: str,
    server: MotoServer,
    httpserver: HTTPServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    env.setenv("LOOPWATCH_LEDGER_PATH", str(tmp_path / "not-a-folder" / "ledger.json"))

    report, err = act(logs, capsys)

    alert = the_alert(httpserver)
    assert (alert["state"], alert["incident"]) == ("opened", report["loops"][0]["id"])
    outcome = outcome_of(alert)
    assert outcome["result"] == "failed"
    assert outcome["reason"].startswith("not throttled: cannot write the actions ledger")
    assert "loopwatch changes only what it can record to give back" in outcome["reason"]
    # Without a record of the 25 it could not be given back, so AWS was not changed.
    assert reserved_concurrency(server, FUNCTION) == 25
    assert "sent to 1 sink(s)" in err and "failed worker: not throttled" in err


def test_an_unreadable_ledger_throttles_nothing_and_the_alert_says_so(
    env: pytest.MonkeyPatch,
    logs: str,
    server: MotoServer,
    httpserver: HTTPServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "ledger.json").write_text("{not json")

    act(logs, capsys)

    outcome = outcome_of(the_alert(httpserver))
    assert outcome["result"] == "failed"
    assert outcome["reason"].startswith(
        f"not throttled: cannot read the actions ledger {tmp_path / 'ledger.json'}"
    )
    assert reserved_concurrency(server, FUNCTION) == 25
    assert (tmp_path / "ledger.json").read_text() == "{not json"  # left for a person to fix


def test_a_denied_throttle_call_is_in_the_alert(
    env: pytest.MonkeyPatch,
    logs: str,
    server: MotoServer,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="nobody")  # no policy: every Lambda call is denied
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    env.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    env.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    env.delenv("AWS_SESSION_TOKEN", raising=False)

    with iam_enforced(server):
        act(logs, capsys)

    outcome = outcome_of(the_alert(httpserver))
    assert (outcome["result"], outcome["reason"]) == (
        "failed",
        f"AccessDenied: missing lambda:GetFunctionConcurrency on {FUNCTION}",
    )
    assert reserved_concurrency(server, FUNCTION) == 25


def test_an_emulator_that_is_down_is_in_the_alert_and_the_report_still_prints(
    env: pytest.MonkeyPatch,
    logs: str,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens

    report, err = act(logs, capsys)

    outcome = outcome_of(the_alert(httpserver))
    assert outcome["result"] == "failed"
    assert outcome["reason"].startswith(
        f"ConnectionError: lambda:GetFunctionConcurrency on {FUNCTION}"
    )
    assert "gave up after" in outcome["reason"]
    assert report["records"]["used"] > 0 and "failed worker: ConnectionError" in err


def signed_loop(incident: str, key: RecordKey) -> tuple[bytes, bytes]:
    """A finding as detection publishes it: an active, confirmed loop through `worker`, its
    records a minute old (fresh enough to act on: LOOPWATCH_ACT_MAX_AGE_SECONDS)."""
    t = float(int(time.time()) - 60)
    loop = LoopFinding(
        incident, OPENED, ACTIVE, ("arn:aws:sqs:us-east-1:123456789012:jobs", FUNCTION),
        (FUNCTION,), t - 9, t, t, 3, 1.0, False,
        "function worker sends to queue jobs, which invokes it", "send results elsewhere",
    )  # fmt: skip
    return incident.encode(), seal(finding_json(loop, ACCOUNT), key)


def test_a_worker_with_an_unreadable_ledger_alerts_says_why_and_throttles_once_it_is_fixed(
    kafka_broker: Broker, aws: MotoServer, httpserver: HTTPServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.json"
    ledger.write_text("{not json")
    settings = enforcing_settings(kafka_broker, tmp_path, httpserver.url_for("/hook"))
    key = key_from_settings(settings)
    assert key is not None

    with running_worker(settings, kafka_broker) as worker:

        def alerts() -> list[dict[str, Any]]:
            """Every alert the receiver will get for the findings produced so far."""
            worker.wait_acted(kafka_broker)
            return [json.loads(r.get_data()) for r, _ in httpserver.log]

        kafka_broker.produce(settings.topic("findings"), [signed_loop("inc-a", key)])
        (first,) = alerts()
        outcome = outcome_of(first)
        assert outcome["result"] == "failed"
        assert outcome["reason"].startswith(
            f"not throttled: cannot read the actions ledger {ledger}"
        )
        assert reserved_concurrency(aws, FUNCTION) == 25

        ledger.unlink()  # a person fixes it; the worker needs no restart
        kafka_broker.produce(settings.topic("findings"), [signed_loop("inc-b", key)])
        _, second = alerts()
        assert second["incident"] == "inc-b"
        assert (outcome_of(second)["result"], outcome_of(second)["previous"]) == ("throttled", 25)
        assert reserved_concurrency(aws, FUNCTION) == 0
