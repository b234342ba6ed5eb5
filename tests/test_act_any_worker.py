"""Whichever worker reads a finding can act on it (DESIGN §6): the finding carries its mappings
and rates. Highest-rate throttling and mapping disabling, against the emulator's real resources,
with two workers in one group and offline with ``replay --act``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loopwatch.cli import main
from loopwatch.net import free_port
from loopwatch.service.ship import ship
from loopwatch.testing import records as r
from loopwatch.testing.aws import MotoServer
from loopwatch.testing.broker import Broker
from loopwatch.testing.lambdas import reserved_concurrency
from loopwatch.testing.relay import RelayLoop, mapping_state, relay_loop
from loopwatch.testing.worker import (
    fresh_time,
    read_all,
    read_until,
    wait_handled,
    worker_process,
    worker_settings,
)


@pytest.fixture
def aws(ambient_aws: MotoServer) -> MotoServer:
    return ambient_aws


def assert_only_the_busiest_was_stopped(aws: MotoServer, loop: RelayLoop) -> None:
    assert reserved_concurrency(aws, loop.pump) == 0
    assert mapping_state(aws, loop.pump_mapping) in ("Disabled", "Disabling")
    assert reserved_concurrency(aws, loop.relay) == 10
    assert mapping_state(aws, loop.relay_mapping) in ("Enabled", "Creating")


def test_two_workers_in_a_group_either_can_throttle_the_busiest_and_disable_its_mapping(
    kafka_broker: Broker, aws: MotoServer, tmp_path: Path
) -> None:
    loop = relay_loop(aws, start=fresh_time())  # live: records fresh enough to act on
    r.write_log(tmp_path / "logs" / "relay.json", loop.records)
    settings = worker_settings(
        kafka_broker,
        tmp_path / "data",
        partitions=2,
        throttle_mode="enforce",
        throttle_policy="highest-rate",
        throttle_disable_mappings=True,
        act_after_seconds=0,  # acting itself; the act guard has its own tests
        ledger_path=str(tmp_path / "ledger.json"),
    )
    other = settings.model_copy(update={"web_port": free_port()})
    with worker_process(settings, wait=False) as one, worker_process(other, wait=False) as two:
        one.wait_ready()
        two.wait_ready()
        asyncio.run(ship([str(tmp_path / "logs")], settings))
        findings = settings.topic("findings")
        read_until(
            kafka_broker, findings, lambda vs: any(v.get("kind") == "audit" for v in vs), timeout=45
        )
        # The group through every finding (a throttle's audit record is sent before the offset
        # of its finding is committed): the audit records there now are all there will be.
        wait_handled(kafka_broker, findings, settings.app_id)
        audits = read_all(kafka_broker, findings)
        holding = [one.json("/health")["accounts"], two.json("/health")["accounts"]]
    assert sorted(holding) == [0, 1]  # one worker holds the account; either may have acted
    throttled = [
        v["function"]
        for v in audits
        if v.get("kind") == "audit" and v["action"] == "throttle" and v["result"] == "throttled"
    ]
    assert throttled == [loop.pump]
    assert_only_the_busiest_was_stopped(aws, loop)


def test_replay_act_throttles_the_busiest_and_disables_its_mapping(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = relay_loop(aws)
    log = r.write_log(tmp_path / "relay.json", loop.records)
    monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(tmp_path / "ledger.json"))
    monkeypatch.setenv("LOOPWATCH_THROTTLE_POLICY", "highest-rate")
    monkeypatch.setenv("LOOPWATCH_THROTTLE_DISABLE_MAPPINGS", "true")
    code = main(["replay", "--act", "--throttle", "enforce", "--format", "json", str(log)])
    assert code == 1  # an active loop was found
    assert_only_the_busiest_was_stopped(aws, loop)
