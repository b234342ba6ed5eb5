"""Write a simulation as CloudTrail would deliver it, plus invocation events.

    <out>/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/
        <acct>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<16 chars>.json.gz   {"Records": [...]}
    <out>/invocations/<topology>.jsonl.gz                              (when observed)

Records are grouped by 5-minute delivery window, shuffled within each file, and about 1% are
delivered a second time in a neighbouring file, as CloudTrail does. ``noise=N`` mixes N
records of everyday management traffic (``topology.noise``) into the same files. Gzip
headers carry no mtime, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from loopwatch.topology.cloudtrail import Record
from loopwatch.topology.model import Topology
from loopwatch.topology.noise import noise_records
from loopwatch.topology.simulate import TimedRecord, simulate
from loopwatch.topology.truth import LoopTruth

FILE_SECONDS = 300
DUPLICATE_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What ``write_simulation`` wrote, and the ground truth to judge a detector by."""

    topology: Topology
    """The topology as simulated (``start`` / ``account`` overrides applied)."""
    out_dir: Path
    files: tuple[Path, ...]
    """CloudTrail log files, in time order."""
    invocation_file: Path | None
    records: int
    """Distinct CloudTrail records (duplicates not counted), background noise included."""
    duplicates: int
    invocation_events: int
    invocations: dict[str, int]
    """Runs per function ARN."""
    first_time: datetime
    last_time: datetime
    truth: tuple[LoopTruth, ...]
    truncated: bool
    noise: int = 0
    """Background records mixed in (counted in ``records``); all of them parse as skipped."""

    def distinct_records(self) -> list[dict[str, Any]]:
        """Each CloudTrail record written, once (files repeat about 1%, as CloudTrail does),
        in event-time order: what a stream of the simulation carries."""
        seen: dict[str, dict[str, Any]] = {}
        for path in self.files:
            for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
                seen[record["eventID"]] = record
        return sorted(seen.values(), key=lambda record: str(record["eventTime"]))

    def third_traversal_at(self, cycle: Iterable[str]) -> float | None:
        """Ground-truth time of the 3rd traversal of an expected loop, given its node ids in
        the expected order; KeyError if no expected loop has that cycle."""
        want = tuple(cycle)
        for t in self.truth:
            if t.cycle == want:
                return t.third_traversal_at
        raise KeyError(want)


def write_simulation(
    topology: Topology,
    out_dir: Path,
    *,
    start: datetime | None = None,
    account: str | None = None,
    noise: int = 0,
) -> SimulationResult:
    """Simulate ``topology`` and write its logs under ``out_dir`` (created if missing), with
    ``noise`` background records (``loopwatch.topology.noise``) mixed into the same files,
    spread over the simulation's time span.

    ``start`` (timezone-aware) and ``account`` move the simulation, e.g. into the time range
    and account of real background logs replayed beside it. Deterministic: the same inputs
    give byte-identical files. Raises ValueError for a naive ``start`` or bad account, OSError
    when the files cannot be written.
    """
    topo = topology.with_overrides(start=start, account=account)
    sim = simulate(topo)
    rng = random.Random(f"{topo.traffic.seed}/files")
    records = list(sim.records)
    if noise > 0 and records:
        span = min(r.time for r in records), max(r.time for r in records)
        background = noise_records(topo, *span, noise)
        records = sorted([*records, *background], key=lambda r: r.time)
    groups = _group(records)
    duplicates = _duplicate(groups, rng)
    files = []
    for window, recs in groups:
        rng.shuffle(recs)
        files.append(_write_trail(out_dir, topo, window, recs, rng))
    inv_file = None
    if sim.invocation_events:
        inv_file = out_dir / "invocations" / f"{topo.name}.jsonl.gz"
        inv_file.parent.mkdir(parents=True, exist_ok=True)
        lines = b"".join(orjson.dumps(e.record) + b"\n" for e in sim.invocation_events)
        inv_file.write_bytes(gzip.compress(lines, mtime=0))
    times = [r.time for r in sim.records] + [e.time for e in sim.invocation_events]
    return SimulationResult(
        topology=topo,
        out_dir=out_dir,
        files=tuple(files),
        invocation_file=inv_file,
        records=len(records),
        duplicates=duplicates,
        invocation_events=len(sim.invocation_events),
        invocations=sim.invocations,
        first_time=datetime.fromtimestamp(min(times), tz=UTC),
        last_time=datetime.fromtimestamp(max(times), tz=UTC),
        truth=sim.truth,
        truncated=sim.truncated,
        noise=len(records) - len(sim.records),
    )


def _group(records: Iterable[TimedRecord]) -> list[tuple[int, list[Record]]]:
    by_window: dict[int, list[Record]] = {}
    for r in records:
        by_window.setdefault(int(r.time) // FILE_SECONDS * FILE_SECONDS, []).append(r.record)
    return sorted(by_window.items())


def _duplicate(groups: list[tuple[int, list[Record]]], rng: random.Random) -> int:
    """Copy about 1% of the records into a neighbouring file (the next one, else the
    previous; a lone file gets a second file for the same window)."""
    total = sum(len(recs) for _, recs in groups)
    picks = max(1, round(total * DUPLICATE_SHARE)) if total else 0
    chosen = sorted(rng.sample(range(total), picks))
    flat = [(g, rec) for g, (_, recs) in enumerate(groups) for rec in recs]
    extra: list[Record] = []
    for index in chosen:
        g, rec = flat[index]
        if len(groups) == 1:
            extra.append(rec)
        else:
            groups[g + 1 if g + 1 < len(groups) else g - 1][1].append(rec)
    if extra:
        groups.append((groups[0][0], extra))
    return picks


def _write_trail(
    out_dir: Path, topo: Topology, window: int, recs: list[Record], rng: random.Random
) -> Path:
    # CloudTrail names a file by when it delivered it: the end of its 5-minute window.
    delivered = datetime.fromtimestamp(window + FILE_SECONDS, tz=UTC)
    acct, region = topo.account, topo.region
    folder = out_dir / "AWSLogs" / acct / "CloudTrail" / region / delivered.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        for _ in range(16)
    )
    name = f"{acct}_CloudTrail_{region}_{delivered.strftime('%Y%m%dT%H%MZ')}_{suffix}.json.gz"
    path = folder / name
    path.write_bytes(gzip.compress(orjson.dumps({"Records": recs}), mtime=0))
    return path


def background_placement(paths: Iterable[Path]) -> tuple[str, datetime, datetime]:
    """Account and event-time range of real CloudTrail files (``.json`` / ``.json.gz``), to
    place a simulation inside them: ``write_simulation(t, out, start=..., account=...)``.

    Reads every file; ValueError when none holds a record.
    """
    accounts: dict[str, int] = {}
    first: str | None = None
    last: str | None = None
    for path in paths:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        for rec in json.loads(raw).get("Records", []):
            acct = rec.get("recipientAccountId")
            if acct:
                accounts[acct] = accounts.get(acct, 0) + 1
            t = rec.get("eventTime")
            if isinstance(t, str):
                first = t if first is None or t < first else first
                last = t if last is None or t > last else last
    if not accounts or first is None or last is None:
        raise ValueError("no CloudTrail records in the background files")
    account = max(accounts, key=lambda a: accounts[a])
    return account, _parse(first), _parse(last)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
