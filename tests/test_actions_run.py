"""Actions.handle end to end: a finding → throttle on the emulator → one signed alert."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions import (
    ActionReport,
    Actions,
    DeadLetter,
    MemoryLedger,
    held,
    verify_signature,
)
from loopwatch.actions.signing import SIGNATURE_HEADER
from loopwatch.detect.findings import ACTIVE, LATENT, OPENED, RESOLVED, LoopFinding
from loopwatch.settings import Settings
from loopwatch.testing.aws import MotoServer, moto_server
from loopwatch.testing.lambdas import create_function, emulator_access, reserved_concurrency


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def finding(function: str, change: str, status: str) -> LoopFinding:
    return LoopFinding(
        "inc-42", change, status, ("arn:aws:sqs:us-east-1:123456789012:jobs", function),
        (function,), 1000.0, 1009.0 if status == ACTIVE else None, 1009.0, 3, 1.0, False,
        "function worker sends to queue jobs, which invokes it", "send results to another queue",
    )  # fmt: skip


def test_a_loop_is_throttled_alerted_once_and_audited(
    aws: MotoServer, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = create_function(aws, "worker", reserved=25)
    httpserver.expect_request("/hook").respond_with_data("ok")
    monkeypatch.setenv("LOOPWATCH_ALERT_URLS", httpserver.url_for("/hook"))
    monkeypatch.setenv("LOOPWATCH_ALERT_SECRET", "shared")
    monkeypatch.setenv("LOOPWATCH_THROTTLE_MODE", "enforce")
    monkeypatch.setenv("LOOPWATCH_ACT_AFTER_SECONDS", "0")  # acting itself, not its guard
    monkeypatch.setenv("LOOPWATCH_PUBLIC_URL", "https://loopwatch.example.com/")
    settings = Settings()
    ledger = MemoryLedger()
    dead: list[DeadLetter] = []

    async def publish(letter: DeadLetter) -> None:
        dead.append(letter)

    async def go() -> list[ActionReport]:
        async with Actions.from_settings(
            settings, ledger=ledger, access=emulator_access(aws), dead_letter=publish
        ) as actions:
            reports = [
                await actions.handle(finding(arn, OPENED, LATENT), "123456789012"),
                await actions.handle(finding(arn, "escalated", ACTIVE), "123456789012"),
                await actions.handle(finding(arn, "escalated", ACTIVE), "123456789012"),
                await actions.handle(finding(arn, RESOLVED, ACTIVE), "123456789012"),
            ]
            await actions.dispatcher.drain()
            return reports

    latent, escalated, repeat, resolved = asyncio.run(go())

    assert dead == []
    assert reserved_concurrency(aws, arn) == 0
    assert [h.previous for h in held(ledger)] == [25]  # resolving does not release
    assert latent.audit == () and not latent.folded
    assert [r.action for r in escalated.audit] == ["throttle"]
    assert repeat.folded and repeat.audit == ()
    bodies = [json.loads(r.get_data()) for r, _ in httpserver.log]
    # One per change worth hearing of: the latent opening is not, the resolution of an
    # active loop is.
    assert [b["state"] for b in bodies] == ["escalated", "resolved"]
    assert not latent.alerted and escalated.alerted
    action = bodies[0]["action"]
    assert action["mode"] == "enforce"
    assert action["outcomes"][0]["result"] == "throttled"
    assert action["outcomes"][0]["previous"] == 25
    assert bodies[0]["links"]["loops"] == "https://loopwatch.example.com/loops"
    request = httpserver.log[0][0]
    assert verify_signature("shared", request.headers[SIGNATURE_HEADER], request.get_data())
    assert resolved.throttle.summary.startswith("no throttle: the incident resolved")
