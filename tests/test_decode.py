"""The one decoder (``loopwatch.events.decode``): every input form, and damage that costs only
what it touches."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.events.decode import decode, inflate
from loopwatch.testing import records as r


def test_every_message_form_decodes_to_its_objects() -> None:
    loop = r.s3_self_loop(writes=2)
    assert decode(orjson.dumps(loop[0])).objects == [loop[0]]
    assert decode(orjson.dumps({"Records": loop})).objects == loop
    assert decode(orjson.dumps(loop)).objects == loop
    assert decode(gzip.compress(orjson.dumps({"Records": loop}))).objects == loop
    lines = b"\n".join(orjson.dumps(x) for x in loop)
    assert decode(lines).objects == loop
    assert decode(lines, "lines").objects == loop
    envelope = r.eventbridge(loop[1])
    assert decode(orjson.dumps(envelope)).objects == [envelope]


def test_bad_lines_are_named_and_good_lines_kept() -> None:
    loop = r.s3_self_loop(writes=1)
    decoded = decode(orjson.dumps(loop[0]) + b"\n{oops\n" + orjson.dumps(loop[1]))
    assert decoded.objects == loop[:2] and decoded.malformed == 1
    assert decoded.problems == [decoded.problems[0]] and "line 2" in decoded.problems[0]
    assert not decoded.unreadable


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00\xffgarbage bytes", "not JSON"),
        (b"\x1f\x8b\x08\x00broken", "gzip"),
        (b'{"Records": 5}', "not a list"),
    ],
)
def test_unreadable_messages_say_why(value: bytes, reason: str) -> None:
    decoded = decode(value)
    assert decoded.unreadable and decoded.objects == []
    assert any(reason in p for p in decoded.problems)


def test_an_invalid_utf8_byte_costs_only_its_field() -> None:
    loop = r.s3_self_loop(writes=3)
    body = orjson.dumps({"Records": loop}).replace(b"incoming/1.jpg", b"incoming/\xff.jpg")
    decoded = decode(body, "document")
    assert len(decoded.objects) == len(loop)  # every record kept, the loop included
    assert decoded.objects[3]["requestParameters"]["key"] == "incoming/\ufffd.jpg"  # type: ignore[index]
    assert decoded.problems == ["1 bytes of invalid UTF-8 replaced"]
    lines = b"\n".join(orjson.dumps(x) for x in loop).replace(b"incoming/2", b"incoming/\xfe")
    decoded = decode(lines, "lines")
    assert len(decoded.objects) == len(loop) and decoded.malformed == 0


def test_a_gzip_bomb_is_refused_within_its_bound() -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * 1024), compresslevel=9)
    decoded = decode(bomb, "document", limit=1024 * 1024)
    assert decoded.unreadable and "more than 1,048,576 bytes" in decoded.problems[0]
    data, why = inflate(bomb, limit=1024 * 1024)
    assert data == b"" and "more than" in why


def test_a_truncated_gzip_keeps_the_complete_lines_before_the_damage() -> None:
    loop = r.s3_self_loop(writes=50)
    whole = gzip.compress(b"\n".join(orjson.dumps(x) for x in loop))
    decoded = decode(whole[: len(whole) * 3 // 4], "lines")
    assert 0 < len(decoded.objects) < len(loop)
    assert decoded.objects == loop[: len(decoded.objects)]
    assert decoded.problems[0].startswith("truncated gzip; kept the")


def test_concatenated_gzip_members_are_one_stream() -> None:
    a, b = (orjson.dumps(x) + b"\n" for x in r.s3_self_loop(writes=0))
    assert len(decode(gzip.compress(a) + gzip.compress(b), "lines").objects) == 2


def test_objects_larger_than_the_bound_are_not_read() -> None:
    decoded = decode(b" " * 100 + b"[]", limit=50)
    assert decoded.unreadable and "larger than 50 bytes" in decoded.problems[0]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    decoded = decode(value)
    assert not (decoded.unreadable and decoded.objects)  # unreadable means nothing was read
    # Each bad line, or each bad record of a list (its items are cut at commas), once.
    assert decoded.malformed <= value.count(b"\n") + value.count(b",") + 1


@given(st.binary(max_size=200))
def test_arbitrary_gzip_payloads_never_raise(value: bytes) -> None:
    for shape in ("document", "lines", "any"):
        decode(gzip.compress(value), shape)  # type: ignore[arg-type]
        decode(zlib.compress(value), shape)  # type: ignore[arg-type]
