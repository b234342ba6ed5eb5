"""The selective decoder (thin records, msgspec) says what the full decoder says: the same facts,
the same rejections for the same reasons, the same counts and problems for whole files — and
it really is selective: fields nobody reads stay unparsed."""

from __future__ import annotations

import copy
import gzip
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.events.decode import Selected, decode
from loopwatch.events.intake import Intake
from loopwatch.events.sources import decode_unit, plan
from loopwatch.events.thin import Thin
from loopwatch.testing import records as r
from loopwatch.testing.data import shared_data_dir
from loopwatch.testing.parity import NOW, shape_pool, verdict
from loopwatch.topology import builtin_topologies, load_topology, write_simulation

SAMPLES = shared_data_dir(__file__, "cloudtrail-samples") / "records.jsonl"
NONVERBATIM = SAMPLES.with_name("records_nonverbatim.jsonl")  # documented parts only


def lines(items: list[object]) -> bytes:
    return b"\n".join(orjson.dumps(item) for item in items) + b"\n"


def same(data: bytes, shape: str = "any") -> None:
    thin = verdict(data, shape, selective=True)  # type: ignore[arg-type]
    full = verdict(data, shape, selective=False)  # type: ignore[arg-type]
    assert thin == full


# --- real shapes ------------------------------------------------------------------------


def test_every_builder_shape_gives_the_same_facts_and_really_goes_thin() -> None:
    pool = shape_pool()
    document = orjson.dumps({"Records": pool})
    same(document, "document")
    same(document, "any")
    same(lines(pool), "lines")
    same(lines(pool), "any")
    decoded = decode(document, "document", selective=True)
    assert all(type(o) is Thin for o in decoded.objects)
    # The heavy fields of a record are bytes until its parser asks: nothing was parsed.
    first = decoded.objects[0]
    assert isinstance(first, Thin) and bytes(first.requestParameters).startswith(b"{")
    factless = [o for o in decoded.objects if not Intake().take([o], NOW).facts]
    assert len(factless) == 4 and len(pool) > 20  # as shape_pool() says


def test_a_message_of_one_record_is_decoded_thin_once_and_gives_the_same_facts() -> None:
    for record in shape_pool():
        message = orjson.dumps(record)
        same(message, "any")
        decoded = decode(message, "any", selective=True)
        assert [type(o) for o in decoded.objects] == [Thin]
    # A log file however its Records key is written, and values that are no record at all.
    escaped = orjson.dumps({"Records": shape_pool()[:3]}).replace(b'"Records"', b'"Rec\\u006frds"')
    odds = (b"[1, 2]", b"42", b'{"a": "Records"}', b'{"eventName": 1}', b' {"Records": []}')
    for odd in (escaped, *odds, b'{"eventName": "x", "Records": 5}', b'{"x": 1, "Records": [1]}'):
        same(odd, "any")
    assert len(decode(escaped, "any", selective=True).objects) == 3


def test_the_published_sample_records_give_the_same_facts() -> None:
    if not SAMPLES.is_file():
        pytest.skip(f"sample records not found at {SAMPLES} (kept outside the repository)")
    data = (
        SAMPLES.read_bytes() + b"\n" + (NONVERBATIM.read_bytes() if NONVERBATIM.is_file() else b"")
    )
    same(data, "lines")
    samples = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    same(orjson.dumps({"Records": samples}), "document")
    same(lines([r.eventbridge(x) for x in samples]), "lines")
    assert verdict(data, "lines", selective=True).counts["used"] > 0


@pytest.mark.parametrize("path", builtin_topologies(), ids=lambda p: p.stem)
def test_whole_simulated_trails_count_alike(path: Path, tmp_path: Path) -> None:
    write_simulation(load_topology(path), tmp_path, noise=40)
    full, thin = Intake(), Intake()
    units = 0
    for name in sorted(str(p) for p in tmp_path.rglob("*.gz")):
        data = Path(name).read_bytes()
        a = decode_unit(name, data)
        b = decode_unit(name, data, selective=True)
        assert (a.errors, a.malformed, len(a.objects)) == (b.errors, b.malformed, len(b.objects))
        ta, tb = full.take(a.objects, NOW), thin.take(b.objects, NOW)
        assert (ta.counts, ta.facts, ta.rejected) == (tb.counts, tb.facts, tb.rejected)
        units += isinstance(b.objects, Selected)
    assert units >= 1


# --- damage behaves as on the full path ---------------------------------------------------


def test_invalid_utf8_bad_lines_and_odd_documents_behave_alike() -> None:
    loop = r.s3_self_loop(writes=3)
    body = orjson.dumps({"Records": loop})
    cases = {
        "bad byte in a read field": body.replace(b"incoming/1.jpg", b"incoming/\xff.jpg"),
        "bad byte in a skipped field": body.replace(b"Boto3/1.34.0", b"Boto3/\xfe.34.0", 1),
        "records not a list": b'{"Records": {"a": 1}}',
        "records a number": b'{"Records": 5}',
        "no records": b'{"eventVersion": "1.08"}',
        "items not objects": orjson.dumps({"Records": [loop[0], 42, "x", None, [1], loop[3]]}),
        "a list of records": orjson.dumps(loop),
        "one record": orjson.dumps(loop[3]),
        "not JSON": b"\x00garbage",
        "truncated document": body[:-40],
        "blank": b"  \n ",
        "empty": b"",
        "lines with bad ones": lines(loop[:2]) + b"{oops\n\n[1, 2]\n" + lines(loop[2:]),
        "lines with a bad byte": lines(loop).replace(b"incoming/2", b"incoming/\xfe"),
        "lines with a lone surrogate": lines(loop[:2]) + b'{"eventName": "\\ud800"}\n',
        "too deep": b'{"Records": [{"eventName": "x", "a": ' + b"[" * 1100 + b"]" * 1100 + b"}]}",
        "deep enough": b'{"Records": [{"eventName": "x", "a": ' + b"[" * 900 + b"]" * 900 + b"}]}",
        "an envelope inside an envelope": orjson.dumps([r.eventbridge(r.eventbridge(loop[3]))]),
    }
    for name, data in cases.items():
        for shape in ("document", "lines", "any"):
            for wrapped in (data, gzip.compress(data)):
                thin = verdict(wrapped, shape, selective=True)  # type: ignore[arg-type]
                full = verdict(wrapped, shape, selective=False)  # type: ignore[arg-type]
                assert thin == full, (name, shape)


