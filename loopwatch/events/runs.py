"""Facts in event-time order, within bounded memory: sorted runs spilled to disk, merged back.

    facts, in input order ──extend──► buffer ──(past spill_after)──sort by time──► run file
                                                                                   run file …
    merged() ──heapq.merge of the runs and the buffer, ties to the earlier run──► facts

The items are facts, or anything else with an event time that ``key`` reads (replay keeps
each fact with its account: ``(account, fact)``).

``merged`` gives exactly the order that one stable sort by event time of every fact added
gives (what ``Driver.feed`` does with a list): each run is a stable sort of a stretch of the
input, the runs follow the input, and the merge takes equal times from the earlier run first.
So a replay holds at most ``spill_after`` facts at a time, plus one block of each run while
merging, however many facts its logs hold (an organisation's month of S3 data events is
millions). Runs are pickled in blocks to a temporary directory, removed by ``close``. When
there would be more than ``MAX_RUNS`` files, they are merged into one first, so the files
open at a time stay bounded too.
"""

from __future__ import annotations

import heapq
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Generic, TypeVar

from loopwatch.errors import Problem

SPILL_FACTS = 500_000
"""Facts held in memory before the sorted buffer goes to disk (a few hundred MB)."""
BLOCK_FACTS = 1_000
"""Facts per pickled block of a run: what each run holds in memory while merging."""
MAX_RUNS = 128

_BY_TIME: Callable[[Any], float] = attrgetter("time")
T = TypeVar("T")


class SpillFailed(Problem):
    """The temporary directory would not take a run (full, or not writable)."""

    def __init__(self, where: Path | str | None, exc: OSError) -> None:
        super().__init__(
            f"cannot keep the replay's facts on disk in {where or tempfile.gettempdir()}:"
            f" {exc.strerror or exc}; point TMPDIR at a disk with room"
        )


class FactRuns(Generic[T]):
    """Facts added in input order, given back in event-time order (see the module doc).
    ``key`` reads an item's event time (a fact's ``time`` by default)."""

    def __init__(
        self,
        spill_after: int = SPILL_FACTS,
        directory: str | None = None,
        *,
        key: Callable[[T], float] = _BY_TIME,
    ) -> None:
        if spill_after < 1:
            raise ValueError("spill_after must be at least 1")
        self.spill_after = spill_after
        self.key = key
        self._where = directory
        self._dir: Path | None = None
        self._buffer: list[T] = []
        self._runs: list[Path] = []
        self._serial = 0
        self.spilled = 0
        """Facts written to run files so far."""

    def __len__(self) -> int:
        """How many facts were added (until ``merged`` takes them)."""
        return self.spilled + len(self._buffer)

    def extend(self, facts: Iterable[T]) -> None:
        for fact in facts:
            self._buffer.append(fact)  # not a local alias: a spill starts a new buffer
            if len(self._buffer) >= self.spill_after:
                self._spill()

    def merged(self) -> Iterator[T]:
        """Every fact added, in event-time order (stable). Call once, after the last extend."""
        buffer, self._buffer = self._buffer, []
        buffer.sort(key=self.key)
        if not self._runs:
            yield from buffer
            return
        yield from heapq.merge(*(_read(run) for run in self._runs), buffer, key=self.key)

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._runs.clear()

    def __enter__(self) -> FactRuns[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _spill(self) -> None:
        buffer, self._buffer = self._buffer, []
        buffer.sort(key=self.key)
        if len(self._runs) >= MAX_RUNS:  # one run of them all first: open files stay bounded
            runs, self._runs = self._runs, []
            self._write(heapq.merge(*(_read(run) for run in runs), key=self.key))
            for run in runs:
                run.unlink()
        self._write(iter(buffer))
        self.spilled += len(buffer)

    def _write(self, facts: Iterator[T]) -> None:
        try:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="loopwatch-facts-", dir=self._where))
            path = self._dir / f"run-{self._serial:06d}.pickle"
            self._serial += 1
            with path.open("wb") as out:
                while block := list(islice(facts, BLOCK_FACTS)):
                    pickle.dump(block, out, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as exc:
            raise SpillFailed(self._dir or self._where, exc) from exc
        self._runs.append(path)


def _read(path: Path) -> Iterator[Any]:
    with path.open("rb") as stream:
        yield from _blocks(stream)


def _blocks(stream: BinaryIO) -> Iterator[Any]:
    while True:
        try:
            block: list[Any] = pickle.load(stream)
        except EOFError:
            return
        yield from block
