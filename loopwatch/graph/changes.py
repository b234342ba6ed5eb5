"""What changed in a detector's state since it was last saved: the hops, functions and buckets
whose saved parts may be stale (``loopwatch.service.state`` sends only those).

    graph / rates / identities ──add(key)──► Changed ──take()──► the state writer

The graph, the rate detector and the identities each hold one once a writer asks them to
(``changed``; None keeps nothing, as in a replay). A worker holds thousands of accounts, most of
them idle: an empty ``set`` costs 216 bytes, so the set is made at the first change and handed
over whole by ``take``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")


class Changed(Generic[K]):
    """The keys that changed since the last ``take``."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: set[K] | None = None

    def add(self, key: K) -> None:
        keys = self._keys
        if keys is None:
            keys = self._keys = set()
        keys.add(key)

    def update(self, keys: Iterable[K]) -> None:
        if self._keys is None:
            self._keys = set(keys)
        else:
            self._keys.update(keys)

    def take(self) -> set[K]:
        """The keys that changed (the caller's to keep), and none from now on."""
        keys, self._keys = self._keys, None
        return keys if keys is not None else set()
