"""Records damaged so that each alone is no JSON, and the log files that hold one among good ones.

    {"Records": [good, good, DAMAGED, good]} ──decode──► good, good, good  (+1 malformed)

Each damage keeps the record's own brackets and quotes closed, as a careless or hostile writer
leaves them: what the fast decoders refuse for it (a lone surrogate escape, nesting past their
1,024 levels, a bad literal) must cost that record alone, never the records beside it. Built
as bytes: orjson will neither write a lone surrogate nor nest past 255 levels.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence

import orjson

LONE_SURROGATE = "a lone surrogate escape"
TOO_DEEP = "nested 1,030 levels deep"


def damaged(like: Mapping[str, object]) -> dict[str, bytes]:
    """``like`` (a record) damaged in each way, by name: JSON text only that record fails."""
    body = orjson.dumps(like)[:-1]  # the record without its closing brace, to add a field to
    # Brackets, braces, commas and escaped quotes in strings: a cut at any of them would split
    # the record wrongly and cost its neighbours.
    noise = b',"note":"]},{\\"Records\\":[ \\\\"'

    def field(text: bytes) -> bytes:
        return body + noise + b',"extra":' + text + b"}"

    return {
        LONE_SURROGATE: field(b'"\\ud800"'),
        "a lone low surrogate in a key": body + noise + b',"\\udc00":1}',
        TOO_DEEP: field(b'{"a":' * 1030 + b"1" + b"}" * 1030),
        "lists nested 1,100 levels deep": field(b"[" * 1100 + b"]" * 1100),
        "a bad literal": field(b"tru"),
        "NaN": field(b"NaN"),
        "a leading zero": field(b"012"),
        "a bad escape": field(b'"\\x41"'),
        "a raw control character": field(b'"a\x01b"'),
        "a trailing comma": field(b'{"a":1,}'),
        "a missing value": body + b',"extra":}',
    }


def log_with(
    records: Sequence[Mapping[str, object]], bad: bytes, at: int, *, gz: bool = False
) -> bytes:
    """A CloudTrail log file of ``records`` with the JSON text ``bad`` inserted before
    record ``at`` (any index, the end included); gzip when ``gz``."""
    items = [orjson.dumps(record) for record in records]
    items.insert(at, bad)
    body = b'{"Records":[' + b",".join(items) + b"]}"
    return gzip.compress(body) if gz else body
