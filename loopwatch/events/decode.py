"""Bytes → JSON values: the one decoder of files, standard input, S3 objects and Kafka messages.

    bytes ─► gzip? (magic bytes; inflated up to a bound) ─► one JSON document?
                 ├─ {"Records": [...]}  a CloudTrail log file       ─► its records
                 ├─ [...]               a list of objects           ─► its items
                 ├─ {...}               one record / envelope / event ─► [it]
                 └─ not a document ─┬─ a log file (or list) with damaged records ─► record by
                                    │  record: its list cut into records, each parsed alone
                                    └─ else JSON Lines, line by line
                                       (bad records and lines counted, the rest kept)

Damage costs only what it touches: a bad line costs that line, and a bad record that record
(a lone surrogate escape such as ``\\ud800``, nesting past 1,024 levels, a bad token: the fast
decoders refuse the whole text for it, so the text is cut into its records by a scanner that
reads only brackets, commas and strings, and each record is decoded alone). An invalid UTF-8
byte is replaced (U+FFFD), costing only the text of the field it sits in; a truncated or
corrupt gzip keeps the complete lines before the damage; an object that inflates past the
bound is refused rather than exhausting memory. Nothing here raises for bad input: every
problem is a sentence in ``Decoded.problems``, once per kind of problem.

With ``selective=True`` (replay and the worker) the records come out as ``thin.Thin`` structs
decoded by msgspec — only the fields loopwatch reads, the rest skipped unparsed — in a
``Selected`` list that can still give each one's full JSON value (for a dead letter). Input
the selective path cannot vouch for is decoded by the full path, so both give the same
objects' facts, the same counts and the same problems:

    valid UTF-8? ─no─► full path (which replaces the bad bytes and says so)
        │ yes
    {"Records": [objects]} ─► Thin … Thin, one pass
    {"Records": [anything]} ─► a Thin per object, the full value of any other item
    not one JSON document ─► damaged records: the full path, record by record
                          └► "lines": a Thin per object line, the full path per other line
    anything else (one object, a list, not a log file, too deep) ─► full path

One difference is known and kept: a number beyond a double's range (``1e400``) in a field
nobody reads is skipped by msgspec, where orjson refuses the whole document; the selective
path keeps the file, as "damage costs only what it touches" asks.
"""

from __future__ import annotations

import codecs
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import orjson

from loopwatch.events.thin import UNSET, Log, RawLog, Thin

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


class Selected(list[object]):
    """The selective decoder's objects (mostly ``Thin`` records), and the way back to the full
    JSON value of each: ``original(i)`` decodes the input again in full, once, on first use —
    only a record that is rejected ever needs it."""

    __slots__ = ("_data", "_full", "_shape", "_tail")

    def __init__(self, data: bytes, shape: Shape, drop_tail: bool) -> None:
        super().__init__()
        self._data, self._shape, self._tail = data, shape, drop_tail
        self._full: list[object] | None = None

    def original(self, index: int) -> object:
        if self._full is None:
            self._full = _decoded(Decoded(), self._data, self._shape, self._tail, False).objects
        return self._full[index]


def decode(
    data: bytes, shape: Shape = "any", *, limit: int = MAX_DECODED_BYTES, selective: bool = False
) -> Decoded:
    """Decode one object's bytes (see the module doc); never raises for bad input.

    ``selective``: records as ``Thin`` structs where the input allows (see the module doc);
    otherwise every object is its full JSON value.
    """
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
    thin = selective and sys.getrecursionlimit() <= _ORJSON_DEPTH and _utf8(data)
    return _decoded(out, data, shape, bool(damage), thin, damage)


