"""The web views against a real broker: the bearer token, the latency and lag metrics, and the
worker's logs as JSON lines."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopwatch.service.ship import ship
from loopwatch.testing.broker import Broker
from loopwatch.testing.worker import (
    InProcessWorker,
    read_until,
    running_worker,
    worker_process,
    worker_settings,
)
from loopwatch.topology import resolve_topology, write_simulation

TOKEN = "s3cret-token"
ACCOUNT = "220000000001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def worker(
    kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[InProcessWorker, list[Any], float]]:
    """A worker with a web token that has caught a simulated loop: the worker, the findings,
    and the newest event time shipped (epoch seconds)."""
    tmp = tmp_path_factory.mktemp("web")
    settings = worker_settings(kafka_broker, tmp / "data", web_token=TOKEN)
    # Ten minutes ago, so the lag is real event time and not the simulator's default date.
    start = datetime.now(UTC) - timedelta(minutes=10)
    sim = write_simulation(
        resolve_topology("s3-self-loop"), tmp / "sim", start=start, account=ACCOUNT
    )
    with running_worker(settings, kafka_broker) as running:
        asyncio.run(ship([str(sim.out_dir)], settings))
        findings = read_until(
            kafka_broker,
            settings.topic("findings"),
            lambda values: any(v.get("status") == "active" for v in values),
            timeout=30,
        )
        yield running, findings, newest_event_time(sim.out_dir)


def newest_event_time(folder: Path) -> float:
    times = [
        datetime.fromisoformat(record["eventTime"]).timestamp()
        for path in folder.rglob("*.json.gz")
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]
    return max(times)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize("path", ["/loops", "/graph?account=" + ACCOUNT, "/metrics", "/"])
def test_views_need_the_bearer_token(
    worker: tuple[InProcessWorker, list[Any], float], path: str
) -> None:
    running, _, _ = worker
    status, body = running.get(path)
    assert status == 401
    assert orjson.loads(body) == {"error": "send Authorization: Bearer <LOOPWATCH_WEB_TOKEN>"}
    assert running.get(path, {"Authorization": "Bearer wrong"})[0] == 401
    assert running.get(path, {"Authorization": TOKEN})[0] == 401  # the scheme is required
    assert running.get(path, AUTH)[0] == 200


@pytest.mark.parametrize(
    "value",
    [b"Bearer \xff\xfe", b"\xff", "Bearer s3cret-tökén".encode("latin-1")],
    ids=["latin-1 bytes after the scheme", "one byte", "the token in latin-1"],
)
def test_an_authorization_header_of_any_bytes_is_refused_without_a_traceback(
    worker: tuple[InProcessWorker, list[Any], float],
    caplog: pytest.LogCaptureFixture,
    value: bytes,
) -> None:
    running, _, _ = worker
    status, body = raw_get(running.url, "/loops", [("Authorization", value)])
    assert status == 401, body
    assert orjson.loads(body) == {"error": "send Authorization: Bearer <LOOPWATCH_WEB_TOKEN>"}
    # The same connection path still serves the right token: the refusal was an answer.
    assert raw_get(running.url, "/loops", [("Authorization", f"Bearer {TOKEN}".encode())])[0] == 200
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def raw_get(url: str, path: str, headers: list[tuple[str, bytes]]) -> tuple[int, bytes]:
    """A GET whose header values go on the wire as the bytes given (urllib would encode them)."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=5)
    try:
        connection.putrequest("GET", path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_health_stays_open_for_probes(worker: tuple[InProcessWorker, list[Any], float]) -> None:
    running, _, _ = worker
    status, body = running.get("/health")
    assert status == 200 and orjson.loads(body)["ready"] is True


def test_latency_of_each_finding_and_lag_agree_with_health(
    worker: tuple[InProcessWorker, list[Any], float],
) -> None:
    running, findings, newest = worker
    scraped = time.time()
    status, body = running.get("/metrics", AUTH)
    assert status == 200
    got = samples(body.decode())
    health = orjson.loads(running.get("/health")[1])
    # Every finding so far came out of a message (the loop closes inside the shipped records),
    # so each has a produce→finding latency; a handful of seconds at most on this machine.
    published = sum(v for (name, _), v in got.items() if name == "loopwatch_findings_total")
    assert published >= len(findings) >= 2
    count = got[("loopwatch_finding_latency_seconds_count", ())]
    assert 1 <= count <= published
    assert 0 < got[("loopwatch_finding_latency_seconds_sum", ())] / count < 10
    # Lag: wall clock minus the newest event shipped (minutes old), and /health agrees.
    lag = got[("loopwatch_processing_lag_seconds", ())]
    account_lag = got[("loopwatch_account_lag_seconds", (("account", ACCOUNT),))]
    assert lag > 60 and abs(lag - (scraped - newest)) < 5
    assert abs(account_lag - lag) < 5
    assert abs(health["lag_seconds"] - lag) < 5
    assert got[("loopwatch_input_lag_messages", ())] == health["lag"] == 0


def test_a_worker_process_logs_json_lines(kafka_broker: Broker, tmp_path: Path) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data")
    with worker_process(settings) as proc:
        proc.wait_ready()
        assert proc.terminate() == 0
        output = proc.output(limit=200_000)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the worker logged nothing"
    records = [orjson.loads(line) for line in lines]  # raises on any line that is not JSON
    assert all({"event", "level", "logger", "timestamp"} <= set(r) for r in records)
    assert any(r["logger"].startswith("faust") for r in records)
