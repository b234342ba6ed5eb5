"""The pieces of acting in the service, without a broker: findings back from JSON, holds
rebuilt from audit records, the shared ledger file, and the agent's per-message work."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loopwatch.actions import (
    ActionReport,
    Actions,
    Hold,
    JsonFileLedger,
    MemoryLedger,
    idempotency_key,
)
from loopwatch.actions import outcomes as o
from loopwatch.actions.auditlog import holds_from_audit
from loopwatch.detect.findings import (
    ACTIVE,
    ESCALATED,
    LoopFinding,
    RunawayFinding,
    finding_from_json,
    finding_json,
)
from loopwatch.service.act import LiveActions, actions_wanted, merge_audit
from loopwatch.settings import Settings
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.lambdas import create_function, emulator_access, reserved_concurrency, reset
from loopwatch.trust import RecordKey, check, seal

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumb"

LOOP = LoopFinding(
    incident="inc-7",
    change=ESCALATED,
    status=ACTIVE,
    cycle=("arn:aws:s3:::uploads", FN),
    functions=(FN,),
    first_seen=1791208800.25,
    detected_at=1791208809.0,
    time=1791208809.0,
    traversals=3,
    gain=1.0,
    guarded=False,
    explanation="thumb writes to uploads, which invokes it",
    fix="write elsewhere",
)
RUNAWAY = RunawayFinding(FN, 1791208900.0, 240.0, 2.1, "growth")


def test_findings_come_back_from_their_json_with_the_same_idempotency_key() -> None:
    for finding in (LOOP, RUNAWAY):
        document = orjson.loads(orjson.dumps(finding_json(finding, ACCOUNT)))
        rebuilt, account = finding_from_json(document)
        assert (rebuilt, account) == (finding, ACCOUNT)
        assert idempotency_key(rebuilt, account) == idempotency_key(finding, ACCOUNT)


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "audit", "function": FN},
        {"kind": "loop", "incident": "x"},
        {**finding_json(LOOP), "first_seen": "yesterday"},
        {**finding_json(LOOP), "traversals": "3"},
    ],
)
def test_what_is_not_a_finding_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        finding_from_json(document)


KEY = RecordKey(b"the-deployment-state-secret")


def audit(action: str, result: str, *, mode: str = "enforce", **more: object) -> dict[str, object]:
    """An audit record as a worker of this deployment publishes it (signed)."""
    return signed(
        {
            "kind": "audit",
            "action": action,
            "result": result,
            "function": FN,
            "account": ACCOUNT,
            "incident": "inc-7",
            "previous": 25,
            "new": 0,
            "mode": mode,
            "who": "loopwatch@w1 as role",
            "at": "2026-10-05T14:00:09Z",
            "reason": "…",
            **more,
        }
    )


def signed(document: dict[str, object]) -> dict[str, object]:
    record: dict[str, object] = orjson.loads(seal(document, KEY))
    return record


def test_holds_are_the_enforced_throttles_not_released_since() -> None:
    throttled = audit("throttle", o.THROTTLED)
    mapping = audit("disable-mapping", o.THROTTLED, reason="event source mapping u-1 disabled")
    (hold,) = holds_from_audit([{"kind": "loop"}, throttled, mapping], KEY).values()
    assert hold == Hold(FN, ACCOUNT, "inc-7", 25, 1791208809.0, "loopwatch@w1 as role", ("u-1",))
    assert holds_from_audit([throttled, audit("release", o.RELEASED)], KEY) == {}
    assert holds_from_audit([throttled, audit("release", o.GONE)], KEY) == {}
    # A failed release keeps the hold; dry-run, refusals and malformed records make none.
    assert list(holds_from_audit([throttled, audit("release", o.FAILED)], KEY)) == [FN]
    assert holds_from_audit([audit("throttle", o.WOULD_THROTTLE, mode="dry-run")], KEY) == {}
    assert holds_from_audit([audit("throttle", o.RATE_LIMITED)], KEY) == {}
    assert holds_from_audit([audit("throttle", o.THROTTLED, previous="25")], KEY) == {}
    assert holds_from_audit([audit("throttle", o.THROTTLED, at=None)], KEY) == {}


def test_merge_keeps_the_file_where_both_know_a_function() -> None:
    ledger = MemoryLedger()
    mine = Hold(FN, ACCOUNT, "inc-7", 10, 5.0, "file")
    ledger.put(mine)
    other = FN.replace("thumb", "resize")
    records = [audit("throttle", o.THROTTLED), audit("throttle", o.THROTTLED, function=other)]
    assert merge_audit(ledger, records, KEY) == 1
    assert ledger.get(FN) == mine
    held = ledger.get(other)
    assert held is not None and held.previous == 25


def test_the_ledger_file_is_shared_without_resurrecting_or_losing_holds(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    worker, cli = JsonFileLedger(path), JsonFileLedger(path)
    first = Hold(FN, ACCOUNT, "inc-7", 25, 1.0, "w")
    worker.put(first)
    assert cli.get(FN) == first  # the CLI sees what the worker wrote after it opened
    cli.remove(FN)
    second = Hold(FN.replace("thumb", "resize"), ACCOUNT, "inc-8", None, 2.0, "w")
    worker.put(second)  # the worker's write must not bring the released hold back
    assert JsonFileLedger(path).holds() == [second]


def test_the_agent_runs_only_with_something_to_act_with() -> None:
    assert not actions_wanted(Settings())
    assert actions_wanted(Settings(alert_urls="http://127.0.0.1:1/hook"))
    assert actions_wanted(Settings(throttle_mode="enforce"))


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


def test_the_agent_acts_once_per_finding_and_publishes_its_audit(server: MotoServer) -> None:
    reset(server)
    create_function(server, "thumb", reserved=25)
    sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        sent.append((topic, key, value))

    async def run() -> list[ActionReport | None]:
        ledger = MemoryLedger()
        settings = Settings(
            throttle_mode="enforce", state_secret=KEY.secret.decode(), act_after_seconds=0
        )
        # Read a minute after its records: fresh enough to act on (LOOPWATCH_ACT_MAX_AGE_SECONDS).
        live = LiveActions(
            settings,
            send,
            ledger=ledger,
            access=emulator_access(server),
            clock=lambda: LOOP.time + 60,
        )
        value = seal(finding_json(LOOP, ACCOUNT), KEY)
        async with Actions.from_settings(
            settings, ledger=ledger, access=emulator_access(server)
        ) as actions:
            return [
                await live.handle(actions, value),
                await live.handle(actions, value),  # redelivered
                await live.handle(actions, sent[0][2] if sent else b"{}"),  # its own audit
                await live.handle(actions, b"not json"),
            ]

    first, again, own, junk = asyncio.run(run())
    assert first is not None and not first.folded
    assert again is not None and again.folded
    assert own is None and junk is None
    assert reserved_concurrency(server, FN) == 0
    # Its own audit record is signed, so it is skipped; the junk carries no signature.
    (topic, key, value), (dead_topic, _, dead_value) = sent
    assert (dead_topic, orjson.loads(dead_value)["reason"]) == ("deadletter", "unsigned")
    record = orjson.loads(value)
    assert check(record, KEY) is None
    assert (topic, key) == ("findings", FN.encode())
    assert (record["kind"], record["action"], record["result"], record["previous"]) == (
        "audit",
        "throttle",
        "throttled",
        25,
    )


def test_a_worker_with_an_alert_url_that_is_not_http_refuses_to_start() -> None:
    import io

    from loopwatch.service.worker import run_worker

    settings = Settings(kafka_broker="127.0.0.1:1", alert_urls="ftp://example.com/x")
    err = io.StringIO()
    assert run_worker(settings, stderr=err) == 2
    assert "alert URL must be http(s)" in err.getvalue()
    assert "example.com" not in err.getvalue()  # URLs are secrets
