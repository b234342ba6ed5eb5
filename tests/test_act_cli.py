"""`loopwatch replay --act`, `loopwatch actions` and `loopwatch release` through `main`, against
a real local HTTP receiver and the moto emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions import verify_signature
from loopwatch.actions.signing import SIGNATURE_HEADER
from loopwatch.cli import main
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset
from loopwatch.topology import resolve_topology, write_simulation

SECRET = "cli-secret"
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
def env(
    server: MotoServer, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """AWS pointed at the emulator (with `worker` at reserved concurrency 25), alerts at the
    receiver, the ledger in tmp_path; LOOPWATCH_THROTTLE_MODE=enforce must not matter."""
    reset(server)
    create_function(server, "worker", reserved=25)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    ledger = tmp_path / "ledger.json"
    point_at(server, monkeypatch)
    for name, value in {
        "LOOPWATCH_ALERT_URLS": httpserver.url_for("/hook"),
        "LOOPWATCH_ALERT_SECRET": SECRET,
        "LOOPWATCH_LEDGER_PATH": str(ledger),
        "LOOPWATCH_THROTTLE_MODE": "enforce",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
    return ledger


def alerts(httpserver: HTTPServer) -> list[dict[str, object]]:
    for request, _ in httpserver.log:
        assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.get_data())
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def test_replay_act_alerts_each_change_and_only_says_what_it_would_throttle(
    env: Path,
    logs: str,
    server: MotoServer,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["replay", "--format", "json", logs]) == 1
    plain = json.loads(capsys.readouterr().out)
    assert not httpserver.log  # without --act nothing is sent

    assert main(["replay", "--format", "json", "--act", logs]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == plain  # stdout keeps the replay contract
    # Offline, the whole history is at hand: the incident opens already active.
    (sent,) = alerts(httpserver)
    assert (sent["state"], sent["status"]) == ("opened", "active")
    assert sent["incident"] == plain["loops"][0]["id"]
    action = sent["action"]
    assert isinstance(action, dict)
    assert action["mode"] == "dry-run"
    assert [x["result"] for x in action["outcomes"]] == ["would-throttle"]
    assert "alert opened" in captured.err and "sent to 1 sink(s)" in captured.err
    assert reserved_concurrency(server, FUNCTION) == 25


def test_replay_act_enforce_throttles_then_actions_lists_and_release_restores(
    env: Path,
    logs: str,
    server: MotoServer,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["replay", "--act", "--throttle", "enforce", logs]) == 1
    capsys.readouterr()
    assert reserved_concurrency(server, FUNCTION) == 0
    assert [a["state"] for a in alerts(httpserver)] == ["opened"]

    assert main(["actions"]) == 0
    (line, summary) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"{FUNCTION}  incident ") and "was 25" in line
    assert summary.startswith("1 held")
    assert main(["actions", "--format", "json"]) == 0
    (hold,) = json.loads(capsys.readouterr().out)
    incident = hold["incident"]

    assert main(["release", "--incident", incident]) == 0
    assert capsys.readouterr().out == f"released {FUNCTION}: reserved concurrency restored to 25\n"
    assert reserved_concurrency(server, FUNCTION) == 25
    assert main(["actions"]) == 0
    assert "holds nothing" in capsys.readouterr().out


def test_release_failures_say_why_and_exit_1(
    env: Path, logs: str, server: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["release", FUNCTION]) == 1
    assert f"loopwatch holds nothing for {FUNCTION}" in capsys.readouterr().err
    assert main(["release", "--incident", "nope"]) == 1
    assert "holds nothing for incident nope" in capsys.readouterr().err

    assert main(["replay", "--act", "--throttle", "enforce", logs]) == 1
    server.client("lambda").delete_function(FunctionName="worker")
    capsys.readouterr()
    assert main(["release", "worker"]) == 0  # gone: nothing left to restore, hold dropped
    assert "gone" in capsys.readouterr().out


def test_bad_usage_exits_2(env: Path, logs: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--throttle", "enforce", logs]) == 2
    assert main(["release"]) == 2
    assert main(["release", "worker", "--incident", "x"]) == 2
    env.write_text("not json")
    assert main(["actions"]) == 2
    assert "cannot read the actions ledger" in capsys.readouterr().err
