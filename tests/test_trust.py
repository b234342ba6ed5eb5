"""Signed internal records (DESIGN §6): what a worker signs, what it refuses, and what a worker
without a secret does; forged records never become holds or actions (moto, no broker)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator

import orjson
import pytest

from loopwatch.actions import Actions, MemoryLedger
from loopwatch.actions import outcomes as o
from loopwatch.actions.auditlog import holds_from_audit
from loopwatch.detect.findings import ACTIVE, ESCALATED, LoopFinding, finding_json
from loopwatch.service.act import LiveActions
from loopwatch.service.worker import run_worker
from loopwatch.settings import Settings
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.lambdas import create_function, emulator_access, reserved_concurrency, reset
from loopwatch.trust import BAD_SIGNATURE, UNSIGNED, RecordKey, check, seal, trusted

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumb"
SECRET = "this-deployments-state-secret"
KEY = RecordKey(SECRET.encode())
OTHER = RecordKey(b"some-other-deployments-secret")

LOOP = LoopFinding(
    incident="inc-9",
    change=ESCALATED,
    status=ACTIVE,
    cycle=("arn:aws:s3:::uploads", FN),
    functions=(FN,),
    first_seen=1791208800.0,
    detected_at=1791208809.0,
    time=1791208809.0,
    traversals=3,
    gain=1.0,
    guarded=False,
    explanation="thumb writes to uploads, which invokes it",
    fix="write elsewhere",
    rates=((FN, 240.5),),
)


def throttle_record(previous: int, at: str = "2026-10-05T14:00:09Z") -> dict[str, object]:
    return {
        "kind": "audit",
        "action": "throttle",
        "result": o.THROTTLED,
        "function": FN,
        "account": ACCOUNT,
        "incident": "inc-9",
        "previous": previous,
        "new": 0,
        "mode": "enforce",
        "who": "loopwatch@w1",
        "at": at,
        "reason": "reserved concurrency set to 0",
    }


def release_record(at: str) -> dict[str, object]:
    return {**throttle_record(25, at), "action": "release", "result": o.RELEASED, "new": 25}


def read(value: bytes) -> dict[str, object]:
    document: dict[str, object] = orjson.loads(value)
    return document


def test_a_signed_record_checks_whatever_its_key_order_and_spacing() -> None:
    record = read(seal(finding_json(LOOP, ACCOUNT), KEY))
    assert str(record["sig"]).startswith("v1=") and len(str(record["sig"])) == 3 + 64
    assert check(record, KEY) is None
    # Another producer's JSON of the same record (reversed keys, spaces) is still the record.
    respelled = json.dumps(dict(reversed(list(record.items()))), indent=2).encode()
    assert trusted(respelled, KEY) == (record, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (orjson.dumps(finding_json(LOOP, ACCOUNT)), UNSIGNED),
        (seal(finding_json(LOOP, ACCOUNT), OTHER), BAD_SIGNATURE),
        (b"not json", UNSIGNED),
        (b"[1, 2]", UNSIGNED),
        (orjson.dumps({**finding_json(LOOP, ACCOUNT), "sig": 7}), BAD_SIGNATURE),
    ],
)
def test_unsigned_and_badly_signed_values_are_refused(value: bytes, reason: str) -> None:
    assert trusted(value, KEY)[1] == reason


def test_changing_any_field_of_a_signed_record_breaks_its_signature() -> None:
    record = read(seal(throttle_record(25), KEY))
    for field, value in [("previous", 900), ("function", FN + "x"), ("mode", "dry-run")]:
        assert check({**record, field: value}, KEY) == BAD_SIGNATURE
    extra = {**record, "mappings": ["u-1"]}  # a field added is a field changed
    assert check(extra, KEY) == BAD_SIGNATURE


def test_the_secret_must_be_long_enough_and_is_never_shown() -> None:
    assert RecordKey.from_secret(None) is None and RecordKey.from_secret("") is None
    with pytest.raises(ValueError, match="at least 16"):
        RecordKey.from_secret("short")
    key = RecordKey.from_secret(SECRET)
    assert key is not None and SECRET not in repr(key)


def test_only_signed_audit_records_become_holds_and_a_replayed_one_counts_once() -> None:
    forged = [
        throttle_record(900),  # unsigned
        read(seal(throttle_record(900), OTHER)),  # another key
        {**read(seal(throttle_record(25), KEY)), "previous": 900},  # a signed one, altered
    ]
    assert holds_from_audit(forged, KEY) == {}
    genuine = read(seal(throttle_record(25), KEY))
    (hold,) = holds_from_audit([*forged, genuine], KEY).values()
    assert (hold.function, hold.previous) == (FN, 25)
    released = read(seal(release_record("2026-10-05T15:00:00Z"), KEY))
    # The genuine throttle record produced again after its release brings no hold back.
    assert holds_from_audit([genuine, released, genuine], KEY) == {}


def test_enforce_without_a_secret_or_with_a_short_one_refuses_to_start() -> None:
    err = io.StringIO()
    assert (
        run_worker(Settings(kafka_broker="127.0.0.1:1", throttle_mode="enforce"), stderr=err) == 2
    )
    (line,) = err.getvalue().splitlines()
    assert line.startswith("loopwatch worker: LOOPWATCH_THROTTLE_MODE=enforce needs")
    assert "LOOPWATCH_STATE_SECRET" in line
    err = io.StringIO()
    short = Settings(kafka_broker="127.0.0.1:1", alert_urls="https://a.example/h", state_secret="x")
    assert run_worker(short, stderr=err) == 2
    assert "at least 16" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1


def test_without_a_secret_no_hold_is_rebuilt_and_a_warning_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        raise AssertionError("nothing is sent")

    # No broker configured: a read of the topic would fail with another message.
    live = LiveActions(Settings(alert_urls="https://alerts.example/hook"), send)
    ledger = MemoryLedger()
    with caplog.at_level(logging.WARNING, "loopwatch.service.act"):
        assert asyncio.run(live.rebuild(ledger)) == 0
    assert ledger.holds() == []
    assert "no hold rebuilt" in caplog.text and "LOOPWATCH_STATE_SECRET is not set" in caplog.text


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


def test_a_forged_finding_is_dead_lettered_and_never_acted_on(server: MotoServer) -> None:
    reset(server)
    create_function(server, "thumb", reserved=25)
    sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        sent.append((topic, key, value))

    forged = [
        orjson.dumps(finding_json(LOOP, ACCOUNT)),
        seal(finding_json(LOOP, ACCOUNT), OTHER),
        orjson.dumps({**read(seal(finding_json(LOOP, ACCOUNT), KEY)), "incident": "inc-10"}),
    ]

    async def run() -> list[object]:
        # Acting at once: a forged finding must not even arm a throttle.
        settings = Settings(throttle_mode="enforce", state_secret=SECRET, act_after_seconds=0)
        ledger = MemoryLedger()
        live = LiveActions(settings, send, ledger=ledger, access=emulator_access(server))
        async with Actions.from_settings(
            settings, ledger=ledger, access=emulator_access(server)
        ) as actions:
            return [
                await live.handle(actions, value, key=b"inc-9", partition=1, offset=n)
                for n, value in enumerate(forged)
            ]

    assert asyncio.run(run()) == [None, None, None]
    assert reserved_concurrency(server, FN) == 25
    letters = [read(value) for topic, _, value in sent]
    assert {topic for topic, _, _ in sent} == {"deadletter"}
    assert [(d["reason"], d["offset"], d["key"]) for d in letters] == [
        (UNSIGNED, 0, "inc-9"),
        (BAD_SIGNATURE, 1, "inc-9"),
        (BAD_SIGNATURE, 2, "inc-9"),
    ]
    assert base64.b64decode(str(letters[0]["value_b64"])) == forged[0]  # the evidence
