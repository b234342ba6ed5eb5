"""The CRC of every fetched record batch, checked with the CPU's CRC32C instruction.

aiokafka checks each batch's CRC32C (``check_crcs``) with a byte-at-a-time table in C: on a
topic of batched CloudTrail messages that is a third of the worker's fetch cost, about 1 µs a
record, all of it holding the GIL the agent needs. ``google_crc32c``'s library computes the same
sum with the SSE 4.2 instruction, several times faster; called here through ctypes, it reads the
batch where it lies (no copy) and lets the agent run meanwhile (ctypes releases the GIL). So
the worker's consumer checks every batch of each fetch response here, as it arrives, and turns
aiokafka's own check off:

    client.send(FetchRequest) ──► response ──► every complete batch of every partition:
                                                   CRC as the batch's magic says ─ bad ─► that partition's
                                                   │ good                                records cut before
                                                   ▼                                     it (logged)
                                   the fetcher unpacks the records (check_crcs off); the next
                                   fetch of a cut partition starts at its bad batch: refetched

The batches are walked as aiokafka's ``MemoryRecords`` walks them: a trailing batch cut short
by the fetch size is left for the next fetch, as aiokafka leaves it, and a batch too short to
hold a record is aiokafka's to refuse. Where the library cannot be found loaded (not Linux),
``google_crc32c.value`` sums a copy of each batch, under the GIL; without the compiled
``google_crc32c`` (a platform with no wheel), nothing changes: aiokafka keeps checking, slowly.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import google_crc32c
from aiokafka.protocol.fetch import FetchRequest_v0

log = logging.getLogger(__name__)

AVAILABLE = google_crc32c.implementation == "c"
"""The compiled CRC32C is installed (and loaded, with its library, by the import above):
checking here is faster than aiokafka's own check."""

_FETCH = FetchRequest_v0.API_KEY
_LENGTH = struct.Struct(">i")  # at offset 8, after the base offset: the bytes that follow it
_CRC = struct.Struct(">I")
_LOG_OVERHEAD = 12  # base offset (8) + length (4)
_MAGIC_AT = 16
_MIN_BATCH = _LOG_OVERHEAD + 14  # aiokafka's MIN_SLICE: the smallest legacy (v0) record
# v2 batches (magic 2): CRC32C at 17 over everything from the attributes at 21.
# Legacy message sets (magic 0, 1): CRC32 at 12 over everything from the magic byte.
_V2_CRC_AT, _V2_FROM = 17, 21
_LEGACY_CRC_AT = 12


def _library() -> Any:
    """The CRC32C library that ``google_crc32c``'s extension loaded, opened with ctypes; None
    when no loaded library of that name shows in /proc/self/maps (not Linux, or linked in)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "/libcrc32c" in line}
    if len(paths) != 1:
        return None
    try:
        library = ctypes.CDLL(paths.pop())
        extend = library.crc32c_extend
    except (OSError, AttributeError):
        return None
    extend.argtypes = (ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t)
    extend.restype = ctypes.c_uint32
    return extend


_extend = _library() if AVAILABLE else None


def crc32c(data: bytes, start: int, end: int) -> int:
    """CRC32C of ``data[start:end]``: in place and without the GIL where the library was found."""
    if _extend is None or type(data) is not bytes:
        return int(google_crc32c.value(bytes(data[start:end])))  # it takes no memoryview: a copy
    # c_char_p of a bytes object points into its buffer: the address stays valid while
    # ``data`` is alive, which the caller's reference guarantees for the call.
    address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
    return int(_extend(0, address + start, end - start))


def first_bad_batch(records: bytes | None) -> tuple[int, int] | None:
    """Where the first complete batch in ``records`` whose CRC does not match its bytes
    starts, and its base offset; None when every one matches. Bytes after the last complete
    batch are not looked at."""
    if not records:
        return None
    pos, size = 0, len(records)
    while size - pos >= _LOG_OVERHEAD:
        end = pos + _LOG_OVERHEAD + _LENGTH.unpack_from(records, pos + 8)[0]
        if end > size or end - pos < _MIN_BATCH:
            return None  # cut short (refetched), or too short (aiokafka refuses it itself)
        if records[pos + _MAGIC_AT] >= 2:
            stored = _CRC.unpack_from(records, pos + _V2_CRC_AT)[0]
            ok = crc32c(records, pos + _V2_FROM, end) == stored
        else:
            stored = _CRC.unpack_from(records, pos + _LEGACY_CRC_AT)[0]
            ok = zlib.crc32(memoryview(records)[pos + _MAGIC_AT : end]) == stored
        if not ok:
            return pos, int.from_bytes(records[pos : pos + 8], "big", signed=True)
        pos = end
    return None


def check_response(response: Any) -> None:
    """Cut each partition's records in the fetch ``response`` (any version: the message set is
    a partition's last field) before its first corrupt batch, logging it. The batches before it
    are delivered; the next fetch of that partition starts at the corrupt one, so it is fetched
    again, and a partition whose batch stays corrupt stops there, logged at every fetch, while
    the other partitions go on."""
    for topic, partitions in response.topics:
        for index, (partition, *fields, records) in enumerate(partitions):
            bad = first_bad_batch(records)
            if bad is not None:
                at, offset = bad
                log.error(
                    "invalid CRC in %s-%d, the batch at offset %d: fetched again",
                    topic,
                    partition,
                    offset,
                )
                partitions[index] = (partition, *fields, records[:at])


def check_fetches(consumer: Any) -> bool:
    """Make an unstarted ``AIOKafkaConsumer`` check its fetched batches here, not in aiokafka;
    False (and nothing changed) when it does not check CRCs, or the compiled CRC32C is absent.

    The consumer's client checks each fetch response before the fetcher sees it. A bad batch
    is fetched again (:func:`check_response`); aiokafka's own check raises it from ``getmany``
    instead, to the application, and refetches it on the next call.
    """
    if not (AVAILABLE and consumer._check_crcs):
        return False
    client = consumer._client
    send: Callable[..., Awaitable[Any]] = client.send

    async def send_checked(node_id: int, request: Any, **kwargs: Any) -> Any:
        response = await send(node_id, request, **kwargs)
        if request.API_KEY == _FETCH:
            check_response(response)
        return response

    client.send = send_checked  # this client's only: every other consumer's is untouched
    consumer._check_crcs = False  # read once, by start(), which hands it to the fetcher
    return True
