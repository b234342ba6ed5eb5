"""SIGTERM and SIGINT as an orderly stop of ``loopwatch up``, whatever it is doing when they come.

    starting  (no event loop yet)  ──signal──► Interrupted is raised: what started is unwound
    running   (the asyncio loop)   ──signal──► the stop event is set: tasks stop in order
    stopping  (the cleanup)        ──signal──► noted and ignored: the stop under way is bounded

The exit status says which signal it was: 0 after SIGTERM (a requested stop, as service
managers expect), 130 after SIGINT (128 + 2, the shell's convention for Ctrl-C).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_STATUS = {signal.SIGTERM: 0, signal.SIGINT: 130}


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM too) that came while starting.

    A KeyboardInterrupt, so that it unwinds exactly as Ctrl-C does: ``except Exception`` does
    not swallow it, and asyncio re-raises it rather than logging it from a callback.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Shutdown:
    """Holds the SIGTERM and SIGINT handlers while ``with`` lasts (main thread only: Python
    runs signal handlers there; elsewhere nothing is installed and no stop ever comes)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Shutdown:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        """The signal that asked for the stop, e.g. ``SIGTERM`` (empty while none has)."""
        return "" if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """0 after SIGTERM, 130 after SIGINT (and 0 while no signal came)."""
        return EXIT_STATUS.get(signal.Signals(self.signum), 0) if self.signum else 0

    def running(self) -> asyncio.Event:
        """Enter the running phase (call on the event loop): from now on a signal sets the
        returned event instead of raising. Already set if a signal came before."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if self.signum is not None:
            self._event.set()
        return self._event

    def stopping(self) -> None:
        """Enter the stopping phase: from now on signals are only noted."""
        self._stopping = True
        self._loop = self._event = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            return  # a second Ctrl-C: the stop under way is bounded, let it finish
        self.signum = signum
        if self._loop is not None and self._event is not None:
            # A Python-level handler runs between two bytecodes of the loop's own thread:
            # wake the loop rather than touching it mid-step (asyncio.Runner does the same).
            self._loop.call_soon_threadsafe(self._event.set)
        elif not self._stopping:
            raise Interrupted(signum)
