"""One account router for replay and the worker (``loopwatch.detect.router``): each record is
detected in its own account, deduplicated there, and an inventory is dated one way.

    two accounts' logs, interleaved in the same files ──replay──► each account's own verdict
    one eventID in two accounts: two records; twice in one account: one
    a story configured before its trail, files in reverse to the worker ──► replay's verdict
"""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from loopwatch.config import DetectionConfig
from loopwatch.detect import Finding
from loopwatch.detect.findings import finding_json, loop_json, runaway_json
from loopwatch.detect.router import ORIGIN, Account, Router, configured_at
from loopwatch.events.facts import Fact, FunctionDeclared
from loopwatch.events.intake import parse_batch
from loopwatch.events.times import parse_time
from loopwatch.replay import replay
from loopwatch.report import Report
from loopwatch.service.inventory import InventoryFeed
from loopwatch.service.processor import SETTLE_AFTER, Processor
from loopwatch.service.topics import CLOUDTRAIL, FINDINGS, INVOCATIONS
from loopwatch.testing import records as r
from loopwatch.testing.changelog import ChangelogTable
from loopwatch.testing.verdicts import Verdict
from loopwatch.topology import load_topology
from loopwatch.topology.inventory import model_inventory
from loopwatch.topology.writer import SimulationResult, write_simulation

TOPOLOGIES = Path(__file__).resolve().parent.parent / "topologies"
WALL = parse_time("2026-10-07T00:00:00Z")
"""The wall clock records are checked against: after every simulated time."""
FIRST, SECOND = "410000000001", "420000000002"


def _wall() -> float:
    return WALL


def simulate(name: str, out: Path, account: str, *, start: datetime | None = None) -> Any:
    topology = load_topology(TOPOLOGIES / f"{name}.yaml")
    return write_simulation(topology, out, account=account, start=start)


def logs(result: SimulationResult) -> tuple[list[object], list[object]]:
    """The CloudTrail records of every file (repeats included) and the invocation events."""
    records = [
        rec
        for path in result.files
        for rec in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]
    events: list[object] = []
    if result.invocation_file is not None:
        data = result.invocation_file.read_bytes()
        if result.invocation_file.suffix == ".gz":
            data = gzip.decompress(data)
        events = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    return records, events


def interleave(out: Path, *results: SimulationResult, per_file: int = 40) -> list[str]:
    """The results' records and events mixed into shared files (one account's records beside
    another's, in each file), the files in a shuffled order."""
    rng = random.Random(7)
    records: list[object] = []
    events: list[object] = []
    for result in results:
        some_records, some_events = logs(result)
        records += some_records
        events += some_events
    rng.shuffle(records)
    rng.shuffle(events)
    out.mkdir(parents=True)
    files = []
    for n in range(0, len(records), per_file):
        files.append(str(r.write_log(out / f"mixed-{n:06d}.json.gz", records[n : n + per_file])))
    for n in range(0, len(events), per_file):
        path = out / f"mixed-{n:06d}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events[n : n + per_file]) + b"\n")
        files.append(str(path))
    rng.shuffle(files)
    return files


