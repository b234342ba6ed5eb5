"""One log format for the service: JSON lines for machines, readable lines for people.

    loopwatch, Faust, aiokafka ──stdlib logging──► one handler on stderr ──► structlog renderer
        stderr not a terminal (a container, systemd, a pipe): {"timestamp", "level", "logger", "event"}
        stderr a terminal: "2026-10-05T14:00:00Z [info ] event  [logger]"

Configured once, by the CLI entry of ``worker`` and ``up``, before anything logs; the library
code only ever calls ``logging.getLogger(__name__)``. Faust's worker is told not to install its
own handlers (``override_logging=False`` in ``loopwatch.service.worker``).

Log lines carry names from records (functions, buckets, S3 keys), which whoever made the call
chose: every string of a log record is escaped by ``loopwatch.render.terminal.printable``
before it is rendered (a traceback keeps its own line breaks), on a terminal and in JSON alike,
since a JSON line is read back into a terminal too (``jq -r .event``). The other commands
configure no logging; what they log goes, escaped the same way, through Python's handler of
last resort (``escape_last_resort``: the message alone, warnings and above, on stderr).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, TextIO

from loopwatch.render.terminal import printable

_MULTILINE = frozenset({"exception", "stack"})
"""Event keys whose line breaks are their own (a traceback), not a record's."""


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (default stderr) through
    structlog: JSON lines unless ``stream`` is a terminal. Replaces the root logger's
    handlers, so calling it again reconfigures rather than duplicates; returns the handler."""
    import structlog  # here: every command escapes its last resort (below), few configure logs

    stream = stream if stream is not None else sys.stderr
    tty = _isatty(stream)
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if tty:
        renderer = structlog.dev.ConsoleRenderer(colors=True, exception_formatter=_traceback)
        finish: list[Any] = []
    else:
        renderer = structlog.processors.JSONRenderer()
        # A traceback becomes one "exception" string: the record stays one line.
        finish = [structlog.processors.format_exc_info]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *finish,
            escape_controls,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


def escape_controls(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: every string of ``event`` with its control characters escaped
    (``printable``); a traceback keeps its line breaks."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = printable(value, keep="\n" if key in _MULTILINE else "")
    return event


def _traceback(
    stream: TextIO, exc_info: tuple[type[BaseException], BaseException, TracebackType | None]
) -> None:
    """structlog's plain traceback, escaped: an exception's message can hold a record's names."""
    import io

    import structlog

    text = io.StringIO()
    structlog.dev.plain_traceback(text, exc_info)
    stream.write(printable(text.getvalue(), keep="\n"))


class EscapingFormatter(logging.Formatter):
    """A stdlib formatter whose output holds no control character a record put there: the
    message escaped whole (its line breaks too), a traceback line by line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), keep="\n")

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), keep="\n")


class _LastResort(logging.Handler):
    """What ``logging.lastResort`` does (warnings and above, the message alone, to whatever
    ``sys.stderr`` is at the time), through an ``EscapingFormatter``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(EscapingFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # as logging's own handlers do: a broken stderr must not raise
            self.handleError(record)


def escape_last_resort() -> None:
    """Make Python's handler of last resort (used while no handler is configured: every
    command but ``worker`` and ``up``) escape control characters, as the configured logs do."""
    if not isinstance(logging.lastResort, _LastResort):
        logging.lastResort = _LastResort()
