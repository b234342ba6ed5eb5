"""The service's logs: JSON lines off a terminal, readable lines on one, every library alike."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import orjson
import pytest
import structlog

from loopwatch.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # configure_logging replaces the root logger's handlers (pytest's capture among them).
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_off_a_terminal_every_record_is_one_json_line() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    logging.getLogger("faust.worker").info("Starting %s", "worker")
    logging.getLogger("loopwatch.service.app").debug("below the level")
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("aiokafka").exception("fetch failed")
    structlog.get_logger("loopwatch.x").warning("structured", account="111122223333")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    first, failed, structured = (orjson.loads(line) for line in lines)
    assert {k: first[k] for k in ("event", "level", "logger")} == {
        "event": "Starting worker",
        "level": "info",
        "logger": "faust.worker",
    }
    assert first["timestamp"].endswith("Z")
    assert failed["level"] == "error" and failed["event"] == "fetch failed"
    assert "Traceback" in failed["exception"] and "ValueError: bad" in failed["exception"]
    assert structured["account"] == "111122223333" and structured["logger"] == "loopwatch.x"


def test_on_a_terminal_lines_are_for_people() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert terminal.isatty()
        configure_logging("info", terminal)
        logging.getLogger("faust.worker").warning("Starting %s", "worker")
        terminal.flush()
        text = os.read(leader, 65536).decode()
    os.close(leader)
    assert "Starting worker" in text and "faust.worker" in text
    assert not text.lstrip().startswith("{")


def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", first)
    configure_logging("warning", second)
    logging.getLogger("loopwatch").warning("once")
    logging.getLogger("loopwatch").info("filtered")
    assert first.getvalue() == ""
    assert [orjson.loads(line)["event"] for line in second.getvalue().splitlines()] == ["once"]