def _decoded(
    out: Decoded, data: bytes, shape: Shape, drop_tail: bool, thin: bool, damage: str = ""
) -> Decoded:
    if shape != "lines":
        if not data or data.isspace():  # isspace stops at the first non-blank: no copy
            return out
        records = _thin_document(data, shape == "any") if thin else _FULL
        if isinstance(records, list):
            out.objects = selected = Selected(data, shape, drop_tail)
            selected.extend(records)
            return out
        # Sniffed input the selective path found not to be one document is not tried whole
        # again; anything else is the full path's to judge, in its own words.
        bad_text = ""
        if records is _FULL or shape == "document":
            document, bad_text = _loads(data)
            if document is not _INVALID:
                if bad_text:
                    out.problems.append(bad_text)
                return _document(out, document, strict=shape == "document")
        # Not one JSON document. A log file (or list) whose damage lies inside records costs
        # those records alone; anything else is JSON Lines, or not JSON at all.
        if (items := _split(data)) is not None:
            if _one_by_one(out, items).objects or shape == "document":
                return out
            return _garbage(data)  # as sniffed lines with no line of JSON are
        if shape == "document":
            return out.fail(f"not JSON: {bad_text}")
    if thin:
        out.objects = Selected(data, shape, drop_tail)
    _lines(out, data, drop_tail=drop_tail, thin=thin)
    if damage:
        out.problems.insert(0, f"{damage}; kept the {len(out.objects)} complete lines before it")
    if shape == "any" and not out.objects:
        return _garbage(data)
    return out


def _garbage(data: bytes) -> Decoded:
    # Sniffed input with no line or record of JSON at all is garbage as a whole, not bad
    # lines or records.
    return Decoded(problems=[f"not JSON: {_preview(data)}"], unreadable=True)


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


# orjson's words for JSON nested past its 1,024 levels.
_TOO_DEEP = "depth limit exceeded"
# The brackets and commas that shape a JSON text, each with the bytes before it that do not:
# numbers, literals, colons, blanks and whole strings (brackets inside a string are text; an
# unterminated string runs to the end). Possessive throughout, and every byte either belongs
# to a token or ends the text, so any input is scanned in linear time.
_TOKENS = re.compile(
    rb'(?s)(?:[^"\[\]{},]++|"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z))*+(?:([\[{])|([\]}])|(,)|\Z)'
)
_OPEN, _CLOSE, _COMMA = 1, 2, 3
_RECORDS_LIST = re.compile(rb'\s*"Records"\s*:\s*\[')  # a token that opens a log's list
_HEAD = re.compile(rb"\s*([\[{])")
_BLANK_END = re.compile(rb"\s*\Z")


def _split(data: bytes) -> list[bytes] | None:
    """The raw items of a document's ``Records`` list (or of a top-level list), found without
    parsing them, for a document that does not parse whole: one damaged record must cost that
    record, not the file. None when ``data`` is not one such document (JSON Lines, say).

    Only brackets, commas and the extent of strings are read, so a record whose own brackets
    and quotes close (a lone surrogate escape, a bad literal, nesting past the limit) is cut
    out exactly; an unterminated string can shift the cuts after it, and the records it
    garbles are then malformed too. It costs about ten times the selective decoder, paid
    only by input that did not decode.
    """
    head = _HEAD.match(data)
    if head is None:
        return None
    inside = 1 if head.group(1) == b"[" else 2  # the depth of the list's items
    items: list[bytes] = []
    depth, start, done = 0, -1, False
    for token in _TOKENS.finditer(data):
        kind = token.lastindex
        if kind == _OPEN:
            depth += 1
            if (
                depth == inside
                and start < 0
                and not done
                and (inside == 1 or _RECORDS_LIST.fullmatch(token.group()))
            ):
                start = token.end()
        elif kind == _CLOSE:
            if depth == inside and start >= 0:
                if token.group(_CLOSE) != b"]":
                    return None
                items.append(data[start : token.start(_CLOSE)])
                start, done = -1, True
            depth -= 1
            if depth == 0:  # the top-level value ends: one document, if nothing follows
                if done and _BLANK_END.match(data, token.end()):
                    return [item for item in items if item.strip()]
                return None
        elif kind == _COMMA and depth == inside and start >= 0:  # between two records
            items.append(data[start : token.start(_COMMA)])
            start = token.end()
    return None


