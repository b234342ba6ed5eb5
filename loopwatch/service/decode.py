"""Kafka message values → the JSON objects inside them, or why they cannot be read.

One message may hold a single CloudTrail record, an EventBridge envelope, an invocation event,
a whole CloudTrail log file (``{"Records": [...]}``), a JSON array of any of these, or JSON
Lines; any of them may be gzip-compressed. Batching many records into one message is what
keeps Faust's per-message cost from capping throughput.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import orjson

_GZIP_MAGIC = b"\x1f\x8b"
# A decompressed message larger than this is refused rather than exhausting memory.
MAX_DECODED_BYTES = 256 * 1024 * 1024


class Undecodable(ValueError):
    """The message as a whole cannot be read; the reason is the exception's text."""


@dataclass(slots=True)
class Decoded:
    objects: list[object]
    bad_lines: list[str] = field(default_factory=list)
    """One reason per JSON Lines line that is not JSON; the other lines are in ``objects``."""


def decode_message(value: bytes | None) -> Decoded:
    """The objects carried by one message value, in order.

    Raises Undecodable for an empty value, bad gzip, bytes that are neither JSON nor JSON
    Lines, or a ``Records`` that is not a list. Objects that are not records (a number, an
    object without eventTime) are returned as they are: the parser rejects them one by one,
    so a bad record does not take its batch down with it.
    """
    if not value:
        raise Undecodable("empty message")
    if value[:2] == _GZIP_MAGIC:
        value = _gunzip(value)
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return _json_lines(value)
    if isinstance(document, list):
        return Decoded(document)
    if isinstance(document, dict) and "Records" in document:
        records = document["Records"]
        if not isinstance(records, list):
            raise Undecodable("Records is not a list")
        return Decoded(records)
    return Decoded([document])


def _gunzip(value: bytes) -> bytes:
    stream = zlib.decompressobj(wbits=31)
    try:
        data = stream.decompress(value, MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise Undecodable(f"bad gzip: {exc}") from exc
    if len(data) >= MAX_DECODED_BYTES:
        raise Undecodable(f"decompresses to more than {MAX_DECODED_BYTES} bytes")
    if not stream.eof:
        raise Undecodable("bad gzip: truncated")
    return data


def _json_lines(value: bytes) -> Decoded:
    lines = [line for line in value.split(b"\n") if line.strip()]
    decoded = Decoded([])
    for number, line in enumerate(lines, 1):
        try:
            decoded.objects.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            decoded.bad_lines.append(f"line {number} is not JSON ({exc})")
    if not decoded.objects:  # nothing readable at all: the message itself is garbage
        raise Undecodable(f"not JSON: {_preview(value)}")
    return decoded


def _preview(value: bytes) -> str:
    text = value[:60].decode("utf-8", "replace")
    return repr(text) + ("…" if len(value) > 60 else "")
