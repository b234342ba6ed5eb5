"""What went wrong, for people: an exception → one line naming the cause and the fix.

    command raises ──► describe(exc) ──► "LOOPWATCH_WEB_PORT='abc' is not valid: …; give …"
                                    └──► None: a bug, which keeps its traceback

``loopwatch.cli.main`` prints the line as ``loopwatch <command>: <line>`` and exits 2 (bad
usage or setup, DESIGN §7), never 1, which means "a loop was found". Problems that loopwatch
itself detects (an unreachable broker, a busy port, missing credentials, sources without a log
file) are ``Problem`` subclasses whose text already says it all; the rest of the table maps
exceptions of the libraries underneath (pydantic, aiokafka, botocore) and of the other
packages (topologies, sources), which are imported only when such an exception is raised, so
that the CLI starts fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

EXIT_USAGE = 2


class Problem(Exception):
    """A mistake in the usage or setup, not a bug: ``str()`` names the cause and the fix."""


class NoLogFiles(Problem):
    """The named sources were readable, but none held a log file (DESIGN §7)."""

    def __init__(self, names: Sequence[str]) -> None:
        from loopwatch.events.sources import SUFFIXES

        named = ", ".join(names)
        super().__init__(
            f"no log file in {named}: loopwatch reads {', '.join(SUFFIXES)} files"
            " (folders are walked); name the folder that holds the AWSLogs/ tree"
        )


def describe(exc: BaseException) -> str | None:
    """One line naming the cause of ``exc`` and its fix; None when ``exc`` is not a usage or
    setup problem (a bug: the caller lets it raise, traceback and all)."""
    for rule in _RULES:
        line = rule(exc)
        if line is not None:
            return " ".join(line.split())  # one line, whatever the library's text held
    return None


def _problem(exc: BaseException) -> str | None:
    return str(exc) if isinstance(exc, Problem) else None


def _settings(exc: BaseException) -> str | None:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    from loopwatch.settings import Settings
    from loopwatch.settings_doc import expected_value, variable

    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = Settings.model_fields.get(name)
        value = error.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) else ""
        # A validator's own ValueError says it all; pydantic's "Value error, " adds nothing.
        msg = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        reason = msg[0].lower() + msg[1:] if msg else "invalid"
        fix = f"; give {expected_value(field)}" if field is not None else ""
        lines.append(f"bad setting {variable(name)}{shown}: {reason}{fix}")
    return "; ".join(lines)


def _topology(exc: BaseException) -> str | None:
    from loopwatch.topology import TopologyError

    return str(exc) if isinstance(exc, TopologyError) else None


def _source(exc: BaseException) -> str | None:
    from loopwatch.events.sources import SourceUnavailable

    if not isinstance(exc, SourceUnavailable):
        return None
    # The source's own text names the URL; AWS's reason ("Unable to locate credentials") does
    # not say what to do, which the credentials rule below does.
    cause = _credentials(exc.__cause__) if exc.__cause__ is not None else None
    if cause is not None:
        name = str(exc).split(": ", 1)[0]
        return f"{name}: {cause}"
    return str(exc)


def _credentials(exc: BaseException) -> str | None:
    from loopwatch.credentials import credentials_reason

    return credentials_reason(exc)


def _kafka(exc: BaseException) -> str | None:
    # The preflight check (loopwatch.service.preflight) catches an unreachable broker before a
    # command starts; this catches one that goes away while it runs.
    from aiokafka.errors import KafkaConnectionError

    if not isinstance(exc, KafkaConnectionError):
        return None
    return (
        f"lost the Kafka broker ({exc}): check that it runs and that LOOPWATCH_KAFKA_BROKER"
        " names its advertised host:port"
    )


_RULES: tuple[Callable[[BaseException], str | None], ...] = (
    _problem,
    _settings,
    _topology,
    _source,
    _credentials,
    _kafka,
)


def report(command: str, exc: BaseException, stderr: Any) -> int | None:
    """Print ``exc``'s line for ``command`` on ``stderr`` and return exit status 2; None when
    ``exc`` is a bug (the caller re-raises it)."""
    line = describe(exc)
    if line is None:
        return None
    from loopwatch.render.terminal import printable

    # A source's name can be an S3 key someone chose: escaped, as every text output is.
    print(f"loopwatch {command}: {printable(line)}", file=stderr)
    return EXIT_USAGE
