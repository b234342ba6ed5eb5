"""End to end on the real broker: a simulated SQS loop shipped into a worker that alerts a real
local HTTP receiver and throttles a function in the moto emulator; then `loopwatch release`.

    ship sqs-loop ──► worker (detect ─► findings ─► actions) ──► httpserver (signed alerts)
                                                             └─► moto: worker fn reserved 0
    loopwatch release ──► moto: back to 25;  a second worker rebuilds the hold from Kafka
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions import verify_signature
from loopwatch.actions.ledger import JsonFileLedger
from loopwatch.actions.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER
from loopwatch.cli import main
from loopwatch.service.ship import ship
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset
from loopwatch.testing.worker import (
    enforcing_settings,
    fresh_start,
    read_all,
    read_until,
    running_worker,
)
from loopwatch.topology import resolve_topology, write_simulation

SECRET = "e2e-secret"
ACCOUNT = "123456789012"  # moto's default account: the simulated function exists there
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """The emulator, and the ambient AWS environment the worker and the CLI read pointed at it
    (``access_from_settings`` uses boto3's default session, which honours AWS_ENDPOINT_URL)."""
    with moto_server() as server:
        reset(server)  # moto's backends are per process: other modules' servers share them
        point_at(server, monkeypatch)
        yield server


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout}s (last: {value!r})")
        time.sleep(0.1)


def test_sqs_loop_alerts_once_when_active_throttles_and_release_restores(
    kafka_broker: Broker,
    httpserver: HTTPServer,
    aws: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert create_function(aws, "worker", reserved=25) == FUNCTION
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    ledger_path = tmp_path / "ledger.json"
    settings = enforcing_settings(
        kafka_broker, tmp_path, httpserver.url_for("/hook"), alert_secret=SECRET
    )
    findings_topic = settings.topic("findings")
    sim = write_simulation(
        resolve_topology("sqs-loop"), tmp_path / "sim", account=ACCOUNT, start=fresh_start()
    )  # live: records fresh enough to act on

    def audits(values: list[Any]) -> list[Any]:
        return [v for v in values if v.get("kind") == "audit"]

    with running_worker(settings, kafka_broker) as worker:
        assert worker.service.actions is not None
        asyncio.run(ship([str(sim.out_dir)], settings))
        read_until(kafka_broker, findings_topic, lambda vs: bool(audits(vs)), timeout=45)
        # Detection done (every input applied, every finding it made on the topic), every
        # finding handled and every alert delivered: what is there now is all there will be.
        worker.wait_applied(kafka_broker)
        worker.read_findings(kafka_broker)
        worker.wait_acted(kafka_broker)
        values = read_all(kafka_broker, findings_topic)
        loops = [v for v in values if v["kind"] == "loop"]
        # The incident opens (latent) then escalates; people hear of it once, when it runs hot.
        changes = [v["change"] for v in loops]
        assert changes == ["opened", "escalated"], changes
        bodies = [json.loads(req.get_data()) for req, _ in httpserver.log]
        assert [b["state"] for b in bodies] == ["escalated"]
        assert len({req.headers[IDEMPOTENCY_HEADER] for req, _ in httpserver.log}) == 1
        for request, _ in httpserver.log:
            header = request.headers[SIGNATURE_HEADER]
            assert verify_signature(SECRET, header, request.get_data())
            assert not verify_signature("another-secret", header, request.get_data())
        (escalated,) = [b for b in bodies if b["state"] == "escalated"]
        assert escalated["incident"] == loops[0]["incident"]
        assert escalated["action"]["mode"] == "enforce"
        assert [
            (x["function"], x["result"], x["previous"]) for x in escalated["action"]["outcomes"]
        ] == [(FUNCTION, "throttled", 25)]

        assert reserved_concurrency(aws, FUNCTION) == 0
        (audit,) = audits(values)
        assert (audit["action"], audit["result"], audit["function"]) == (
            "throttle",
            "throttled",
            FUNCTION,
        )
        assert (audit["previous"], audit["new"], audit["mode"]) == (25, 0, "enforce")
        assert [(h.function, h.previous) for h in JsonFileLedger(ledger_path).holds()] == [
            (FUNCTION, 25)
        ]

        # At least once: the escalation delivered again changes nothing.
        actions = worker.service.actions
        assert actions.stats["folded"] == 0
        (escalated_finding,) = [v for v in loops if v["change"] == "escalated"]
        kafka_broker.produce(
            findings_topic,
            [(escalated_finding["incident"].encode(), json.dumps(escalated_finding).encode())],
        )
        worker.wait_acted(kafka_broker)  # the repeat handled, and any alert it made delivered
        assert actions.stats["folded"] == 1
        assert len(httpserver.log) == 1  # still only the escalation
        assert len(audits(read_all(kafka_broker, findings_topic))) == 1
        assert reserved_concurrency(aws, FUNCTION) == 0

    # A new worker whose ledger file is gone rebuilds the hold from the audit records.
    rebuilt_path = tmp_path / "rebuilt" / "ledger.json"
    restarted = settings.model_copy(update={"ledger_path": str(rebuilt_path)})
    with running_worker(restarted, kafka_broker):
        wait_for(
            "rebuilt hold", lambda: rebuilt_path.exists() and JsonFileLedger(rebuilt_path).holds()
        )
    ((function, previous),) = [
        (h.function, h.previous) for h in JsonFileLedger(rebuilt_path).holds()
    ]
    assert (function, previous) == (FUNCTION, 25)

    # `loopwatch actions` and `loopwatch release` in this process, with the worker's settings
    # (its state secret too: the release's audit record is signed like the worker's).
    assert settings.state_secret is not None
    for name, value in {
        "LOOPWATCH_LEDGER_PATH": str(rebuilt_path),
        "LOOPWATCH_KAFKA_BROKER": settings.kafka_broker or "",
        "LOOPWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "LOOPWATCH_STATE_SECRET": settings.state_secret.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["actions"]) == 0
    listed = capsys.readouterr().out
    assert FUNCTION in listed and "was 25" in listed
    assert main(["release", "worker"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"released {FUNCTION}: reserved concurrency restored to 25"
    assert reserved_concurrency(aws, FUNCTION) == 25
    assert JsonFileLedger(rebuilt_path).holds() == []
    released = read_until(
        kafka_broker,
        findings_topic,
        lambda vs: any(v.get("action") == "release" for v in audits(vs)),
        timeout=10,
    )
    assert [(v["result"], v["new"]) for v in audits(released) if v["action"] == "release"] == [
        ("released", 25)
    ]
    assert main(["release", "worker"]) == 1  # nothing held any more: said, and exit 1