def test_gzip_bounds_and_damage_behave_alike() -> None:
    loop = r.s3_self_loop(writes=40)
    whole = gzip.compress(lines(loop))
    bomb = gzip.compress(b" " * (4 * 1024 * 1024), compresslevel=9)
    for data, limit in ((whole[: len(whole) * 2 // 3], 1 << 20), (bomb, 1 << 20), (whole, 100)):
        for shape in ("document", "lines", "any"):
            a = decode(data, shape, limit=limit)  # type: ignore[arg-type]
            b = decode(data, shape, limit=limit, selective=True)  # type: ignore[arg-type]
            assert (a.problems, a.malformed, a.unreadable) == (
                b.problems,
                b.malformed,
                b.unreadable,
            )
            assert Intake().take(a.objects, NOW) == Intake().take(b.objects, NOW)


def test_a_rejected_thin_record_is_kept_as_the_full_record() -> None:
    no_time = r.record(r.SQS, "SendMessage", {"queueUrl": r.queue_url("q")})
    del no_time["eventTime"]
    bad_bucket = r.record(r.S3, "PutObject", {"key": "k"}, identity=r.assumed_role("f", "f"))
    data = orjson.dumps({"Records": [r.s3_self_loop(writes=0)[0], no_time, bad_bucket, no_time]})
    decoded = decode(data, "document", selective=True)
    assert isinstance(decoded.objects, Selected) and type(decoded.objects[1]) is Thin
    rejected = Intake().take(decoded.objects, NOW).rejected
    assert rejected["eventTime is missing or not a string"] == (2, no_time)
    assert [first for _, first in rejected.values()] == [no_time, bad_bucket]
    assert "tlsDetails" in no_time and decoded.objects.original(2) == bad_bucket


def test_a_raised_recursion_limit_takes_the_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    data = orjson.dumps({"Records": r.s3_self_loop(writes=1)})
    assert type(decode(data, selective=True).objects[0]) is Thin
    # Past orjson's depth limit msgspec would keep what orjson refuses: no selective path.
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: 5000)
    assert type(decode(data, selective=True).objects[0]) is dict


def test_replay_reads_records_thin(tmp_path: Path) -> None:
    r.write_log(tmp_path / "a.json.gz", r.s3_self_loop(writes=2))
    chunk = next(plan([str(tmp_path)], selective=True).chunks())
    assert isinstance(chunk.objects, Selected) and all(type(o) is Thin for o in chunk.objects)
    assert all(type(o) is dict for o in next(plan([str(tmp_path)]).chunks()).objects)


# --- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Every field a thin record carries, some it skips, and the parameters handlers read.
TOP_KEYS = [
    *(key for key in Thin.__struct_encode_fields__),
    "tlsDetails",
    "userAgent",
    "Records",
]
PARAM_KEYS = ["bucketName", "key", "queueUrl", "functionName", "eventSourceArn", "uUID", "role"]
POOL = shape_pool()
for sample in (SAMPLES, NONVERBATIM):
    if sample.is_file():
        POOL += [orjson.loads(line) for line in sample.read_bytes().splitlines() if line.strip()]


@st.composite
def mutated(draw: st.DrawFn) -> object:
    """A real-shaped record with some fields replaced, removed or mistyped; or any JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    rec = copy.deepcopy(draw(st.sampled_from(POOL)))
    for key in draw(st.lists(st.sampled_from(TOP_KEYS), max_size=3)):
        if draw(st.booleans()):
            rec.pop(key, None)
        else:
            rec[key] = draw(json_values)
    params = rec.get("requestParameters")
    if isinstance(params, dict):
        for key in draw(st.lists(st.sampled_from(PARAM_KEYS), max_size=2)):
            params[key] = draw(json_values)
    identity = rec.get("userIdentity")
    if isinstance(identity, dict) and draw(st.booleans()):
        identity[draw(st.sampled_from(["type", "arn", "accountId", "invokedBy"]))] = draw(
            json_values
        )
    return rec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), max_size=6), st.sampled_from(["document", "lines", "any"]))
def test_any_records_give_the_same_verdict_thin_or_full(items: list[object], shape: str) -> None:
    data = lines(items) if shape == "lines" else orjson.dumps({"Records": items})
    same(data, shape)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_one_record_messages_give_the_same_verdict_thin_or_full(item: object) -> None:
    same(orjson.dumps(item), "any")


@settings(max_examples=200, deadline=None)
@given(st.lists(mutated(), max_size=4), st.binary(max_size=8), st.integers(0, 3))
def test_damaged_lines_give_the_same_verdict(items: list[object], junk: bytes, at: int) -> None:
    parts = [orjson.dumps(item) for item in items]
    parts.insert(min(at, len(parts)), junk)
    data = b"\n".join(parts)
    same(data, "lines")
    same(data, "any")
