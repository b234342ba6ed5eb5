"""One damaged record costs that record, never its file or message: a record holding a lone
surrogate escape (``"\\ud800"``) or nested 1,030 levels deep, which the fast decoders refuse
the whole text for, is counted malformed with its reason, and the loop beside it is found —
by ``loopwatch replay`` (a gzipped CloudTrail log file) and by a worker (one Kafka message of
hundreds of records), through the one decoder both use."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopwatch.cli import main
from loopwatch.detect.findings import finding_json
from loopwatch.events.decode import decode
from loopwatch.events.intake import Intake
from loopwatch.replay import replay
from loopwatch.testing import records as r
from loopwatch.testing.broker import Broker
from loopwatch.testing.damaged import LONE_SURROGATE, TOO_DEEP, damaged, log_with
from loopwatch.testing.parity import NOW, outcome, shape_pool
from loopwatch.testing.verdicts import Verdict
from loopwatch.testing.worker import read_all, read_until, running_worker, worker_settings
from loopwatch.topology import resolve_topology, write_simulation

REASONS = {
    LONE_SURROGATE: "1 record is not JSON (first: record {n}: no low surrogate in string",
    TOO_DEEP: "1 record is nested too deep to read (over 1,024 levels): skipped",
}


# --- replay ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("damage", [LONE_SURROGATE, TOO_DEEP])
def test_replay_finds_the_loop_beside_a_damaged_record_and_counts_it_malformed(
    damage: str,
    jobs: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    loop = r.s3_self_loop(writes=6)
    at = len(loop) // 2
    clean, hurt = tmp_path / "clean", tmp_path / "hurt"
    r.write_log(clean / "trail.json.gz", loop)
    hurt.mkdir()
    (hurt / "trail.json.gz").write_bytes(log_with(loop, damaged(loop[at])[damage], at, gz=True))

    assert main(["replay", "--format", "json", f"--jobs={jobs}", str(clean)]) == 1
    expected = json.loads(capsys.readouterr().out)
    code = main(["replay", "--format", "json", f"--jobs={jobs}", str(hurt)])
    report = json.loads(capsys.readouterr().out)

    assert code == 1  # a loop was found: the damage is reported, not a failure of the run
    assert report["loops"] == expected["loops"] and report["loops"][0]["status"] == "active"
    assert report["records"] == {**expected["records"], "read": len(loop) + 1, "malformed": 1}
    ((error),) = report["errors"]
    assert error["source"] == str(hurt / "trail.json.gz")
    assert error["reason"].startswith(REASONS[damage].format(n=at + 1))


# --- live: one message of many records --------------------------------------------------------


def test_a_worker_finds_the_loop_in_a_message_holding_a_damaged_record(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    settings = worker_settings(kafka_broker, tmp_path / "data")
    accounts = {LONE_SURROGATE: "330000000001", TOO_DEEP: "330000000002"}
    messages: list[tuple[bytes | None, bytes]] = []
    expected: dict[str, Verdict] = {}
    cut_at: dict[str, int] = {}
    read = 0
    for damage, account in accounts.items():
        sim = write_simulation(resolve_topology("sqs-loop"), tmp_path / account, account=account)
        records = sim.distinct_records()
        assert 300 < len(records) <= 500  # a shipper's batch: one message of many records
        cut_at[account] = at = len(records) // 2
        messages.append((account.encode(), log_with(records, damaged(records[at])[damage], at)))
        read += len(records) + 1
        replayed: list[dict[str, Any]] = []
        report = replay(
            [str(sim.out_dir)],
            on_finding=lambda f, a=account, out=replayed: out.append(finding_json(f, a)),
        )
        expected[account] = Verdict.of(replayed, report.loops)
        assert expected[account].ever_active  # there is a loop to lose

    with running_worker(settings, kafka_broker) as worker:
        kafka_broker.produce(settings.topic("cloudtrail"), messages)

        def all_active(findings: list[Any]) -> bool:
            active = {f["account"] for f in findings if f.get("status") == "active"}
            return set(accounts.values()) <= active

        read_until(kafka_broker, settings.topic("findings"), all_active, timeout=60)
        worker.wait_applied(kafka_broker)  # both messages applied, their dead letters sent
        findings = read_all(kafka_broker, settings.topic("findings"))
        dead = read_all(kafka_broker, settings.topic("deadletter"))
        metrics = worker.get("/metrics")[1].decode()
        processor = worker.service.processor

        async def incidents(account: str) -> list[Any]:
            return list(processor.accounts[account].state.engine.incidents.incidents.values())

        live = {
            account: Verdict.of(
                [f for f in findings if f.get("account") == account],
                worker.call(lambda a=account: incidents(a)),
            )
            for account in accounts.values()
        }

    assert live == expected  # the damage changed no incident
    # One dead letter per message, saying which record and why; nothing else refused.
    by_account = {d["key"]: d["reason"] for d in dead}
    assert len(dead) == 2 and set(by_account) == set(accounts.values())
    for damage, account in accounts.items():
        assert by_account[account].startswith(REASONS[damage].format(n=cut_at[account] + 1))
    assert 'loopwatch_deadletter_total{kind="line"} 2' in metrics
    assert f'loopwatch_records_in_total{{topic="cloudtrail"}} {read}' in metrics


# --- any place, any damage --------------------------------------------------------------------

POOL = shape_pool()
DAMAGES = sorted(damaged(POOL[2]))
# Text with the bytes a scanner of JSON could mistake for structure.
NOTES = st.text(alphabet=st.sampled_from([*'[]{},:"\\ ab', "\n", "\u00e9", "\U0001f600"]))


@settings(max_examples=150, deadline=None)
@given(
    picked=st.lists(st.tuples(st.integers(0, len(POOL) - 1), NOTES), min_size=1, max_size=8),
    damage=st.sampled_from(DAMAGES),
    like=st.integers(0, len(POOL) - 1),
    where=st.integers(0, 8),
    selective=st.booleans(),
    shape=st.sampled_from(["document", "any"]),
    gz=st.booleans(),
)
def test_one_damaged_record_anywhere_leaves_the_others_parse_unchanged(
    picked: list[tuple[int, str]],
    damage: str,
    like: int,
    where: int,
    selective: bool,
    shape: str,
    gz: bool,
) -> None:
    records = [{**POOL[index], "note": note} for index, note in picked]
    at = where % (len(records) + 1)
    body = orjson.dumps({"Records": records})
    clean = decode(gzip.compress(body) if gz else body, shape, selective=selective)  # type: ignore[arg-type]
    bad = damaged(POOL[like])[damage]
    hurt = decode(log_with(records, bad, at, gz=gz), shape, selective=selective)  # type: ignore[arg-type]

    assert [outcome(o) for o in hurt.objects] == [outcome(o) for o in clean.objects]
    assert Intake().take(hurt.objects, NOW).counts == Intake().take(clean.objects, NOW).counts
    assert (hurt.malformed, hurt.unreadable) == (clean.malformed + 1, False)
    assert len(hurt.problems) == len(clean.problems) + 1 and "skipped" in hurt.problems[-1]


def test_a_list_of_records_or_a_message_of_lines_is_cut_only_where_it_is_one_document() -> None:
    loop = r.s3_self_loop(writes=2)
    bad = damaged(loop[0])[LONE_SURROGATE]
    listed = b"[" + b",".join([orjson.dumps(loop[0]), bad, orjson.dumps(loop[1])]) + b"]"
    decoded = decode(listed)
    assert decoded.objects == loop[:2] and decoded.malformed == 1
    # JSON Lines are no document: the scanner stops at the first line, each line is judged.
    lines = b"\n".join([orjson.dumps(loop[0]), bad, orjson.dumps(loop[1])])
    decoded = decode(lines)
    assert decoded.objects == loop[:2] and decoded.malformed == 1
    assert decoded.problems[0].startswith("1 line is not JSON (first: line 2:")
    # Nothing but damaged records, sniffed: garbage as a whole, as lines without JSON are.
    only_bad = decode(b'{"Records":[' + bad + b"," + bad + b"]}")
    assert only_bad.unreadable and not only_bad.objects
    # A document, though, counts each of its records.
    assert decode(b'{"Records":[' + bad + b"," + bad + b"]}", "document").malformed == 2
