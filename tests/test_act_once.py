"""Act once, on fresh evidence (DESIGN §6), on the real broker and the moto emulator.

    fresh sqs-loop ──► worker throttles (25 → 0) ──► a person: `loopwatch release` (→ 25)
        ├─ restart, the genuine signed finding produced again   ──► still 25
        └─ a new app id over the old topics, on a new host      ──► still 25 (old findings
           (no ledger file: the audit stream remembers)              skipped, loop re-found)
    October's records read in December ──► alerted as history, never throttled

A person who released a function decided; nothing read again may undo that.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions import MemoryLedger
from loopwatch.actions.auditlog import acted_from_audit
from loopwatch.actions.ledger import RELEASED, THROTTLED, Acted, JsonFileLedger
from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE, ESCALATED, LoopFinding
from loopwatch.service.act import LiveActions
from loopwatch.service.ship import ship
from loopwatch.settings import Settings
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
from loopwatch.trust import RecordKey, seal

ACCOUNT = "123456789012"  # moto's default account: the simulated function exists there
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    with moto_server() as server:
        reset(server)  # moto's backends are per process: other modules' servers share them
        point_at(server, monkeypatch)  # the worker's and the CLI's boto3 default chain
        yield server


def audits(values: list[Any]) -> list[Any]:
    return [v for v in values if v.get("kind") == "audit"]


def alerts(httpserver: HTTPServer) -> list[Any]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def enforcing(
    aws: MotoServer, kafka_broker: Broker, httpserver: HTTPServer, tmp_path: Path
) -> Settings:
    """A worker in enforce mode that acts at once (the act guard has its own tests), alerting
    the receiver, over function ``worker`` with reserved concurrency 25."""
    create_function(aws, "worker", reserved=25)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return enforcing_settings(kafka_broker, tmp_path, httpserver.url_for("/hook"))


def release_as_a_person(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`loopwatch release worker` with the worker's settings, as an operator runs it."""
    assert settings.state_secret is not None
    for name, value in {
        "LOOPWATCH_LEDGER_PATH": settings.ledger_path or "",
        "LOOPWATCH_KAFKA_BROKER": settings.kafka_broker or "",
        "LOOPWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "LOOPWATCH_STATE_SECRET": settings.state_secret.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["release", "worker"]) == 0


def test_a_released_function_is_never_throttled_again_by_what_is_read_again(
    kafka_broker: Broker,
    httpserver: HTTPServer,
    aws: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = enforcing(aws, kafka_broker, httpserver, tmp_path)
    findings_topic = settings.topic("findings")
    sim = write_simulation(
        resolve_topology("sqs-loop"), tmp_path / "sim", account=ACCOUNT, start=fresh_start()
    )
    with running_worker(settings, kafka_broker) as worker:
        asyncio.run(ship([str(sim.out_dir)], settings))
        read_until(kafka_broker, findings_topic, lambda vs: bool(audits(vs)), timeout=45)
        worker.wait_applied(kafka_broker)
        worker.read_findings(kafka_broker)
        worker.wait_acted(kafka_broker)
    assert reserved_concurrency(aws, FUNCTION) == 0
    (escalated,) = [
        v for v in read_all(kafka_broker, findings_topic) if v.get("change") == ESCALATED
    ]

    release_as_a_person(settings, monkeypatch)
    assert reserved_concurrency(aws, FUNCTION) == 25

    # 1. A restart, and the genuine signed finding produced again (a redelivery, a replayed
    #    topic, or someone who copied it): alerted, not acted on.
    httpserver.clear_log()
    with running_worker(settings, kafka_broker) as worker:
        actions = worker.service.actions
        assert actions is not None
        kafka_broker.produce(
            findings_topic, [(escalated["incident"].encode(), orjson.dumps(escalated))]
        )
        # Waited on its handling, not on its commit: on Tansu a group that a worker rejoins
        # can hold its commits for a while (seen once in five clean-clone runs, the alert sent
        # and the offset not committed in 60 s). With act_after 0, the throttle is decided
        # before `handle` returns; then its alert is delivered and nothing is armed.
        deadline = time.monotonic() + 60
        while actions.stats["acted"] < 1:  # read, trusted, handled
            assert time.monotonic() < deadline, dict(actions.stats)
            time.sleep(0.05)
        assert worker.call(partial(actions.drain, 30.0), timeout=35.0) == 0
        assert actions.stats["acted"] == 1
    assert reserved_concurrency(aws, FUNCTION) == 25
    (told,) = alerts(httpserver)
    assert told["action"]["outcomes"] == []
    assert "released at" in told["action"]["summary"]
    assert "loopwatch release" in told["action"]["summary"]  # who released it

    # 2. A new app id over the old topics, on a new host (no ledger file): its group starts
    #    at the end of the findings topic, and its ledger learns from the signed audit
    #    stream that the incident was released. It finds the loop again from the records.
    httpserver.clear_log()
    before = sum(kafka_broker.end_offsets(findings_topic).values())
    new_host = settings.model_copy(
        update={
            "app_id": f"lw-new-{uuid.uuid4().hex[:8]}",
            "ledger_path": str(tmp_path / "new-host" / "ledger.json"),
            "data_dir": str(tmp_path / "new-host"),
        }
    )
    with running_worker(new_host, kafka_broker) as worker:
        worker.wait_applied(kafka_broker)  # the whole cloudtrail topic again
        worker.read_findings(kafka_broker)
        worker.wait_acted(kafka_broker)
        actions = worker.service.actions
        assert actions is not None and actions.stats["history"] == before
        found = worker.service.processor.metrics.findings
        assert sum(found.values()) >= 1  # the loop was found again, and its findings read
    assert reserved_concurrency(aws, FUNCTION) == 25
    said = [a["action"]["summary"] for a in alerts(httpserver) if a["status"] == ACTIVE]
    assert said and all("released at" in s for s in said)
    remembered = JsonFileLedger(tmp_path / "new-host" / "ledger.json").acted(escalated["incident"])
    assert [a.what for a in remembered] == [THROTTLED, RELEASED]


def test_records_from_october_read_in_december_alert_as_history_and_never_throttle(
    kafka_broker: Broker, httpserver: HTTPServer, aws: MotoServer, tmp_path: Path
) -> None:
    """A worker catching up on old records (a new group over a long-lived topic, a backlog
    shipped late) still tells people of the loop, but does not act on the past."""
    settings = enforcing(aws, kafka_broker, httpserver, tmp_path)
    # The topology's own start: 2026-10-05, months before these tests run.
    sim = write_simulation(resolve_topology("sqs-loop"), tmp_path / "sim", account=ACCOUNT)
    with running_worker(settings, kafka_broker) as worker:
        asyncio.run(ship([str(sim.out_dir)], settings))
        worker.wait_applied(kafka_broker)
        worker.read_findings(kafka_broker)
        worker.wait_acted(kafka_broker)
        values = read_all(kafka_broker, settings.topic("findings"))
    assert reserved_concurrency(aws, FUNCTION) == 25
    assert audits(values) == []
    (told,) = alerts(httpserver)
    assert told["status"] == ACTIVE and told["action"]["outcomes"] == []
    assert "history" in told["action"]["summary"]
    assert "LOOPWATCH_ACT_MAX_AGE_SECONDS" in told["action"]["summary"]


def loop_finding(time: float) -> LoopFinding:
    return LoopFinding(
        "inc-age", ESCALATED, ACTIVE, ("arn:aws:sqs:us-east-1:123456789012:jobs", FUNCTION),
        (FUNCTION,), time - 10, time, time, 3, 1.0, False,
        "function sends to queue jobs, which invokes it", "send results to another queue",
    )  # fmt: skip


@pytest.mark.parametrize(("age", "history"), [(0.0, False), (900.0, False), (901.0, True)])
def test_the_age_limit_is_event_time_against_the_wall_clock(age: float, history: bool) -> None:
    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        raise AssertionError("nothing is sent")

    finding = loop_finding(1_800_000_000.0)
    live = LiveActions(Settings(), send, clock=lambda: finding.time + age)
    why = live._history(finding)
    assert (why is not None) == history
    if why is not None:
        assert "history" in why and "LOOPWATCH_ACT_MAX_AGE_SECONDS=900" in why


def test_the_ledger_file_remembers_what_was_acted_on_and_reads_a_version_1_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps({"version": 1, "holds": []}))  # written by an older loopwatch
    ledger = JsonFileLedger(path)
    assert ledger.acted("inc-1") == []
    ledger.remember(Acted("inc-1", THROTTLED, 10.0, "loopwatch@a", 5.0))
    ledger.remember(Acted("inc-1", RELEASED, 20.0, "alice@desk (loopwatch release)"))
    again = JsonFileLedger(path)  # another process, or after a restart
    assert [(a.what, a.by, a.episode) for a in again.acted("inc-1")] == [
        (THROTTLED, "loopwatch@a", 5.0),
        (RELEASED, "alice@desk (loopwatch release)", None),
    ]
    assert again.acted("inc-2") == []


def test_only_signed_audit_records_say_what_was_acted_on() -> None:
    key, other = RecordKey(b"k" * 32), RecordKey(b"o" * 32)
    record = {
        "kind": "audit", "action": "release", "result": "released", "function": FUNCTION,
        "account": ACCOUNT, "incident": "inc-1", "previous": 0, "new": 25, "mode": "release",
        "who": "alice", "at": "2026-12-08T00:00:00Z", "reason": "restored",
    }  # fmt: skip
    genuine = orjson.loads(seal(record, key))
    forged = orjson.loads(seal({**record, "incident": "inc-2"}, other))
    acted = acted_from_audit([genuine, forged, {**record, "incident": "inc-3"}], key)
    assert [(a.incident, a.what, a.by) for a in acted] == [("inc-1", RELEASED, "alice")]
    # A forged "released" would stop loopwatch acting on a real loop: it is not remembered.
    ledger = MemoryLedger()
    ledger.remember(*acted)
    assert ledger.acted("inc-2") == []
