"""The act guard and revocation (DESIGN §5 "Revocation", §6 "Acting waits for late records;
alerting does not"): on the moto emulator, with a real local HTTP receiver.

    active ──► alert now (throttle_at) ──ACT_AFTER──► throttle ──► "acted" alert
       └─ revised within ACT_AFTER ──► cancelled: never throttled
    throttled ──► revised ──► released to the previous value, signed audit record, alert
    replay --act: the same rule on event time
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions import Actions, MemoryLedger, alert_for, idempotency_key, payload
from loopwatch.actions import outcomes as o
from loopwatch.actions.auditlog import holds_from_audit
from loopwatch.actions.guard import held_back
from loopwatch.actions.offline import act_offline
from loopwatch.actions.sinks.slack import slack_message
from loopwatch.detect.findings import (
    ACTIVE,
    LATENT,
    OPENED,
    RESOLVED,
    REVISED,
    LoopFinding,
    finding_json,
)
from loopwatch.service.act import LiveActions
from loopwatch.service.ship import ship
from loopwatch.settings import Settings
from loopwatch.testing.aws import MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import create_function, emulator_access, reserved_concurrency, reset
from loopwatch.testing.worker import enforcing_settings, fresh_start, read_until, running_worker
from loopwatch.topology import resolve_topology, write_simulation
from loopwatch.trust import RecordKey, check, seal

ACCOUNT = "123456789012"
SECRET = "guard-state-secret-0123456789"
KEY = RecordKey(SECRET.encode())


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def loop(function: str, change: str, status: str, t: float, incident: str = "") -> LoopFinding:
    guarded = change == REVISED and status != ACTIVE
    return LoopFinding(
        incident or f"inc-{function.rsplit(':', 1)[-1]}", change, status,
        ("arn:aws:sqs:us-east-1:123456789012:jobs", function), (function,), 1000.0,
        1009.0 if status == ACTIVE else None, t, 3, 0.5 if guarded else 1.0, guarded,
        "late invocations show the write-back is guarded (gain 0.5)" if guarded
        else "function sends to queue jobs, which invokes it",
        "send results to another queue",
    )  # fmt: skip


def settings_for(httpserver: HTTPServer, act_after: float = 1.0) -> Settings:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return Settings(
        alert_urls=httpserver.url_for("/hook"),
        alert_secret="shared",
        throttle_mode="enforce",
        state_secret=SECRET,
        act_after_seconds=act_after,
    )


def bodies(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


async def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` (in a thread: it may call boto3) until it is truthy or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout}s (last: {value!r})")
        await asyncio.sleep(0.05)


def test_an_active_loop_revised_within_act_after_is_alerted_at_once_and_never_throttled(
    aws: MotoServer, httpserver: HTTPServer
) -> None:
    reset(aws)
    revised_fn = create_function(aws, "guarded", reserved=25)
    control_fn = create_function(aws, "runaway", reserved=7)  # shows when the deadline passed
    settings = settings_for(httpserver)
    ledger = MemoryLedger()

    async def go() -> None:
        async with Actions.from_settings(
            settings, ledger=ledger, access=emulator_access(aws)
        ) as actions:
            first = await actions.handle(loop(revised_fn, OPENED, ACTIVE, 1009.0), ACCOUNT)
            await actions.handle(loop(control_fn, OPENED, ACTIVE, 1009.0), ACCOUNT)
            assert first.alerted and first.alert.throttle_at is not None
            assert first.throttle.outcomes == ()  # nothing done at once
            assert reserved_concurrency(aws, revised_fn) == 25
            revised = await actions.handle(loop(revised_fn, REVISED, LATENT, 1012.0), ACCOUNT)
            assert revised.alerted and "cancelled" in revised.throttle.summary
            # The control was armed after the revised one: once it is throttled, the revised
            # one's deadline has passed too.
            await until("control throttled", lambda: reserved_concurrency(aws, control_fn) == 0)
            await until(
                "acted alert", lambda: any(b["state"] == "acted" for b in bodies(httpserver))
            )
            assert len(actions.guard) == 0
            await actions.dispatcher.drain()

    asyncio.run(go())
    assert reserved_concurrency(aws, revised_fn) == 25  # never throttled
    assert [h.function for h in ledger.holds()] == [control_fn]
    sent = {(b["incident"], b["state"]): b for b in bodies(httpserver)}
    opened = sent["inc-guarded", OPENED]
    due = datetime.fromisoformat(opened["throttle_at"].replace("Z", "+00:00")).timestamp()
    assert time.time() - 30 < due <= time.time() + 1
    assert "throttle at" in opened["action"]["summary"]
    revised = sent["inc-guarded", REVISED]
    assert revised["status"] == LATENT and revised["throttle_at"] is None
    assert revised["action"]["summary"].startswith("throttle due at")
    assert "guarded" in revised["action"]["summary"]
    assert ("inc-guarded", "acted") not in sent
    acted = sent["inc-runaway", "acted"]
    assert [x["result"] for x in acted["action"]["outcomes"]] == [o.THROTTLED]
    assert acted["action"]["outcomes"][0]["previous"] == 7


def test_a_held_verdict_is_throttled_after_act_after_and_released_when_revised(
    aws: MotoServer, httpserver: HTTPServer
) -> None:
    reset(aws)
    fn = create_function(aws, "worker", reserved=25)
    settings = settings_for(httpserver)
    ledger = MemoryLedger()
    published: list[tuple[str, bytes | None, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        published.append((topic, key, value))

    # The findings' records are read a minute later: fresh (LOOPWATCH_ACT_MAX_AGE_SECONDS).
    live = LiveActions(
        settings, send, ledger=ledger, access=emulator_access(aws), clock=lambda: 1070.0
    )

    def message(finding: LoopFinding) -> bytes:
        return seal(finding_json(finding, ACCOUNT), KEY)

    async def go() -> None:
        async with Actions.from_settings(
            settings, ledger=ledger, access=emulator_access(aws), on_audit=live.publish_audit
        ) as actions:
            started = time.monotonic()
            report = await live.handle(actions, message(loop(fn, OPENED, ACTIVE, 1009.0)))
            assert report is not None and report.alert.throttle_at is not None
            assert reserved_concurrency(aws, fn) == 25  # alerted at once, not throttled yet
            await until("throttled", lambda: reserved_concurrency(aws, fn) == 0)
            assert time.monotonic() - started >= 0.5  # waited for the verdict to hold
            await until("its audit", lambda: published)
            await until("acted alert", lambda: len(httpserver.log) == 2)
            revised = await live.handle(actions, message(loop(fn, REVISED, LATENT, 1015.0)))
            assert revised is not None and revised.alerted
            await actions.dispatcher.drain()

    asyncio.run(go())
    assert reserved_concurrency(aws, fn) == 25  # released to the previous value
    assert ledger.holds() == []
    records = [orjson.loads(value) for topic, _, value in published]
    assert {topic for topic, _, _ in published} == {"findings"}
    assert all(check(r, KEY) is None for r in records)  # signed
    assert [(r["action"], r["result"], r["previous"], r["new"]) for r in records] == [
        ("throttle", o.THROTTLED, 25, 0),
        ("release", o.RELEASED, 0, 25),
    ]
    assert "revised to latent" in records[1]["reason"]
    assert holds_from_audit(records, KEY) == {}  # a rebuilt ledger holds nothing
    states = [b["state"] for b in bodies(httpserver)]
    assert states == [OPENED, "acted", REVISED]
    revised_alert = bodies(httpserver)[2]
    assert [x["result"] for x in revised_alert["action"]["outcomes"]] == [o.RELEASED]
    assert "restored to 25" in revised_alert["action"]["summary"]


def test_a_worker_that_stops_leaves_armed_throttles_unacted(
    aws: MotoServer, httpserver: HTTPServer
) -> None:
    reset(aws)
    fn = create_function(aws, "worker", reserved=25)
    settings = settings_for(httpserver, act_after=1.0)

    async def go() -> asyncio.Task[None] | None:
        async with Actions.from_settings(
            settings, ledger=MemoryLedger(), access=emulator_access(aws)
        ) as actions:
            await actions.handle(loop(fn, OPENED, ACTIVE, 1009.0), ACCOUNT)
            assert len(actions.guard) == 1
            armed = actions.guard._armed[(ACCOUNT, "inc-worker")]
        return armed.task

    task = asyncio.run(go())
    assert task is not None and task.cancelled()
    assert reserved_concurrency(aws, fn) == 25


def test_replay_act_applies_the_guard_on_event_time(
    aws: MotoServer, httpserver: HTTPServer
) -> None:
    reset(aws)
    early, late, held = (
        create_function(aws, name, reserved=25) for name in ("early", "late", "held")
    )
    settings = settings_for(httpserver, act_after=60.0).model_copy(
        update={"alert_deadline_seconds": 5.0}
    )
    findings = [
        loop(early, OPENED, ACTIVE, 1009.0),
        loop(late, OPENED, ACTIVE, 1009.0),
        loop(held, OPENED, ACTIVE, 1009.0),
        loop(early, REVISED, LATENT, 1039.0),  # within 60 s: never throttled
        loop(late, REVISED, LATENT, 1099.0),  # after 60 s: throttled, then released
    ]
    ledger = MemoryLedger()
    result = asyncio.run(
        act_offline(findings, settings, ledger=ledger, access=emulator_access(aws))
    )
    by = {(r.alert.finding.incident, r.alert.state): r for r in result.reports}  # type: ignore[union-attr]
    assert reserved_concurrency(aws, held) == 0
    assert reserved_concurrency(aws, early) == 25
    assert reserved_concurrency(aws, late) == 25
    assert [h.function for h in ledger.holds()] == [held]
    assert "did not hold for 60s of event time" in by["inc-early", OPENED].throttle.summary
    assert by["inc-early", OPENED].alerted  # alerting does not wait
    assert [x.result for x in by["inc-late", OPENED].throttle.outcomes] == [o.THROTTLED]
    assert [x.result for x in by["inc-late", REVISED].throttle.outcomes] == [o.RELEASED]
    assert [a.action for a in by["inc-late", REVISED].audit] == ["release"]
    assert result.dead == []


def test_held_back_counts_what_ends_the_verdict_up_to_the_deadline() -> None:
    fn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    start = loop(fn, OPENED, ACTIVE, 100.0)
    assert held_back([start], 60.0) == {}
    assert list(held_back([start, loop(fn, REVISED, LATENT, 160.0)], 60.0)) == [0]
    assert held_back([start, loop(fn, REVISED, LATENT, 160.5)], 60.0) == {}
    assert list(held_back([start, loop(fn, RESOLVED, ACTIVE, 130.0)], 60.0)) == [0]
    assert held_back([start, loop(fn, "escalated", ACTIVE, 130.0)], 60.0) == {}
    other = loop(fn.replace(":f", ":g"), REVISED, LATENT, 110.0)
    assert held_back([start, other], 60.0) == {}  # another incident
    assert held_back([start, loop(fn, REVISED, LATENT, 110.0)], 0.0) == {}


def test_the_alert_says_when_the_throttle_will_happen() -> None:
    fn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    alert = alert_for(loop(fn, OPENED, ACTIVE, 1009.0), ACCOUNT, throttle_at=1791208809.0)
    assert payload(alert)["throttle_at"] == "2026-10-05T14:00:09Z"
    message = slack_message(alert)
    assert "throttle at 2026-10-05T14:00:09Z" in str(message["text"])
    assert "Throttle at" in json.dumps(message["blocks"])
    assert payload(alert_for(loop(fn, OPENED, ACTIVE, 1009.0)))["throttle_at"] is None


def test_each_revision_of_an_episode_is_its_own_alert() -> None:
    fn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    one, two = loop(fn, REVISED, LATENT, 1012.0), loop(fn, REVISED, ACTIVE, 1020.0)
    assert idempotency_key(one) != idempotency_key(two)
    assert idempotency_key(one) == idempotency_key(loop(fn, REVISED, LATENT, 1012.0))


def test_act_after_defaults_to_ten_minutes_and_zero_only_when_set() -> None:
    assert Settings().act_after_seconds == 600.0
    assert Settings(act_after_seconds=0).act_after_seconds == 0.0
    with pytest.raises(ValueError):
        Settings(act_after_seconds=-1)


def test_a_worker_alerts_at_once_and_throttles_when_the_verdict_held(
    kafka_broker: Broker,
    httpserver: HTTPServer,
    aws: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real service on the broker: the escalation alerts with ``throttle_at`` and no
    outcome; the throttle comes from the armed deadline, its signed audit record on the
    findings topic dated no earlier, then the ``acted`` alert."""
    reset(aws)
    function = create_function(aws, "worker", reserved=25)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    settings = enforcing_settings(
        kafka_broker, tmp_path, httpserver.url_for("/hook"), act_after_seconds=2
    )
    sim = write_simulation(
        resolve_topology("sqs-loop"), tmp_path / "sim", account=ACCOUNT, start=fresh_start()
    )  # live: records fresh enough to act on
    point_at(aws, monkeypatch)  # the worker's boto3 default chain
    with running_worker(settings, kafka_broker) as worker:
        asyncio.run(ship([str(sim.out_dir)], settings))
        # Detection done and every finding it made on the topic; then every finding handled,
        # the armed throttle taken and every alert delivered: the receiver has all it gets.
        worker.wait_applied(kafka_broker)
        worker.read_findings(kafka_broker)
        worker.wait_acted(kafka_broker)
        # The throttle taken at its deadline sent its audit record before its alert; it is on
        # its way to the topic, not yet known to be there.
        values = read_until(
            kafka_broker,
            settings.topic("findings"),
            lambda vs: any(v.get("kind") == "audit" for v in vs),
        )
    (audit,) = [v for v in values if v.get("kind") == "audit"]
    assert settings.state_secret is not None
    assert check(audit, RecordKey(settings.state_secret.get_secret_value().encode())) is None
    assert (audit["action"], audit["result"], audit["previous"]) == ("throttle", o.THROTTLED, 25)
    assert reserved_concurrency(aws, function) == 0
    first, acted = bodies(httpserver)
    assert (first["state"], acted["state"]) == ("escalated", "acted")
    assert first["action"]["outcomes"] == [] and first["throttle_at"] is not None
    assert acted["throttle_at"] == first["throttle_at"]
    assert audit["at"] >= first["throttle_at"]  # ISO-8601 UTC, same shape: compares as time
    assert [x["result"] for x in acted["action"]["outcomes"]] == [o.THROTTLED]
