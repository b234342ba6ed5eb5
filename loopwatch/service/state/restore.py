"""An account read back from the ``account-state`` table: its state, and the writer that goes on.

For each part the newest version at or below the core's generation counts (``writer.py``
says why); newer ones are what a torn snapshot left, older ones what tombstones not yet sent
would have deleted: the writer deletes both, the first before its next core, the others after.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from loopwatch.config import DetectionConfig
from loopwatch.service.accounts import STATE_VERSION, AccountState
from loopwatch.service.state.parts import IDS, ORDERED, assemble, kind
from loopwatch.service.state.table import (
    MARKER,
    Holdings,
    StoredPart,
    core_key,
    parse_part_key,
)
from loopwatch.service.state.writer import StateWriter

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Restored:
    """An account read from the table: its state (None: nothing usable was saved) and the
    writer that continues its changelog."""

    state: AccountState | None
    writer: StateWriter


def restore(
    account: str,
    partition: int,
    entries: Mapping[bytes, bytes],
    config: DetectionConfig | None = None,
) -> Restored:
    """``account`` from its table ``entries`` (``table.saved_by_account``); ``partition`` is
    where its state goes when nothing usable was saved.

    Never raises: a core of another version, or parts that do not make a state, are logged
    and detection starts afresh (the writer deletes what was there before its first core).
    """
    core_value = entries.get(core_key(account))
    leftovers = [key for key in entries if key != core_key(account)]
    if core_value is None:
        if leftovers:
            log.warning("account %s: saved parts without a core; starting afresh", account)
        return Restored(None, StateWriter(account, partition, Holdings(before=leftovers)))
    try:
        core = orjson.loads(core_value)
        version = core.get("version") if isinstance(core, dict) else None
        if version != STATE_VERSION:
            log.warning(
                "account %s: saved state is version %r, this worker reads version %d (one"
                " table entry per part): the saved state is not carried over, detection"
                " starts afresh",
                account,
                version,
                STATE_VERSION,
            )
        else:
            return _restored(account, core, entries, config)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("account %s: saved state unreadable (%s); starting afresh", account, exc)
    return Restored(None, StateWriter(account, partition, Holdings(before=leftovers)))


@dataclass(slots=True)
class _Versions:
    """The versions of one part in the table: generation → (pieces, {piece: bytes})."""

    found: dict[int, tuple[int, dict[int, bytes]]] = field(default_factory=dict)

    def add(self, generation: int, piece: int, pieces: int, value: bytes) -> None:
        got = self.found.setdefault(generation, (pieces, {}))
        if got[0] != pieces:
            raise ValueError(f"pieces of {pieces} and of {got[0]} in one generation")
        got[1][piece] = value

    def stored(self, generation: int) -> StoredPart:
        return StoredPart(generation, self.found[generation][0], 0)


def _restored(
    account: str,
    core: dict[str, Any],
    entries: Mapping[bytes, bytes],
    config: DetectionConfig | None,
) -> Restored:
    generation = int(core["generation"])
    versions: dict[str, _Versions] = {}
    for key, value in entries.items():
        if key != core_key(account):
            gen, piece, pieces, name = parse_part_key(key)
            versions.setdefault(name, _Versions()).add(gen, piece, pieces, value)
    held = Holdings(serial=int(core["serial"]), skip=int(core["skip"]))
    held.generation = max([generation, *(g for v in versions.values() for g in v.found)])
    payloads: dict[str, Any] = {}
    for name, found in versions.items():
        for torn in sorted(g for g in found.found if g > generation):
            held.before += found.stored(torn).keys(account, name)
        usable = sorted(g for g in found.found if g <= generation)
        if not usable:
            continue
        chosen = usable[-1]
        for old in usable[:-1]:
            held.after += found.stored(old).keys(account, name)
        pieces, values = found.found[chosen]
        if sorted(values) != list(range(pieces)):
            raise ValueError(f"part {name!r} of generation {chosen} lacks pieces")
        data = b"".join(values[k] for k in range(pieces))
        if data == MARKER:  # deleted: its marker goes after the versions it deleted
            held.after += found.stored(chosen).keys(account, name)
            continue
        payload = orjson.loads(data)
        serial = int(payload[0]) if kind(name) in ORDERED else 0
        if kind(name) == IDS and serial < int(core["ids_from"]):  # all its ids dropped
            held.after += found.stored(chosen).keys(account, name)
            continue
        payloads[name] = payload
        held.parts[name] = StoredPart(chosen, pieces, hash(data), serial)
    state = assemble(core, payloads, held.skip, config)
    chunks = sorted((int(p[0]), len(p[1])) for n, p in payloads.items() if kind(n) == IDS)
    held.chunks = chunks
    writer = StateWriter(account, int(core["partition"]), held)
    writer.attach(state)
    return Restored(state, writer)
