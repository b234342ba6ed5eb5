"""Webhook delivery against real local HTTP receivers (pytest-httpserver, and a silent socket)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from loopwatch.actions import (
    DeadLetter,
    Delivered,
    Dispatcher,
    RetryPolicy,
    alert_for,
    sink_for,
    verify_signature,
)
from loopwatch.actions.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER
from loopwatch.actions.sinks.slack import SlackSink
from loopwatch.actions.sinks.webhook import WebhookSink
from loopwatch.detect.findings import ACTIVE, ESCALATED, OPENED, LoopFinding
from loopwatch.settings import Settings
from loopwatch.testing.lambdas import SilentServer

SECRET = "s3cr3t-hmac-key"
FAST = RetryPolicy(attempt_timeout=0.5, deadline=3.0, backoff=0.01, backoff_max=0.05)
FN = "arn:aws:lambda:us-east-1:111122223333:function:thumb"


@pytest.fixture
def server(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver
    httpserver.clear()


def finding(change: str = OPENED, first_seen: float = 1000.0) -> LoopFinding:
    return LoopFinding(
        incident="inc-1",
        change=change,
        status=ACTIVE,
        cycle=("arn:aws:s3:::uploads", FN),
        functions=(FN,),
        first_seen=first_seen,
        detected_at=1009.0,
        time=1009.0,
        traversals=3,
        gain=1.0,
        guarded=False,
        explanation="function thumb writes to bucket uploads, which invokes it",
        fix="write thumbnails to another bucket",
    )


class Recorder:
    def __init__(self) -> None:
        self.dead: list[DeadLetter] = []
        self.delivered: list[Delivered] = []
        self.times: dict[str, float] = {}

    def on_dead(self, letter: DeadLetter) -> None:
        self.dead.append(letter)
        self.times[f"dead {letter.sink}"] = time.monotonic()

    async def on_delivered(self, item: Delivered) -> None:
        self.delivered.append(item)
        self.times[f"delivered {item.sink}"] = time.monotonic()


def dispatcher(urls: list[str], rec: Recorder, policy: RetryPolicy = FAST) -> Dispatcher:
    sinks = [sink_for(SecretStr(u), SecretStr(SECRET)) for u in urls]
    return Dispatcher(sinks, policy, dead_letter=rec.on_dead, on_delivered=rec.on_delivered)


async def send(urls: list[str], *alerts: object, policy: RetryPolicy = FAST) -> Recorder:
    rec = Recorder()
    async with dispatcher(urls, rec, policy) as d:
        for a in alerts:
            d.enqueue(a)  # type: ignore[arg-type]
        await d.drain()
    return rec


def test_signature_verifies_with_the_secret_and_fails_with_another(server: HTTPServer) -> None:
    server.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    alert = alert_for(finding(), "111122223333", loops_url="http://loopwatch.local/loops")

    rec = asyncio.run(send([server.url_for("/hook")], alert))

    assert len(rec.delivered) == 1 and rec.dead == []
    request, _ = server.log[0]
    body = request.get_data()
    header = request.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, header, body)
    assert not verify_signature("another-secret", header, body)
    assert not verify_signature(SECRET, header, body + b" ")
    assert not verify_signature(SECRET, header, body, tolerance_s=300, now=time.time() + 3600)
    assert request.headers[IDEMPOTENCY_HEADER] == alert.key
    data = json.loads(body)
    assert data["version"] == 1
    assert (data["incident"], data["state"], data["status"]) == ("inc-1", "opened", "active")
    assert data["chain"] == "bucket uploads → function thumb → bucket uploads"
    assert data["links"] == {"loops": "http://loopwatch.local/loops"}


def test_500_twice_then_200_is_one_delivery_in_three_attempts(server: HTTPServer) -> None:
    for status in (500, 500, 200):
        server.expect_ordered_request("/hook").respond_with_data("", status=status)

    rec = asyncio.run(send([server.url_for("/hook")], alert_for(finding())))

    assert len(server.log) == 3
    assert [d.attempts for d in rec.delivered] == [3] and rec.dead == []
    keys = {r.headers[IDEMPOTENCY_HEADER] for r, _ in server.log}
    assert len(keys) == 1  # every retry carries the same idempotency key


def test_retry_after_is_honoured_on_429(server: HTTPServer) -> None:
    seen: list[float] = []

    def limited(request: Request) -> Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    server.expect_request("/hook").respond_with_handler(limited)

    rec = asyncio.run(send([server.url_for("/hook")], alert_for(finding())))

    assert len(seen) == 2 and len(rec.delivered) == 1
    assert seen[1] - seen[0] >= 0.95  # not the 10 ms backoff of FAST


RETRY_AFTER = {
    "/zero": "0",
    "/past": format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True),
    "/unreadable": "soon\x1b]0;pwned\x07",
    "/hour": "3600",
}


def test_retry_after_neither_spins_nor_outlasts_the_deadline(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    requests: Counter[tuple[str, str]] = Counter()

    def limited(request: Request) -> Response:
        requests[request.path, request.headers[IDEMPOTENCY_HEADER]] += 1
        return Response("slow down", status=429, headers={"Retry-After": RETRY_AFTER[request.path]})

    for path in RETRY_AFTER:
        server.expect_request(path).respond_with_handler(limited)
    # The deployment's backoff (0.5 s first delay), over 10 s.
    policy = RetryPolicy.from_settings(Settings(alert_deadline_seconds=10.0))
    assert policy.backoff == 0.5
    alerts = [alert_for(finding()), alert_for(finding(change=ESCALATED))]
    with caplog.at_level(logging.INFO, logger="loopwatch"):
        rec = asyncio.run(send([server.url_for(p) for p in RETRY_AFTER], *alerts, policy=policy))

    def per_alert(path: str) -> list[int]:
        return [requests[path, a.key] for a in alerts]

    assert len(rec.dead) == len(RETRY_AFTER) * len(alerts) and not rec.delivered
    # 0 and a past date wait the first backoff delay: at most 20 requests in 10 s (not 11,545).
    for path in ("/zero", "/past"):
        assert all(10 <= n <= 20 for n in per_alert(path)), (path, per_alert(path))
    # An unreadable value gets the usual exponential backoff.
    assert all(2 <= n <= 8 for n in per_alert("/unreadable")), per_alert("/unreadable")
    # An hour is past the deadline: dead-lettered after the one answer, not held for 10 s.
    assert per_alert("/hour") == [1, 1]
    hour = [d for d in rec.dead if d.attempts == 1]
    assert len(hour) == 2 and all(d.elapsed < 5 for d in hour)
    assert all("would pass the deadline" in d.last_error for d in hour)
    # At most one line per request (a retry or a dead letter), and the unreadable header
    # said once for its sink, not per attempt nor per alert.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("loopwatch")]
    unreadable = [line for line in ours if "Retry-After" in line]
    assert len(unreadable) == 1 and "soon" in unreadable[0]
    assert len(ours) <= sum(requests.values()) + 1


def test_a_dead_receiver_is_dead_lettered_in_time_and_never_delays_another(
    server: HTTPServer,
) -> None:
    server.expect_request("/hook").respond_with_data("ok")
    policy = RetryPolicy(attempt_timeout=0.4, deadline=1.5, backoff=0.05, backoff_max=0.1)

    async def scenario(silent: SilentServer) -> tuple[Recorder, float, float]:
        rec = Recorder()
        d = dispatcher([silent.url, server.url_for("/hook")], rec, policy)
        started = time.monotonic()
        d.enqueue(alert_for(finding()))
        returned = time.monotonic() - started
        await d.drain()
        await d.close()
        return rec, started, returned

    with SilentServer() as silent:
        rec, started, returned = asyncio.run(scenario(silent))
        assert silent.accepted >= 1

    assert returned < 0.05  # the caller enqueues and goes on
    (ok,) = rec.delivered
    assert rec.times[f"delivered {ok.sink}"] - started < 0.5  # on time, not after the dead one
    (dead,) = rec.dead
    elapsed = rec.times[f"dead {dead.sink}"] - started
    assert 1.4 <= elapsed <= 1.5 + 0.3, elapsed  # within the bound, not before it
    assert dead.attempts >= 2
    assert "no answer" in dead.last_error
    assert dead.to_json()["alert"]["incident"] == "inc-1"  # type: ignore[index]


def test_other_4xx_is_not_retried(server: HTTPServer) -> None:
    server.expect_request("/hook").respond_with_data("who are you", status=401)
    rec = asyncio.run(send([server.url_for("/hook")], alert_for(finding())))
    assert len(server.log) == 1
    assert rec.dead[0].last_error.startswith("HTTP 401")


def test_one_message_per_state_change_repeats_are_folded(server: HTTPServer) -> None:
    server.expect_request("/hook").respond_with_data("ok")
    first, repeat = alert_for(finding()), alert_for(finding())
    escalated = alert_for(finding(change=ESCALATED))
    reopened = alert_for(finding(first_seen=5000.0))  # a new episode of the same cycle

    rec = asyncio.run(send([server.url_for("/hook")], first, repeat, escalated, reopened))

    assert len(server.log) == 3
    assert len({r.headers[IDEMPOTENCY_HEADER] for r, _ in server.log}) == 3
    assert len(rec.delivered) == 3


def test_slack_gets_readable_blocks(server: HTTPServer) -> None:
    server.expect_request("/services/T0/B0/XYZ").respond_with_data("ok")
    slack = SlackSink(SecretStr(server.url_for("/services/T0/B0/XYZ")))
    rec = Recorder()

    async def go() -> None:
        async with Dispatcher([slack], FAST, dead_letter=rec.on_dead) as d:
            d.enqueue(alert_for(finding(), "111122223333"))
            await d.drain()

    asyncio.run(go())

    message = json.loads(server.log[0][0].get_data())
    assert message["text"].startswith(":rotating_light: Loop opened (active)")
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert "bucket uploads → function thumb → bucket uploads" in text
    assert "write thumbnails to another bucket" in text
    assert SIGNATURE_HEADER not in server.log[0][0].headers


def test_sinks_are_chosen_by_url() -> None:
    assert isinstance(sink_for("https://hooks.slack.com/services/T/B/X"), SlackSink)
    assert isinstance(sink_for("https://alerts.example.com/loopwatch"), WebhookSink)
    with pytest.raises(ValueError, match="http"):
        sink_for("ftp://example.com/secret-token")


def test_secrets_stay_out_of_logs_reprs_and_dead_letters(
    server: HTTPServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "T0SECRET/B0SECRET/abcdefTOKEN"
    server.expect_request(f"/services/{token}").respond_with_data("", status=503)
    url = server.url_for(f"/services/{token}")
    refused = f"http://127.0.0.1:1/hook?key={token}"  # nothing listens on port 1
    monkeypatch.setenv("LOOPWATCH_ALERT_URLS", f"{url},{refused}")
    monkeypatch.setenv("LOOPWATCH_ALERT_SECRET", SECRET)
    settings = Settings()
    sinks = [sink_for(u, settings.alert_secret) for u in settings.alert_urls]
    rec = Recorder()
    policy = RetryPolicy(attempt_timeout=0.3, deadline=0.6, backoff=0.05, backoff_max=0.1)

    async def go() -> None:
        async with Dispatcher(sinks, policy, dead_letter=rec.on_dead) as d:
            d.enqueue(alert_for(finding()))
            await d.drain()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(go())

    assert len(rec.dead) == 2
    # werkzeug's lines are the test receiver's own access log, not loopwatch's.
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("dead-lettered" in line for line in ours)
    exposed = "\n".join(
        [
            *ours,
            repr(settings),
            str(settings.model_dump()),
            *map(repr, sinks),
            *(json.dumps(d.to_json()) for d in rec.dead),
        ]
    )
    for secret in (SECRET, token, "T0SECRET", url, refused):
        assert secret not in exposed
    assert "webhook http://127.0.0.1/…" in exposed  # sinks are named by scheme and host