def verdict(report: Report) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A report's loops and runaways as its JSON says them, in a stable order. Without a
    loop's explanation: it quotes one write of the second that made it active, and records
    of one second come in any order (the files here are split differently)."""
    loops = sorted(
        ({k: v for k, v in loop_json(loop).items() if k != "explanation"} for loop in report.loops),
        key=orjson.dumps,
    )
    runaway = sorted((runaway_json(f) for f in report.runaway), key=orjson.dumps)
    return loops, runaway


PAIRS = [
    # The same story in two accounts, a minute apart: the same bucket name in both, which one
    # engine and one clock for the whole trail would have taken for one bucket.
    ("s3-self-loop", "s3-self-loop"),
    ("sqs-loop", "s3-guarded-writeback"),
    ("lambda-mutual-recursion", "burst-no-loop"),
]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_two_accounts_interleaved_give_each_accounts_verdict_alone(
    first: str, second: str, tmp_path: Path
) -> None:
    one = simulate(first, tmp_path / "one", FIRST)
    start = one.topology.traffic.start.astimezone(UTC)
    later = datetime.fromtimestamp(start.timestamp() + 60, UTC)
    two = simulate(second, tmp_path / "two", SECOND, start=later)
    alone_one = replay([str(tmp_path / "one")], clock=_wall)
    alone_two = replay([str(tmp_path / "two")], clock=_wall)
    assert alone_one.loops, "the first story must find something, or the test says little"

    files = interleave(tmp_path / "mixed", one, two)
    together = replay(files, clock=_wall)
    jobs = replay(files, clock=_wall, jobs=2, spill_after=50)

    loops_one, runaway_one = verdict(alone_one)
    loops_two, runaway_two = verdict(alone_two)
    expected = (
        sorted([*loops_one, *loops_two], key=orjson.dumps),
        sorted([*runaway_one, *runaway_two], key=orjson.dumps),
    )
    assert verdict(together) == expected
    assert verdict(jobs) == expected
    for count in ("read", "used", "duplicates", "malformed"):
        both = getattr(alone_one.counts, count) + getattr(alone_two.counts, count)
        assert getattr(together.counts, count) == both, count
    # Loops come in one order whatever the files' order: by first seen, then id.
    assert [(loop.first_seen, loop.incident) for loop in together.loops] == sorted(
        (loop.first_seen, loop.incident) for loop in together.loops
    )


def _write(account: str, event_id: str, second: int) -> dict[str, object]:
    return r.record(
        r.S3,
        "PutObject",
        {"bucketName": f"bucket-{account}", "key": f"k/{second}"},
        identity=r.assumed_role("writer-role", "writer", account=account),
        time=r.at(second),
        account=account,
        id=event_id,
    )


def test_one_event_id_is_two_records_in_two_accounts_and_one_in_one(tmp_path: Path) -> None:
    records = [
        _write(FIRST, "shared-id", 10),
        _write(SECOND, "shared-id", 10),  # another account's record: not a duplicate
        _write(FIRST, "shared-id", 10),  # the first account's again (files overlap): one
        _write(SECOND, "own-id", 11),
    ]
    report = replay([str(r.write_log(tmp_path / "log.json", records))], clock=_wall)
    assert (report.counts.read, report.counts.used, report.counts.duplicates) == (4, 3, 1)

    router = Router()
    taken, routed = router.admit(parse_batch(list(records), WALL))
    assert (taken.counts.used, taken.counts.duplicates) == (3, 1)
    assert sorted(router.accounts) == sorted([FIRST, SECOND])
    assert [account for account, _ in routed].count(FIRST) == 1


def test_inventory_is_dated_at_origin_before_any_record_and_at_event_time_after() -> None:
    dated: list[float] = []

    def configuration(account: str, time: float) -> list[Fact]:
        dated.append(time)
        return []

    account, fed = Account.open(FIRST, configuration=configuration)
    assert dated == [ORIGIN] and not fed.findings
    at = parse_time("2026-10-05T14:00:30Z")
    account.feed([FunctionDeclared(at, r.function_arn("f", account=FIRST), None)])
    account.configure(configuration)  # a read that lands after records: the newest time seen
    assert dated == [ORIGIN, at]
    assert configured_at(float("-inf")) == ORIGIN == configured_at(ORIGIN)


def live(result: SimulationResult, account: str, inventory: Any, files: list[Path]) -> Verdict:
    """The worker's verdict on ``files`` sent one message each, in that order."""
    table = ChangelogTable()
    p = Processor(
        DetectionConfig(),
        snapshot_interval=3600.0,
        restore=table.entries,
        inventory=InventoryFeed(snapshot=inventory),
    )
    published: list[dict[str, Any]] = []
    key = account.encode()
    for offset, path in enumerate(files):
        topic = INVOCATIONS if path == result.invocation_file else CLOUDTRAIL
        out = p.process(topic, 0, offset, key, path.read_bytes(), now=WALL)
        published += [orjson.loads(m.value) for m in out.messages if m.topic == FINDINGS]
    out = p.tick(WALL + 2 * SETTLE_AFTER)  # settle the last second, without idling time on
    published += [orjson.loads(m.value) for m in out.messages if m.topic == FINDINGS]
    incidents = p.accounts[account].state.engine.incidents.incidents.values()
    return Verdict.of(published, incidents)


@pytest.mark.parametrize("name", ["before-trail-s3-loop", "before-trail-sqs-loop"])
def test_a_snapshot_gives_replays_verdict_whatever_order_the_worker_gets_files(
    name: str, tmp_path: Path
) -> None:
    result = simulate(name, tmp_path / "logs", FIRST)
    inventory = model_inventory(result.topology)
    found: list[Finding] = []
    report = replay(
        [str(tmp_path / "logs")], clock=_wall, inventory=inventory, on_finding=found.append
    )
    replayed = Verdict.of([finding_json(f, FIRST) for f in found], report.loops)
    assert replayed.ever_active, "the inventory makes the loop active, or the test says little"

    files = list(result.files)
    if result.invocation_file is not None:
        files.append(result.invocation_file)
    in_order = live(result, FIRST, inventory, files)
    reversed_ = live(result, FIRST, inventory, files[::-1])
    assert in_order == replayed
    assert reversed_ == replayed
