"""One log format for the service: JSON lines for machines, readable lines for people.

    loopwatch, Faust, aiokafka ──stdlib logging──► one handler on stderr ──► structlog renderer
        stderr not a terminal (a container, systemd, a pipe): {"timestamp", "level", "logger", "event"}
        stderr a terminal: "2026-10-05T14:00:00Z [info ] event  [logger]"

Configured once, by the CLI entry of ``worker`` and ``up``, before anything logs; the library
code only ever calls ``logging.getLogger(__name__)``. Faust's worker is told not to install its
own handlers (``override_logging=False`` in ``loopwatch.service.worker``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (default stderr) through
    structlog: JSON lines unless ``stream`` is a terminal. Replaces the root logger's
    handlers, so calling it again reconfigures rather than duplicates; returns the handler."""
    stream = stream if stream is not None else sys.stderr
    tty = _isatty(stream)
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if tty:
        renderer = structlog.dev.ConsoleRenderer(colors=True)
        finish: list[Any] = []
    else:
        renderer = structlog.processors.JSONRenderer()
        # A traceback becomes one "exception" string: the record stays one line.
        finish = [structlog.processors.format_exc_info]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish, renderer],
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
