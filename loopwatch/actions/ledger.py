"""What loopwatch holds: the functions it throttled and the value to give back; and the
incidents it has acted on, so that it acts on each once.

A hold is written *before* the change it records, so a crash between the two leaves a hold
that ``release`` can still undo (restoring a value that was never changed is harmless); the
reverse order could lose the previous value forever.

    Ledger ──holds──► Hold(function, previous, incident, since, by, mappings)
           ──acted──► Acted(incident, what: throttled | released, at, by)

A hold lives while loopwatch holds the function; an ``Acted`` entry outlives it. It is what
"act once" rests on (DESIGN §6): a finding of an incident loopwatch already throttled, or
whose throttle was released (by a person, or by a revision), is never throttled again, however
it is read again (a restart, a new consumer group, lost offsets, another worker).

``MemoryLedger`` serves tests; ``JsonFileLedger`` is the worker's and the CLI's (one file on
a host or a shared volume; see ``loopwatch.service.act`` for how the service rebuilds it).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_VERSION = 2
"""2 adds ``acted``; a version-1 file (holds only) is read as having acted on nothing."""

ACTED_KEPT = 10_000
"""Entries of ``acted`` kept, newest first. Throttles are capped per hour
(``throttle_max_per_hour``, 10 by default), so this is years of them; the cap only bounds
a file that forged or buggy input would otherwise grow without end."""

THROTTLED, RELEASED = "throttled", "released"


@dataclass(frozen=True, slots=True)
class Hold:
    """A function loopwatch set to reserved concurrency 0. ``previous`` is what it had
    (``None``: no reserved concurrency); ``mappings`` are event source mappings it disabled."""

    function: str
    account: str | None
    incident: str | None
    previous: int | None
    since: float  # wall-clock epoch seconds
    by: str
    mappings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "function": self.function,
            "account": self.account,
            "incident": self.incident,
            "previous": self.previous,
            "since": self.since,
            "by": self.by,
            "mappings": list(self.mappings),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Hold:
        """Raises ValueError (or KeyError/TypeError) on a malformed entry."""
        previous = data.get("previous")
        mappings = data.get("mappings") or []
        if previous is not None and not isinstance(previous, int):
            raise ValueError(f"bad previous value: {previous!r}")
        if not isinstance(mappings, list):
            raise ValueError(f"bad mappings: {mappings!r}")
        since = data["since"]
        if not isinstance(since, int | float):
            raise ValueError(f"bad since: {since!r}")
        return cls(
            function=str(data["function"]),
            account=None if data.get("account") is None else str(data["account"]),
            incident=None if data.get("incident") is None else str(data["incident"]),
            previous=previous,
            since=float(since),
            by=str(data["by"]),
            mappings=tuple(str(m) for m in mappings),
        )


@dataclass(frozen=True, slots=True)
class Acted:
    """loopwatch throttled for ``incident`` (``episode``: the ``first_seen`` of the episode
    it acted on; None when rebuilt from audit records, which do not say), or released what it
    held for it. ``at`` is wall-clock epoch seconds."""

    incident: str
    what: str  # THROTTLED | RELEASED
    at: float
    by: str
    episode: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "incident": self.incident,
            "what": self.what,
            "at": self.at,
            "by": self.by,
            "episode": self.episode,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Acted:
        """Raises ValueError (or KeyError/TypeError) on a malformed entry."""
        what, at, episode = data["what"], data["at"], data.get("episode")
        if what not in (THROTTLED, RELEASED):
            raise ValueError(f"bad acted entry: {what!r}")
        if not isinstance(at, int | float) or (
            episode is not None and not isinstance(episode, int | float)
        ):
            raise ValueError(f"bad acted times: {at!r}, {episode!r}")
        return cls(
            str(data["incident"]),
            what,
            float(at),
            str(data["by"]),
            None if episode is None else float(episode),
        )


class LedgerError(ValueError):
    """The ledger cannot be read or written; the text says which file and why."""


class Ledger(Protocol):
    """Durable store of holds, keyed by unqualified function ARN. Implementations must make
    ``put`` and ``remove`` durable before returning (the throttle changes AWS right after)."""

    def get(self, function: str) -> Hold | None: ...

    def put(self, hold: Hold) -> None: ...

    def remove(self, function: str) -> None: ...

    def holds(self) -> list[Hold]: ...

    def remember(self, *entries: Acted) -> None:
        """Keep ``entries`` (durable before returning, like ``put``)."""
        ...

    def acted(self, incident: str) -> list[Acted]:
        """What loopwatch did for ``incident``, oldest first."""
        ...


class MemoryLedger:
    """Holds in a dict: for tests and one-shot runs. Thread-safe."""

    def __init__(self) -> None:
        self._holds: dict[str, Hold] = {}
        self._acted: list[Acted] = []
        self._lock = threading.Lock()

    def remember(self, *entries: Acted) -> None:
        with self._lock:
            self._acted = _kept([*self._acted, *entries])

    def acted(self, incident: str) -> list[Acted]:
        with self._lock:
            return [a for a in self._acted if a.incident == incident]

    def get(self, function: str) -> Hold | None:
        with self._lock:
            return self._holds.get(function)

    def put(self, hold: Hold) -> None:
        with self._lock:
            self._holds[hold.function] = hold

    def remove(self, function: str) -> None:
        with self._lock:
            self._holds.pop(function, None)

    def holds(self) -> list[Hold]:
        with self._lock:
            return sorted(self._holds.values(), key=lambda h: (h.since, h.function))


class JsonFileLedger(MemoryLedger):
    """Holds in a JSON file, rewritten atomically (temp file + fsync + rename) on every change.

    Shared between processes on one host: the worker writes it while ``loopwatch release`` and
    ``loopwatch actions`` read and change it. Every operation takes an exclusive ``flock`` on
    ``<path>.lock`` and re-reads the file when another process replaced it, so neither side
    writes back a stale copy (which would resurrect a released hold or drop a new one).

    Opening a missing file starts empty; an unreadable or malformed file raises LedgerError
    rather than starting empty, which would forget values that must be given back. With
    ``check=False`` nothing is read until the first operation, and each operation raises
    LedgerError while the file stays unusable: the worker opens it so, and every throttle then
    fails and says why in its alert, until someone fixes the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, check: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        if check:
            with self._locked():
                pass

    def get(self, function: str) -> Hold | None:
        with self._locked():
            return self._holds.get(function)

    # The change is saved first and kept in memory only once the file has it: a failed write
    # must not leave a hold in memory that AWS never got (a real loop would be "already held").
    def put(self, hold: Hold) -> None:
        with self._locked():
            self._save({**self._holds, hold.function: hold})

    def remove(self, function: str) -> None:
        with self._locked():
            if function in self._holds:
                self._save({f: h for f, h in self._holds.items() if f != function})

    def holds(self) -> list[Hold]:
        with self._locked():
            return sorted(self._holds.values(), key=lambda h: (h.since, h.function))

    def remember(self, *entries: Acted) -> None:
        with self._locked():
            self._save(self._holds, _kept([*self._acted, *entries]))

    def acted(self, incident: str) -> list[Acted]:
        with self._locked():
            return [a for a in self._acted if a.incident == incident]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This thread and process alone, with ``_holds`` as the file has them now. Raises
        LedgerError when the file, its folder or its lock cannot be read or written."""
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock_path = self.path.with_name(self.path.name + ".lock")
                with lock_path.open("a+b") as lock:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                    try:
                        self._reload()
                        yield
                    finally:
                        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            except OSError as exc:
                raise LedgerError(f"cannot write the actions ledger {self.path}: {exc}") from exc

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._holds, self._acted, self._stamp = {}, [], None
            return
        # Writers replace the file by rename, so a new inode (or size/mtime) means new content.
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            holds = {}
            for entry in data["holds"]:
                hold = Hold.from_json(entry)
                holds[hold.function] = hold
            acted = [Acted.from_json(entry) for entry in data.get("acted", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"cannot read the actions ledger {self.path}: {exc}") from exc
        self._holds, self._acted, self._stamp = holds, acted, stamp

    def _save(self, holds: dict[str, Hold], acted: list[Acted] | None = None) -> None:
        acted = self._acted if acted is None else acted
        document = {
            "version": _VERSION,
            "holds": [h.to_json() for h in holds.values()],
            "acted": [a.to_json() for a in acted],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(document, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        st = self.path.stat()
        self._holds, self._acted = holds, acted
        self._stamp = (st.st_ino, st.st_mtime_ns, st.st_size)


def _kept(acted: list[Acted]) -> list[Acted]:
    """The newest ``ACTED_KEPT`` entries, oldest first."""
    return sorted(acted, key=lambda a: a.at)[-ACTED_KEPT:]
