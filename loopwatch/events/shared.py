"""Empty containers (and numbers) that the objects a worker keeps per account share until each
needs its own.

    __init__:      self._ids = shared_dict()          # no dict made
    first write:   if is_shared(self._ids): self._ids = {}

A worker holds an intake, an engine and a state writer for every account it has seen, tens of
thousands of them idle, most with nothing in their dicts: an empty dict costs 64 bytes, a list
56, and an engine has a dozen. The shared ones are read-only (a ``MappingProxyType`` and a
tuple, typed as the dict and list their owner makes later), so a write that forgot to make its
own container fails at once, rather than changing every account's.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar, cast

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_DICT: MappingProxyType[Any, Any] = MappingProxyType({})
_LIST: tuple[Any, ...] = ()


def shared_dict() -> dict[K, V]:
    """The empty dict every owner reads until its first write (read-only: see the module)."""
    return cast("dict[K, V]", _DICT)


def shared_list() -> list[T]:
    """The empty list every owner reads until its first write (read-only: see the module)."""
    return cast("list[T]", _LIST)


def is_shared(container: object) -> bool:
    """Whether ``container`` is the shared empty one, to be replaced before a write."""
    return container is _DICT or container is _LIST


@lru_cache(maxsize=256, typed=True)
def shared_number(value: float) -> float:
    """``value``, as one float object for every caller: for the numbers each engine derives
    from its configuration (a float is 24 bytes; a config gives every account the same)."""
    return value
