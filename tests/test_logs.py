"""The service's logs: JSON lines off a terminal, readable lines on one, every library alike."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import orjson
import pytest
import structlog

from loopwatch.logs import configure_logging, escape_last_resort


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


# Names from records, as a log line can carry them (loopwatch.render.terminal.printable).
CONTROLS = "thumb\x1b]0;pwned\x07\x1b[2J\x9bevil\u202e"
HOSTILE = CONTROLS + "\nFAKE level=error"  # a line break too: a message stays one line
SHOWN = r"thumb\x1b]0;pwned\x07\x1b[2J\x9bevil\u202e"
ESCAPED = SHOWN + r"\nFAKE level=error"
OBEYED = ("\x1b]", "\x07", "\x1b[2J", "\x9b", "\u202e")  # what a terminal would act on


def log_hostile_names() -> None:
    logging.getLogger("loopwatch.service.processor").warning("account %s: bad fact", HOSTILE)
    try:
        raise ValueError(f"no function {HOSTILE}")
    except ValueError:
        logging.getLogger("loopwatch.actions").exception("throttle of %s failed", HOSTILE)
    structlog.get_logger("loopwatch.x").warning("structured", function=HOSTILE)


def test_names_from_records_are_escaped_in_json_lines() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    log_hostile_names()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines  # the newline in a name split no record
    warned, failed, structured = (orjson.loads(line) for line in lines)
    # Escaped before JSON, so a reader that decodes the line (jq -r) still gets no control.
    assert warned["event"] == f"account {ESCAPED}: bad fact"
    assert failed["event"] == f"throttle of {ESCAPED} failed"
    # A traceback keeps its line breaks (its message's among them), never a control.
    assert f"ValueError: no function {SHOWN}\nFAKE" in failed["exception"]
    assert failed["exception"].count("\n") >= 3
    assert structured["function"] == ESCAPED
    for value in (*warned.values(), *failed.values(), *structured.values()):
        assert not any(c in str(value) for c in OBEYED), value


def test_names_from_records_are_escaped_on_a_terminal() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        configure_logging("info", terminal)
        log_hostile_names()
        terminal.flush()
        text = os.read(leader, 65536).decode()
    os.close(leader)
    assert ESCAPED in text and f"no function {SHOWN}" in text
    assert not any(c in text for c in OBEYED)  # colours are ESC [ … m, never these


def test_commands_without_logging_configured_escape_their_last_resort(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(logging, "lastResort", logging.lastResort)  # put back after the test
    logging.getLogger().handlers[:] = []  # as a command's process has it (pytest's removed)
    escape_last_resort()
    log_hostile_names()
    err = capsys.readouterr().err
    assert f"account {ESCAPED}: bad fact\n" in err
    assert f"throttle of {ESCAPED} failed\nTraceback" in err
    assert f"ValueError: no function {SHOWN}" in err
    assert not any(c in err for c in OBEYED)
