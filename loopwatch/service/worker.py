"""``loopwatch worker``: run one Faust worker of the service until SIGTERM or SIGINT."""

from __future__ import annotations

import sys
from typing import TextIO

from loopwatch.settings import Settings


def run_worker(settings: Settings, *, loglevel: str = "info", stderr: TextIO | None = None) -> int:
    """Run the worker in this thread until a stop signal; the process exit status.

    Returns 2 (with a message on ``stderr``) when no broker is configured or the settings
    cannot work (an alert URL that is not http(s)); makes the data directory and its parents;
    raises DataDirUnusable, BrokerUnreachable or PortBusy (``loopwatch.service.preflight``)
    when that cannot be made, the broker does not answer or the web port is taken, before
    Faust starts. Faust's Worker installs the SIGTERM/SIGINT handlers, stops the
    app (saving dirty account state to the table and flushing the producer) and exits 0.
    Logging is the caller's (``loopwatch.logs``): Faust is told to leave it alone.
    """
    # Looked up per call, not bound at import: a default of ``sys.stderr`` would keep whatever
    # stream was installed when this module was first imported (a test's capture, say).
    stderr = stderr or sys.stderr
    if not settings.kafka_broker:
        print("loopwatch worker: set LOOPWATCH_KAFKA_BROKER=host:port", file=stderr)
        return 2
    import faust

    from loopwatch.service.app import create_app
    from loopwatch.service.preflight import require_broker, require_data_dir, require_port

    try:
        service = create_app(settings)
    except ValueError as exc:  # settings that cannot work, e.g. an alert URL that is not http(s)
        print(f"loopwatch worker: {exc}", file=stderr)
        return 2
    # The settings first, then the world: a setting to fix is said even with no broker running.
    require_data_dir(settings)
    require_port(settings.web_host, settings.web_port)
    require_broker(settings)
    worker = faust.Worker(
        service.app,
        loglevel=loglevel,
        redirect_stdouts=False,
        override_logging=False,
        # Faust's banner and spinner go to stdout, which is a log stream in a container.
        quiet=True,
    )
    # Its terminal spinner writes cursor escapes to stdout even when quiet; Faust itself drops
    # it whenever it logs below WARN, the same way.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
