"""Input that once stopped the worker or skewed it (issues 7 and 17), as Kafka message values.

Each entry of ``poison_messages`` is ``(name, value)``: a message a hostile or broken producer
could send. None of them may crash the worker, lose the valid records batched with them, move an
account's event time, or send more than one dead letter per reason. ``fan_out_flood`` is valid
input that costs: records naming thousands of targets each, which must cost no more than
the targets their call accepts (``cloudtrail.base.target_limit``).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping

import orjson

from loopwatch.testing import records as r

JSONObject = dict[str, object]


def poison_messages(valid: Mapping[str, object]) -> list[tuple[str, bytes]]:
    """Poison for the account of ``valid`` (a relevant CloudTrail record it may be mixed with)."""

    def like(**changes: object) -> JSONObject:
        return {**valid, "eventID": f"poison-{r.event_id()}", **changes}

    # Built as text: orjson will not encode nesting this deep (it decodes up to 1024 levels).
    envelope = (
        b'{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":'
    )
    nested = envelope * 400 + orjson.dumps(like()) + b"}" * 400
    huge = {k: v for k, v in like().items() if k != "eventTime"}
    huge["padding"] = "x" * (3 * 1024 * 1024)
    return [
        ("garbage bytes", b"\x00\x01\x02 not json \xff\xfe"),
        ("empty", b""),
        (
            "the end of time, with an offset past 9999",
            orjson.dumps({"Records": [like(eventTime="9999-12-31T23:59:10-23:59")]}),
        ),
        ("ten years ahead", orjson.dumps({"Records": [like(eventTime="2036-01-01T00:00:00Z")]})),
        ("envelopes 400 deep", nested),
        ("a gzip bomb (300 MB of zeros)", gzip_bomb(300 * 1024 * 1024)),
        ("a 3 MB malformed record, gzipped", gzip.compress(orjson.dumps({"Records": [huge]}))),
        ("20,000 bad records in one message", orjson.dumps({"Records": list(range(20_000))})),
        (
            "invalid UTF-8 in a record",
            orjson.dumps({"Records": [like(eventTime="2036-01-01T00:00:00Z")]}).replace(
                b"2036", b"2\xff36"
            ),
        ),
        ("not a log", orjson.dumps({"Records": "nope"})),
    ]


def gzip_bomb(size: int) -> bytes:
    """About ``size`` zero bytes as gzip: one member of up to 64 MiB, repeated (concatenated
    members are one gzip stream), so that making a 3 GiB bomb takes a fraction of a second."""
    member_size = min(size, 64 * 1024 * 1024)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [deflate.compress(block) for _ in range(member_size >> 20)]
    parts.append(deflate.flush())
    return b"".join(parts) * max(1, size // member_size)


FLOOD_ROLE = "flood-role"


def fan_out_record(account: str, tables: int, *, time: str = r.TIME, tag: str = "0") -> JSONObject:
    """A BatchWriteItem by a session of ``FLOOD_ROLE`` naming ``tables`` tables
    (``flood<tag>-<n>``), one delete request each, in the API's ``{table: [requests]}`` shape."""
    items: JSONObject = {
        f"flood{tag}-{n:04d}": [{"DeleteRequest": {"Key": {}}}] for n in range(tables)
    }
    return r.record(
        r.DYNAMODB,
        "BatchWriteItem",
        {"requestItems": items},
        identity=r.assumed_role(FLOOD_ROLE, "flooder", account=account),
        time=time,
        account=account,
    )


def fan_out_flood(
    account: str,
    *,
    messages: int = 40,
    tables: int = 7_000,
    start: float = -50.0,
    new_tables: bool = True,
) -> list[bytes]:
    """Issue 17's flood: ``messages`` CloudTrail files of one BatchWriteItem each, naming
    ``tables`` tables (about 320 KB for 7,000), dated a second apart from ``start`` seconds
    after ``records.TIME``. With ``new_tables`` each message names tables of its own, so the
    account's state grows by the tables kept of every record; else all name the same."""
    return [
        orjson.dumps(
            r.trail_file(
                fan_out_record(
                    account, tables, time=r.at(start + m), tag=f"{m:02d}" if new_tables else "00"
                )
            )
        )
        for m in range(messages)
    ]