def _one_by_one(out: Decoded, items: list[bytes]) -> Decoded:
    """The records of a document that does not parse whole, each parsed alone: those that
    are no JSON by themselves (nested too deep, a lone surrogate escape, a bad token) are
    counted malformed, once per kind of reason; the rest are kept."""
    deep = bad = replaced = 0
    first = ""
    for number, item in enumerate(items, 1):
        value, note = _loads(item)
        if value is not _INVALID:
            out.objects.append(value)
            replaced += bool(note)
        elif _TOO_DEEP in note:
            deep += 1
        else:
            first = first or f"record {number}: {note}"
            bad += 1
    if replaced:
        out.problems.append(f"invalid UTF-8 replaced in {replaced} record{'s' * (replaced != 1)}")
    if deep:
        noun = "record is" if deep == 1 else "records are"
        out.problems.append(f"{deep} {noun} nested too deep to read (over 1,024 levels): skipped")
    if bad:
        noun = "record is" if bad == 1 else "records are"
        out.problems.append(f"{bad} {noun} not JSON (first: {first}): skipped")
    out.malformed += deep + bad
    return out


def _lines(out: Decoded, data: bytes, *, drop_tail: bool, thin: bool = False) -> None:
    lines = data.split(b"\n")
    if drop_tail:  # the part after the last newline was cut off mid-line
        lines.pop()
    objects = out.objects
    bad = replaced = 0
    first = ""
    loads = orjson.loads
    thin_decode = _THIN.decode
    for number, line in enumerate(lines, 1):
        if thin:
            try:
                objects.append(thin_decode(line))
                continue
            except _NOT_THIN:
                pass  # not an object (or blank, or not JSON): the full path decides, as always
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


# -- the selective path -----------------------------------------------------------------------

_LOG = msgspec.json.Decoder(Log)
_RAW_LOG = msgspec.json.Decoder(RawLog)
_THIN = msgspec.json.Decoder(Thin)
# msgspec's nesting limit is the interpreter's recursion limit (1000 by default), orjson's is
# 1024: while the first is below the second, input too deep for msgspec (RecursionError) is
# left to the full path, which judges it as always; an interpreter whose limit was raised
# past orjson's takes the full path throughout, or msgspec would keep what orjson refuses.
_ORJSON_DEPTH = 1024
_NOT_THIN = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
_UTF8_BLOCK = 1 << 22


def _utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8. msgspec does not check the bytes of the fields it
    skips, so input with an invalid byte goes the full path, which replaces it and says so."""
    if data.isascii():  # nearly all CloudTrail text; a scan with no copy
        return True
    check = codecs.getincrementaldecoder("utf-8")().decode
    try:
        for start in range(0, len(data), _UTF8_BLOCK):  # blocks: no copy the size of the input
            check(data[start : start + _UTF8_BLOCK])
        check(b"", True)
    except UnicodeDecodeError:
        return False
    return True


_FULL = object()  # leave it to the full path
_NOT_JSON = object()  # not one JSON document (for valid UTF-8, msgspec and orjson agree)


def _thin_document(data: bytes, single: bool) -> list[Thin] | list[object] | object:
    """The records of a CloudTrail log file, selectively; _NOT_JSON, or _FULL when ``data``
    is JSON but no object with a ``Records`` list (or too deep for msgspec). ``single``: a
    document with no ``Records`` key at all is one record (a message of one record)."""
    if single and not data.startswith(b'{"Records"'):
        # Not how log files and loopwatch's batches begin: most likely one record, decoded
        # once as one (a Thin knows whether the object had a Records key, however spelt),
        # rather than failing as a log file twice first. Anything else is judged below.
        try:
            record = _THIN.decode(data)
        except msgspec.DecodeError:  # not an object, or not JSON
            pass
        except RecursionError:
            return _FULL
        else:
            if record.Records is UNSET:
                return [record]
    try:
        return _LOG.decode(data).Records
    except msgspec.ValidationError:
        pass  # some item of Records is not an object, or there is no Records list
    except msgspec.DecodeError:
        return _NOT_JSON
    except RecursionError:
        return _FULL
    try:
        return [_thin_item(item) for item in _RAW_LOG.decode(data).Records]
    except (*_NOT_THIN, orjson.JSONDecodeError):
        return _FULL


def _thin_item(item: msgspec.Raw) -> object:
    try:
        return _THIN.decode(item)
    except _NOT_THIN:
        return orjson.loads(memoryview(item))  # not an object: its full value, for the parser


def _preview(value: bytes) -> str:
    text = value[:60].decode("utf-8", "replace")
    return repr(text) + ("…" if len(value) > 60 else "")
