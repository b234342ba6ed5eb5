"""Forged records on the real broker's findings topic change nothing (DESIGN §6).

forged audit "held, was 900" (unsigned; another key) ─┐
forged active loop on `victim` (unsigned; another key) ┴► <prefix>.findings
worker (enforce, its own key) starts: rebuild ignores them, the agent dead-letters them
ship sqs-loop ──► worker ──► moto: `worker` throttled (was 25); `victim` untouched
loopwatch release worker ──► back to 25, never the forged 900
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pytest_httpserver import HTTPServer

from loopwatch.actions.auditlog import holds_from_audit
from loopwatch.actions.ledger import JsonFileLedger
from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE, ESCALATED, LoopFinding, finding_json
from loopwatch.service.audit import read_audit
from loopwatch.service.ship import ship
from loopwatch.service.topics import ALL
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset
from loopwatch.testing.worker import enforcing_settings, fresh_start, read_until, running_worker
from loopwatch.topology import resolve_topology, write_simulation
from loopwatch.trust import BAD_SIGNATURE, UNSIGNED, RecordKey, check, key_from_settings, seal

ACCOUNT = "123456789012"  # moto's default account: the simulated function exists there
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"
VICTIM = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:victim"
ANOTHER_KEY = RecordKey(b"a-key-that-is-not-the-deployments")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    with moto_server() as server:
        reset(server)
        point_at(server, monkeypatch)
        yield server


def forged_hold() -> dict[str, object]:
    """What the attack in the brief wrote: "loopwatch holds `worker`, it had 900"."""
    return {
        "kind": "audit",
        "action": "throttle",
        "result": "throttled",
        "function": FUNCTION,
        "account": ACCOUNT,
        "incident": "forged",
        "previous": 900,
        "new": 0,
        "mode": "enforce",
        "who": "loopwatch@w1",
        "at": "2026-10-05T13:00:00Z",
        "reason": "reserved concurrency set to 0 (was 900)",
    }


def forged_loop() -> dict[str, object]:
    """An active, confirmed loop through `victim`, which no log ever showed."""
    loop = LoopFinding(
        incident="forged-incident",
        change=ESCALATED,
        status=ACTIVE,
        cycle=("arn:aws:s3:::uploads", VICTIM),
        functions=(VICTIM,),
        first_seen=1791208800.0,
        detected_at=1791208809.0,
        time=1791208809.0,
        traversals=9,
        gain=1.0,
        guarded=False,
        explanation="victim writes to uploads, which invokes it",
        fix="nothing: this loop is made up",
    )
    return finding_json(loop, ACCOUNT)


def test_forged_records_change_no_hold_act_on_nothing_and_the_real_loop_is_still_stopped(
    kafka_broker: Broker,
    httpserver: HTTPServer,
    aws: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_function(aws, "worker", reserved=25)
    create_function(aws, "victim", reserved=10)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    ledger_path = tmp_path / "ledger.json"  # absent: the worker rebuilds from the topic
    settings = enforcing_settings(kafka_broker, tmp_path, httpserver.url_for("/hook"))
    key = key_from_settings(settings)
    assert key is not None
    findings_topic, deadletter_topic = settings.topic("findings"), settings.topic("deadletter")
    kafka_broker.create_topics({settings.topic(name): settings.partitions for name in ALL})
    forgeries = [
        (FUNCTION.encode(), orjson.dumps(forged_hold())),
        (FUNCTION.encode(), seal(forged_hold(), ANOTHER_KEY)),
        (b"forged-incident", orjson.dumps(forged_loop())),
        (b"forged-incident", seal(forged_loop(), ANOTHER_KEY)),
    ]
    # On the topic before the worker starts: what its ledger rebuild reads (and must refuse).
    kafka_broker.produce(findings_topic, forgeries)
    sim = write_simulation(
        resolve_topology("sqs-loop"), tmp_path / "sim", account=ACCOUNT, start=fresh_start()
    )  # live: records fresh enough to act on

    def throttles(values: list[Any]) -> list[Any]:
        return [v for v in values if v.get("kind") == "audit" and check(v, key) is None]

    with running_worker(settings, kafka_broker) as worker:
        # A new consumer group starts at the end of the findings topic: the forgeries before
        # it are history to it. The same forgeries again, now, reach the actions agent.
        kafka_broker.produce(findings_topic, forgeries)
        letters = read_until(kafka_broker, deadletter_topic, lambda vs: len(vs) >= 4, timeout=30)
        asyncio.run(ship([str(sim.out_dir)], settings))
        values = read_until(
            kafka_broker, findings_topic, lambda vs: bool(throttles(vs)), timeout=45
        )
        actions = worker.service.actions
        assert actions is not None and actions.stats["refused"] == 4
        assert actions.stats["history"] == 4

    # Each forged record was dead-lettered with its reason, never acted on.
    assert sorted((d["reason"], d["key"]) for d in letters) == [
        (BAD_SIGNATURE, FUNCTION),
        (BAD_SIGNATURE, "forged-incident"),
        (UNSIGNED, FUNCTION),
        (UNSIGNED, "forged-incident"),
    ]
    assert reserved_concurrency(aws, VICTIM) == 10
    assert all(VICTIM not in json.loads(r.get_data())["functions"] for r, _ in httpserver.log)
    # The real loop was not "already held": it was throttled, and the hold has its real value.
    assert reserved_concurrency(aws, FUNCTION) == 0
    ((audit_record),) = throttles(values)
    assert (audit_record["action"], audit_record["result"], audit_record["previous"]) == (
        "throttle",
        "throttled",
        25,
    )
    assert [(h.function, h.previous) for h in JsonFileLedger(ledger_path).holds()] == [
        (FUNCTION, 25)
    ]
    # What a worker publishes is signed: its findings as much as its audit records.
    loops = [v for v in values if v.get("kind") == "loop" and v["incident"] != "forged-incident"]
    assert [v["change"] for v in loops] == ["opened", "escalated"]
    assert all(check(v, key) is None for v in loops)
    # Read back from the broker, only the worker's own record counts.
    records = asyncio.run(read_audit(settings, key))
    assert [r["previous"] for r in records] == [25]
    assert {f: h.previous for f, h in holds_from_audit(records, key).items()} == {FUNCTION: 25}

    for name, value in {
        "LOOPWATCH_LEDGER_PATH": str(ledger_path),
        "LOOPWATCH_KAFKA_BROKER": settings.kafka_broker or "",
        "LOOPWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "LOOPWATCH_STATE_SECRET": key.secret.decode(),
    }.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["release", "worker"]) == 0
    assert capsys.readouterr().out == f"released {FUNCTION}: reserved concurrency restored to 25\n"
    assert reserved_concurrency(aws, FUNCTION) == 25
    # The release's own record is signed, so a rebuild from the topic now holds nothing.
    records = asyncio.run(read_audit(settings, key))
    assert [r["action"] for r in records] == ["throttle", "release"]
    assert holds_from_audit(records, key) == {}
