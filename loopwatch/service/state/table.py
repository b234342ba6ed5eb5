"""How an account's parts are keyed in the ``account-state`` table, and what a writer knows of
what the table holds.

    <account>                        the core: version, generation G, offsets, clocks…
    <account>␀<g>␀<k>/<n>␀<part>     piece k of n of a part's value as of generation g

NUL separates the fields (the part's name, last, may hold anything); an account id holding a
NUL is spelled with U+FFFD instead (``table_account``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PIECE_BYTES = 512 * 1024
"""The longest value sent: a longer part goes in pieces (Kafka's default limit is 1 MB)."""
MARKER = b"null"
"""The value of a deleted part until its tombstones are out."""
_NUL = "\x00"


def table_account(account: str) -> str:
    """The account as the table's keys spell it."""
    return account.replace(_NUL, "\ufffd")


def core_key(account: str) -> bytes:
    return table_account(account).encode()


def part_key(account: str, generation: int, piece: int, pieces: int, name: str) -> bytes:
    return f"{table_account(account)}{_NUL}{generation}{_NUL}{piece}/{pieces}{_NUL}{name}".encode()


def parse_part_key(key: bytes) -> tuple[int, int, int, str]:
    """(generation, piece, pieces, name) of a part key; ValueError for anything else."""
    _, generation, piece, name = key.decode().split(_NUL, 3)
    k, n = piece.split("/")
    return int(generation), int(k), int(n), name


def key_account(key: bytes) -> str:
    """The account a table key belongs to (spelled as ``table_account`` does)."""
    return key.split(b"\x00", 1)[0].decode("utf-8", "replace")


def saved_by_account(items: Iterable[tuple[object, object]]) -> dict[str, dict[bytes, bytes]]:
    """The table's entries grouped by account (spelled as ``table_account`` does)."""
    groups: dict[str, dict[bytes, bytes]] = {}
    for key, value in items:
        if isinstance(key, bytes) and isinstance(value, bytes):
            groups.setdefault(key_account(key), {})[key] = value
    return groups


def keys_by_account(keys: Iterable[object]) -> dict[str, set[bytes]]:
    """The table's keys grouped by account (spelled as ``table_account`` does): where one
    account's entries are found without reading every entry of the table."""
    groups: dict[str, set[bytes]] = {}
    for key in keys:
        if isinstance(key, bytes):
            groups.setdefault(key_account(key), set()).add(key)
    return groups


@dataclass(slots=True)
class StoredPart:
    """A part as the table holds it: its generation, its pieces and a digest of its bytes."""

    generation: int
    pieces: int
    digest: int
    serial: int = 0
    """Its place among parts of its kind (hops, cycles, incidents, id chunks); else 0."""

    def keys(self, account: str, name: str) -> list[bytes]:
        return [
            part_key(account, self.generation, k, self.pieces, name) for k in range(self.pieces)
        ]


@dataclass(slots=True)
class Holdings:
    """What the table holds of one account, as its writer keeps track of it."""

    generation: int = 0
    """The highest generation of any of its keys: the next snapshot's is one more."""
    serial: int = 0
    """The last serial given to an ordered part."""
    parts: dict[str, StoredPart] = field(default_factory=dict)
    chunks: list[tuple[int, int]] = field(default_factory=list)
    """(serial, ids) of the recent-id chunks, oldest first."""
    skip: int = 0
    """Ids of the oldest chunk that the intake has dropped since it was written."""
    before: list[bytes] = field(default_factory=list)
    """Keys to delete before the next core: what a torn snapshot left."""
    after: list[bytes] = field(default_factory=list)
    """Keys to delete after the next core: versions replaced, deletion markers last."""
