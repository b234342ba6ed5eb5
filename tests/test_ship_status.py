"""``loopwatch ship`` says what it does: a start line, errors as they happen, a summary a
minute, a bar on a terminal; usage errors are one line; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import io
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from loopwatch.cli import main
from loopwatch.service.ship import ship
from loopwatch.service.ship_status import ShipStats, ShipStatus
from loopwatch.settings import Settings
from loopwatch.testing import records as r
from loopwatch.testing.aws import DUMMY, REGION, moto_server
from loopwatch.testing.broker import Broker
from loopwatch.testing.trail import notified_trail, trail_files


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def settings_for(broker: Broker) -> Settings:
    return Settings(kafka_broker=broker.bootstrap, topic_prefix=f"st-{uuid.uuid4().hex[:8]}")


def test_start_line_errors_as_they_happen_and_a_summary_each_minute(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    r.write_log(tmp_path / "a.json.gz", r.s3_self_loop(writes=2))
    (tmp_path / "b.json").write_text("{not json")
    r.write_log(tmp_path / "c.json.gz", r.s3_self_loop(writes=3))
    minutes = iter(range(0, 10_000, 61))  # 61 s pass between two looks at the clock
    out = io.StringIO()
    status = ShipStatus(out, clock=lambda: float(next(minutes)))

    stats = asyncio.run(ship([str(tmp_path)], settings, status=status))

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"ship     {tmp_path} → {settings.topic('cloudtrail')} on {kafka_broker.bootstrap}"
    )
    assert lines[1] == "ship     so far: 1 file, 4 records, 1 Kafka message, 0 errors"
    assert lines[2].startswith(f"loopwatch ship: {tmp_path / 'b.json'}: not JSON")
    assert lines[3] == "ship     so far: 1 file, 4 records, 1 Kafka message, 1 error"
    assert lines[4] == "ship     so far: 2 files, 9 records, 2 Kafka messages, 1 error"
    assert stats.records == 9 and stats.error_count == 1


def test_no_summary_before_a_minute_has_passed(kafka_broker: Broker, tmp_path: Path) -> None:
    r.write_log(tmp_path / "a.json.gz", r.s3_self_loop(writes=2))
    out = io.StringIO()
    asyncio.run(ship([str(tmp_path)], settings_for(kafka_broker), status=ShipStatus(out)))
    assert len(out.getvalue().splitlines()) == 1  # the start line only


def test_a_progress_bar_on_a_terminal_with_lines_written_above_it() -> None:
    terminal = Terminal()
    status = ShipStatus(terminal, every=0)
    status.bar(4, unit="messages")
    status.advance(1)
    stats = ShipStats(queue_messages=1)
    status.error(stats, "s3://trail/x.json.gz", "truncated gzip")
    status.advance(3)
    status.done()
    text = terminal.getvalue()
    assert "\rship [#######-----------------------]  25% 1/4 messages" in text
    assert "\r\x1b[Kloopwatch ship: s3://trail/x.json.gz: truncated gzip\n" in text
    assert text.endswith("100% 4/4 messages\n")
    assert stats.error_count == 1

    plain = io.StringIO()  # not a terminal: the same calls draw nothing
    quiet = ShipStatus(plain)
    quiet.bar(4, unit="messages")
    quiet.advance(4)
    quiet.done()
    assert plain.getvalue() == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ship"], "name SOURCEs or --sqs QUEUE_URL"),
        (["ship", "--sqs", "https://q", "logs/"], "name SOURCEs or --sqs QUEUE_URL"),
        (["ship", "--since", "noon", "logs/"], "--since:"),
        (["ship", "--sqs", "https://q", "--state", "s.json"], "--state keeps the position"),
        (["ship", "--sqs", "https://q", "--poll", "60"], "at most 20 s"),
        (["ship", "--poll", "0", "logs/"], "--poll must be more than 0"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWATCH_KAFKA_BROKER", "127.0.0.1:1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("loopwatch ship: ") and says in err and err.count("\n") == 1


def test_kafka_unreachable_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopwatch.net import free_port

    monkeypatch.setenv("LOOPWATCH_KAFKA_BROKER", f"127.0.0.1:{free_port()}")
    r.write_log(tmp_path / "a.json.gz", r.s3_self_loop(writes=2))
    assert main(["ship", str(tmp_path)]) == 2  # checked before anything is read
    err = capsys.readouterr().err
    assert err.startswith("loopwatch ship: no Kafka broker answers at 127.0.0.1:")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_sigterm_stops_a_following_queue_shipper_cleanly(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = settings_for(kafka_broker)
    with moto_server() as aws:
        trail = notified_trail(aws)
        [(path, key)] = trail_files(r.s3_self_loop(writes=3), tmp_path, count=1)
        trail.upload(path, key, "sns")
        env = dict(
            os.environ,
            LOOPWATCH_KAFKA_BROKER=kafka_broker.bootstrap,
            LOOPWATCH_TOPIC_PREFIX=settings.topic_prefix,
            AWS_ENDPOINT_URL=aws.endpoint_url,
            AWS_ACCESS_KEY_ID=DUMMY,
            AWS_SECRET_ACCESS_KEY=DUMMY,
            AWS_DEFAULT_REGION=REGION,
        )
        env.pop("AWS_PROFILE", None)
        command = [sys.executable, "-m", "loopwatch", "ship", "--sqs", trail.queue_url]
        proc = subprocess.Popen(
            [*command, "--follow", "--poll", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            started = _line_from(proc, "ship     ", timeout=30)
            assert trail.queue_url in started and "following" in started
            deadline = time.monotonic() + 30
            while trail.messages_left() and time.monotonic() < deadline:
                time.sleep(0.1)  # polling for the shipper's work to show on the queue
            assert trail.messages_left() == 0
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "stopping after the message in hand" in err and "Traceback" not in err
    assert out.startswith("shipped 1 file, 5 records, 1 Kafka message, 3 queue messages")


def _line_from(proc: subprocess.Popen[str], start: str, timeout: float) -> str:
    """The first stderr line of ``proc`` that begins with ``start``, within ``timeout``."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if line.startswith(start):
                return line
            if not line and proc.poll() is not None:
                break
    raise TimeoutError(f"no line starting {start!r} from {proc.args}")
