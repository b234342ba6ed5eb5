"""Bytes → JSON values: the one decoder of files, standard input, S3 objects and Kafka messages.

    bytes ─► gzip? (magic bytes; inflated up to a bound) ─► one JSON document?
                 ├─ {"Records": [...]}  a CloudTrail log file       ─► its records
                 ├─ [...]               a list of objects           ─► its items
                 ├─ {...}               one record / envelope / event ─► [it]
                 └─ not a document ─► JSON Lines, line by line (bad lines counted, the rest kept)

Damage costs only what it touches: a bad line costs that line; an invalid UTF-8 byte is
replaced (U+FFFD), costing only the text of the field it sits in; a truncated or corrupt gzip
keeps the complete lines before the damage; an object that inflates past the bound is refused
rather than exhausting memory. Nothing here raises for bad input: every problem is a sentence
in ``Decoded.problems``, once per kind of problem.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Literal

import orjson

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECODED_BYTES = 256 * 1024 * 1024
"""Default bound on the bytes of one object after decompression (DESIGN §2: size bounds)."""
_BLOCK = 1 << 20

Shape = Literal["document", "lines", "any"]
"""``document``: a CloudTrail log file (``.json``); ``lines``: JSON Lines (``.jsonl``);
``any``: sniffed (standard input, a Kafka message)."""


@dataclass(slots=True)
class Decoded:
    objects: list[object] = field(default_factory=list)
    """The JSON values, in their order in the input."""
    malformed: int = 0
    """Entries that could not be decoded at all (lines that are not JSON)."""
    problems: list[str] = field(default_factory=list)
    """One sentence per kind of problem met; empty for clean input."""
    unreadable: bool = False
    """Nothing of the input could be read (bad gzip before any line, not JSON, too large)."""

    def fail(self, reason: str) -> Decoded:
        self.problems.append(reason)
        self.unreadable = not self.objects
        return self


def decode(data: bytes, shape: Shape = "any", *, limit: int = MAX_DECODED_BYTES) -> Decoded:
    """Decode one object's bytes (see the module doc); never raises for bad input."""
    out = Decoded()
    if len(data) > limit:
        return out.fail(f"larger than {limit:,} bytes: not read")
    damage = ""
    if data[:2] == GZIP_MAGIC:
        data, damage = inflate(data, limit)
        if damage and (shape == "document" or not data):
            return out.fail(damage)
        if damage:
            shape = "lines"  # what was inflated before the damage may still hold whole lines
    if shape != "lines":
        if not data or data.isspace():  # isspace stops at the first non-blank: no copy
            return out
        document, bad_text = _loads(data)
        if document is not _INVALID:
            if bad_text:
                out.problems.append(bad_text)
            return _document(out, document, strict=shape == "document")
        if shape == "document":
            return out.fail(f"not JSON: {bad_text}")
    _lines(out, data, drop_tail=bool(damage))
    if damage:
        out.problems.insert(0, f"{damage}; kept the {len(out.objects)} complete lines before it")
    if shape == "any" and not out.objects:
        # Sniffed input with no line of JSON at all is garbage as a whole, not bad lines.
        return Decoded(problems=[f"not JSON: {_preview(data)}"], unreadable=True)
    return out


def inflate(data: bytes, limit: int = MAX_DECODED_BYTES) -> tuple[bytes, str]:
    """The decompressed bytes of (concatenated) gzip members, and why inflation stopped early
    ("" if it did not): corrupt or truncated input, or more than ``limit`` bytes of output.

    Input goes in blocks and output is bounded per call, so a bomb costs ``limit`` bytes of
    memory at most, and on damage the output of every block before it survives.
    """
    out: list[bytes] = []
    total = 0
    view = memoryview(data)
    pos, end = 0, len(data)
    try:
        while pos < end:
            inflater = zlib.decompressobj(wbits=31)
            while not inflater.eof and pos < end:
                block = view[pos : pos + _BLOCK]
                pos += len(block)
                chunk = inflater.decompress(block, limit - total + 1)
                while True:
                    total += len(chunk)
                    out.append(chunk)
                    if total > limit:
                        return b"", f"decompresses to more than {limit:,} bytes: not read"
                    if not inflater.unconsumed_tail:
                        break
                    chunk = inflater.decompress(inflater.unconsumed_tail, limit - total + 1)
            if not inflater.eof:
                return b"".join(out), "truncated gzip"
            pos -= len(inflater.unused_data)
            if data[pos : pos + 2] != GZIP_MAGIC:
                break  # padding or garbage after the last member, which gzip(1) ignores too
    except zlib.error as exc:
        return b"".join(out), f"corrupt gzip: {exc}"
    return b"".join(out), ""


# -- inside ---------------------------------------------------------------------------------

_INVALID = object()


def _loads(data: bytes) -> tuple[object, str]:
    """(value, note) of one JSON text; (_INVALID, why) when it is not JSON.

    Invalid UTF-8 is replaced rather than refused: CloudTrail copies user-supplied text (keys,
    user agents) into records, and one bad byte must not cost the file.
    """
    try:
        return orjson.loads(data), ""
    except orjson.JSONDecodeError as exc:
        if "UTF-8" not in str(exc):
            return _INVALID, str(exc)
    text = data.decode("utf-8", "replace")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _INVALID, str(exc)
    return value, f"{text.count(chr(0xFFFD))} bytes of invalid UTF-8 replaced"


def _document(out: Decoded, document: object, *, strict: bool) -> Decoded:
    if isinstance(document, dict) and "Records" in document:
        records = document["Records"]
        if isinstance(records, list):
            out.objects = records
            return out
        return out.fail(f"Records is not a list but {type(records).__name__}")
    if strict:
        return out.fail("not a CloudTrail log file: no Records list")
    out.objects = document if isinstance(document, list) else [document]
    return out


def _lines(out: Decoded, data: bytes, *, drop_tail: bool) -> None:
    lines = data.split(b"\n")
    if drop_tail:  # the part after the last newline was cut off mid-line
        lines.pop()
    objects = out.objects
    bad = replaced = 0
    first = ""
    loads = orjson.loads
    for number, line in enumerate(lines, 1):
        try:
            objects.append(loads(line))
            continue
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            value, _ = _loads(line)
            if value is not _INVALID:
                objects.append(value)
                replaced += 1
                continue
            if not bad:
                first = f"line {number}: {exc}"
            bad += 1
    if replaced:
        out.problems.append(f"invalid UTF-8 replaced in {replaced} line{'s' * (replaced != 1)}")
    if bad:
        out.malformed += bad
        noun = "line is" if bad == 1 else "lines are"
        out.problems.append(f"{bad} {noun} not JSON (first: {first})")


def _preview(value: bytes) -> str:
    text = value[:60].decode("utf-8", "replace")
    return repr(text) + ("…" if len(value) > 60 else "")
