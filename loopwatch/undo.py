"""``loopwatch release`` and ``loopwatch actions``: undo and list what loopwatch holds.

Both read the ledger file of ``ledger_from_settings`` (``LOOPWATCH_LEDGER_PATH``, default
``<LOOPWATCH_DATA_DIR>/actions-ledger.json``), the same file the worker writes, so run them
where the worker's file is (its host, or its volume: ``docker compose exec worker …``). The
file is locked per operation, so a release never races a throttle of the running worker.

A release also writes its audit records to ``<prefix>.findings`` when LOOPWATCH_KAFKA_BROKER
is set: the worker rebuilds its ledger from those records at start, and without the release
record it would list the hold again.

A function whose reserved concurrency is no longer the 0 loopwatch set was changed by hand
while held: it is not restored (exit 1, the hold kept) unless ``--force``. Names and reasons
are printed with control characters escaped (``loopwatch.render.terminal.printable``).

Exit status: 0 all asked for is restored (or listed); 1 something could not be restored
(the reason is printed); 2 the ledger cannot be read, or the AWS credentials cannot work
(``CredentialsProblem``, raised for ``loopwatch.errors`` to say).
"""

from __future__ import annotations

import asyncio
import getpass
import socket
from typing import TYPE_CHECKING, TextIO

import orjson

from loopwatch.actions import (
    ReleaseReport,
    access_from_settings,
    held,
    ledger_from_settings,
    release,
    release_incident,
)
from loopwatch.actions.outcomes import describe_value, iso
from loopwatch.credentials import caller_account
from loopwatch.render.terminal import printable
from loopwatch.trust import key_from_settings

if TYPE_CHECKING:
    from loopwatch.actions import JsonFileLedger
    from loopwatch.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_LEDGER = 0, 1, 2


def run_release(
    settings: Settings,
    function: str | None,
    incident: str | None,
    out: TextIO,
    err: TextIO,
    *,
    force: bool = False,
) -> int:
    """Release ``function`` (ARN or unique name) or every function of ``incident``; print
    one line per function; publish the audit records. With ``force``, restore even over a
    value someone set by hand while it was held. The exit status (module docstring)."""
    ledger = _ledger(settings, err)
    if ledger is None:
        return EXIT_LEDGER
    if held(ledger):
        # Restoring calls Lambda: credentials that cannot work raise CredentialsProblem here,
        # one line and exit 2, instead of a failed restore per function.
        caller_account()
    access = access_from_settings(settings)
    who = f"{getpass.getuser()}@{socket.gethostname()} (loopwatch release)"
    if incident is not None:
        report = release_incident(incident, ledger, access, identity=who, force=force)
        if not report.outcomes:
            said = printable(f"loopwatch release: loopwatch holds nothing for incident {incident}")
            print(said, file=err)
            return EXIT_FAILED
    else:
        assert function is not None
        report = release(function, ledger, access, identity=who, force=force)
    _print(report, out, err)
    _publish(settings, report, err)
    return EXIT_OK if report.ok else EXIT_FAILED


def run_actions(settings: Settings, out: TextIO, err: TextIO, *, as_json: bool = False) -> int:
    """List the holds: function, incident, previous value, since when, by whom."""
    ledger = _ledger(settings, err)
    if ledger is None:
        return EXIT_LEDGER
    holds = held(ledger)
    if as_json:
        out.write(orjson.dumps([h.to_json() for h in holds], option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
        return EXIT_OK
    if not holds:
        print("loopwatch holds nothing: no function is throttled by it.", file=out)
        return EXIT_OK
    for h in holds:
        mappings = f"; disabled mappings {', '.join(h.mappings)}" if h.mappings else ""
        line = (
            f"{h.function}  incident {h.incident or '-'}  {describe_value(h.previous)}"
            f"  since {iso(h.since)}  by {h.by}{mappings}"
        )
        print(printable(line), file=out)  # names from records: escaped
    print(f"{len(holds)} held; undo with `loopwatch release FUNCTION`.", file=out)
    return EXIT_OK


def _ledger(settings: Settings, err: TextIO) -> JsonFileLedger | None:
    try:
        return ledger_from_settings(settings)
    except ValueError as exc:
        print(f"loopwatch: {exc}", file=err)
        return None


def _print(report: ReleaseReport, out: TextIO, err: TextIO) -> None:
    for outcome in report.outcomes:
        stream = out if outcome.result in ("released", "gone") else err
        print(printable(f"{outcome.result} {outcome.function}: {outcome.reason}"), file=stream)


def _publish(settings: Settings, report: ReleaseReport, err: TextIO) -> None:
    if not settings.kafka_broker or not report.audit:
        return
    from loopwatch.service.audit import publish_audit

    try:
        key = key_from_settings(settings)
    except ValueError as exc:
        key, problem = None, str(exc)
    else:
        problem = "LOOPWATCH_STATE_SECRET is not set"
    if key is None:
        # Workers trust only signed records: an unsigned one would only be dead-lettered.
        print(
            f"loopwatch release: warning: audit record not written to"
            f" {settings.topic('findings')}: {problem}; a worker that rebuilds its ledger from"
            " that topic may list the hold again",
            file=err,
        )
        return
    try:
        asyncio.run(publish_audit(settings, [r.to_json() for r in report.audit], key))
    except Exception as exc:  # the release is done; only its Kafka copy is missing
        print(
            f"loopwatch release: warning: audit record not written to"
            f" {settings.topic('findings')} ({exc!r}); a restarted worker may list the hold again",
            file=err,
        )
