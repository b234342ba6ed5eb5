"""The worker's inventory (DESIGN §9) against the AWS emulator and the real broker: a loop on a
mapping its logs never show is active and confirmed, read from AWS in the background or from a
snapshot file — and the near miss AWS recommends is never called a loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from loopwatch.cli import main
from loopwatch.service.ship import ship
from loopwatch.testing import records as r
from loopwatch.testing.aws import REGION, MotoServer
from loopwatch.testing.broker import Broker
from loopwatch.testing.predates import near_miss, sqs_loop
from loopwatch.testing.worker import read_until, running_worker, worker_settings


@pytest.fixture
def aws(ambient_aws: MotoServer) -> MotoServer:
    return ambient_aws


@pytest.mark.parametrize("source", ["aws", "file"])
def test_a_loop_configured_before_its_logs_is_confirmed_and_the_near_miss_never_active(
    kafka_broker: Broker, aws: MotoServer, tmp_path: Path, source: str
) -> None:
    logs = [*sqs_loop(aws, runs=8), *near_miss(aws)]
    r.write_log(tmp_path / "logs" / "trail.json", logs)
    spec = "aws"
    if source == "file":
        spec = str(tmp_path / "inventory.json")
        assert main(["inventory", "--out", spec]) == 0
    settings = worker_settings(kafka_broker, tmp_path / "data", inventory=spec)
    with running_worker(settings, kafka_broker):
        asyncio.run(ship([str(tmp_path / "logs")], settings))

        def confirmed_active(findings: list[Any]) -> bool:
            return any(f.get("status") == "active" and f.get("confirmed") for f in findings)

        findings = read_until(kafka_broker, settings.topic("findings"), confirmed_active)
    loops = [f for f in findings if f.get("kind") == "loop"]
    active = {frozenset(f["cycle"]) for f in loops if f["status"] == "active"}
    assert active == {
        frozenset(
            {
                f"arn:aws:sqs:{REGION}:123456789012:jobs",
                f"arn:aws:lambda:{REGION}:123456789012:function:worker",
            }
        )
    }
    assert not any("resizer" in " ".join(f["cycle"]) and f["status"] == "active" for f in loops)
