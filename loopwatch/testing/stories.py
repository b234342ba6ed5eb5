"""Stories composed into one account or one org trail, to prove that verdicts compose (DESIGN §5,
"Verdicts depend on the set of records only").

    Story(topology, tag, account, offset, seed)        one topology of topologies/, renamed apart
        ├─ model()      every name + "-<tag>": functions, roles, buckets, queues, topics, tables,
        │               streams, buses, state machines, rules (and a session named after a
        │               function); moved to ``account``, ``offset`` seconds later
        └─ simulated()  its CloudTrail records and invocation events, with eventIDs, request
                        ids and event source mapping UUIDs made its own (uuid5 of the tag)
    Composition(stories, files, cut_seed)
        └─ deliveries() every account's records shuffled and cut into log files of random
                        sizes ({"Records": [...]}, about 1% of records delivered twice, as
                        CloudTrail does), its invocation events into JSON Lines files, all in
                        a random delivery order
    write_deliveries(deliveries, folder)   the files under AWSLogs/… (org trails: AWSLogs/o-…/)
    Outcome.of_replay(report, findings) == Outcome.of_live(findings_json, incidents)
        == union of each story's own Outcome (replayed alone)

Everything is deterministic in its arguments, so a failing example found by hypothesis
(``compositions()``) is reproduced by its ``spec()``: ``python -m loopwatch.testing.stories
'<spec>'`` replays one and prints each verdict.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import random
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from hypothesis import strategies as st

from loopwatch.detect import Finding, LoopFinding
from loopwatch.detect.findings import ACTIVE, WITHDRAWN, finding_from_json, standing_runaways
from loopwatch.detect.incidents import Incident
from loopwatch.events.times import parse_time
from loopwatch.testing.verdicts import ever_active
from loopwatch.topology import Topology, builtin_topologies, load_topology, simulate
from loopwatch.topology.model import (
    Destination,
    EventSourceMapping,
    Expect,
    ExpectedLoop,
    ExpectedRunaway,
    Function,
    Ref,
    Rule,
    S3Notification,
    StateMachine,
    StateMachineTask,
    Subscription,
    Trigger,
)

if TYPE_CHECKING:
    from loopwatch.settings import Settings
    from loopwatch.testing.broker import Broker
    from loopwatch.testing.worker import InProcessWorker

ORG = "o-compose1234"
OFFSETS = (0, 45, 100, 240)
"""Seconds a story starts after its file's start: stories overlap, or follow one another
(well inside the 900 s quiet period, so no story's incident resolves in a composition only
because another story ran later)."""
SEEDS = (None, 101, 202)
DEFAULT_BUS = "default"
DUPLICATE_SHARE = 0.01
GUARDED = ("s3-guarded-writeback", "before-trail-eventbridge-guarded")
"""The guarded write-backs (gain ≈ 0.5): never active, in any composition or order."""
_ID_SPACE = uuid.UUID("6f1d6a57-3c0e-4d2b-9a59-0c0a5e5a1e77")

JSON = dict[str, Any]
Cycle = tuple[str, ...]


# -- renaming apart ----------------------------------------------------------------------------


def renamed_apart(topo: Topology, tag: str) -> Topology:
    """``topo`` with every name it declares suffixed ``-<tag>``, so that two stories (two draws
    of one topology, or two topologies that share a bucket or function name) share nothing.

    Renamed: functions and their execution roles, buckets, queues, topics, tables, streams,
    buses (not ``default``, which every account has), state machines and their roles, rules,
    seed roles and a seed session named after a function (a spoofed session stays spoofed);
    every ref (writes, triggers, seeds, expectations) follows. People (IAM users, SSO session
    names) are left as they are: one person may act in many stories.
    """

    def name(n: str) -> str:
        return f"{n}-{tag}"

    def bus(n: str) -> str:
        return n if n == DEFAULT_BUS else name(n)

    def ref(r: Ref) -> Ref:
        return Ref(r.kind, bus(r.name) if r.kind == "events" else name(r.name))

    functions = {f.name for f in topo.functions}

    def trigger(t: Trigger) -> Trigger:
        match t:
            case S3Notification():
                return dataclasses.replace(t, bucket=name(t.bucket), target=ref(t.target))
            case EventSourceMapping():
                return dataclasses.replace(t, source=ref(t.source), function=name(t.function))
            case Subscription():
                return dataclasses.replace(t, topic=name(t.topic), endpoint=ref(t.endpoint))
            case Rule():
                targets = tuple(ref(x) for x in t.targets)
                return dataclasses.replace(t, bus=bus(t.bus), name=name(t.name), targets=targets)
            case Destination():
                return dataclasses.replace(
                    t, function=name(t.function), destination=ref(t.destination)
                )
            case StateMachineTask():
                return dataclasses.replace(t, machine=name(t.machine), function=name(t.function))
        raise TypeError(f"a trigger kind renamed_apart does not know: {t!r}")

    def expect(e: Expect) -> Expect:
        loops = tuple(
            ExpectedLoop(tuple(ref(r) for r in loop.cycle), loop.status, loop.confirmed)
            for loop in e.loops
        )
        runaway = tuple(ExpectedRunaway(ref(r.function), r.confirmed) for r in e.runaway)
        return Expect(loops, runaway)

    seeds = tuple(
        dataclasses.replace(
            s,
            to=ref(s.to),
            by=name(s.by) if s.by in functions else s.by,
            role=None if s.role is None else name(s.role),
        )
        for s in topo.traffic.seeds
    )
    return dataclasses.replace(
        topo,
        name=name(topo.name),
        buckets=tuple(map(name, topo.buckets)),
        queues=tuple(map(name, topo.queues)),
        topics=tuple(map(name, topo.topics)),
        tables=tuple(map(name, topo.tables)),
        streams=tuple(map(name, topo.streams)),
        buses=tuple(map(bus, topo.buses)),
        functions=tuple(
            Function(
                name(f.name),
                name(f.role),
                tuple(dataclasses.replace(w, to=ref(w.to)) for w in f.writes),
            )
            for f in topo.functions
        ),
        state_machines=tuple(StateMachine(name(m.name), name(m.role)) for m in topo.state_machines),
        triggers=tuple(map(trigger, topo.triggers)),
        traffic=dataclasses.replace(topo.traffic, seeds=seeds),
        expect=expect(topo.expect),
        expect_with_inventory=(
            None if topo.expect_with_inventory is None else expect(topo.expect_with_inventory)
        ),
    )


# -- stories -----------------------------------------------------------------------------------


@cache
def topology_named(name: str) -> Topology:
    """The topology ``topologies/<name>.yaml``."""
    (path,) = [p for p in builtin_topologies() if p.stem == name]
    return load_topology(path)


def topology_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in builtin_topologies()))


@cache
def topologies_by_size() -> tuple[str, ...]:
    """Every topology, the one with the fewest records first: hypothesis shrinks towards the
    first, so a failing example shrinks towards stories quick to read and to run."""
    size = {n: len(simulate(topology_named(n)).records) for n in topology_names()}
    return tuple(sorted(size, key=lambda n: (size[n], n)))


@dataclass(frozen=True, slots=True)
class Simulated:
    """A story's input: CloudTrail records and invocation events (JSON objects)."""

    records: tuple[JSON, ...]
    invocations: tuple[JSON, ...]


@dataclass(frozen=True, slots=True)
class Story:
    """One topology as one story of a composition: renamed apart with ``tag`` (unique within
    the composition), in ``account``, ``offset`` seconds after the file's start, simulated
    with traffic seed ``seed`` (None: the file's own)."""

    topology: str
    tag: str
    account: str
    offset: int = 0
    seed: int | None = None

    def model(self) -> Topology:
        topo = topology_named(self.topology)
        if self.seed is not None:
            topo = dataclasses.replace(
                topo, traffic=dataclasses.replace(topo.traffic, seed=self.seed)
            )
        start = topo.traffic.start + timedelta(seconds=self.offset)
        return renamed_apart(topo, self.tag).with_overrides(start=start, account=self.account)

    def simulated(self) -> Simulated:
        return _simulated(self)

    def declared(self) -> tuple[frozenset[tuple[Cycle, str, bool]], frozenset[tuple[str, bool]]]:
        """What the topology file says its logs alone show: (loops as (cycle, status,
        confirmed), runaway functions as (ARN, confirmed))."""
        topo = self.model()
        expect = topo.expected()
        loops = frozenset(
            (rotation(tuple(topo.arn(r) for r in loop.cycle)), loop.status, loop.confirmed)
            for loop in expect.loops
        )
        runaway = frozenset((topo.arn(r.function), r.confirmed) for r in expect.runaway)
        return loops, runaway

    def functions(self) -> tuple[str, ...]:
        """The ARNs of the story's functions."""
        topo = self.model()
        return tuple(topo.arn(Ref("fn", f.name)) for f in topo.functions)

    def names(self) -> frozenset[str]:
        """The node id of every resource the story declares (but the default bus, which every
        account has), and the ARN of every role it names."""
        topo = self.model()
        refs = [
            *(Ref("s3", n) for n in topo.buckets),
            *(Ref("sqs", n) for n in topo.queues),
            *(Ref("sns", n) for n in topo.topics),
            *(Ref("dynamodb", n) for n in topo.tables),
            *(Ref("kinesis", n) for n in topo.streams),
            *(Ref("events", n) for n in topo.buses if n != DEFAULT_BUS),
            *(Ref("states", m.name) for m in topo.state_machines),
            *(Ref("fn", f.name) for f in topo.functions),
        ]
        roles = [
            *(f.role for f in topo.functions),
            *(m.role for m in topo.state_machines),
            *(s.role for s in topo.traffic.seeds if s.role is not None),
        ]
        return frozenset(
            [topo.arn(r) for r in refs] + [f"arn:aws:iam::{topo.account}:role/{r}" for r in roles]
        )

    def declares_active(self) -> bool:
        """Whether the topology declares an active loop (from its logs alone)."""
        return any(status == ACTIVE for _, status, _ in self.declared()[0])


@cache
def _simulated(story: Story) -> Simulated:
    sim = simulate(story.model())
    records = [r.record for r in sim.records]
    events = [e.record for e in sim.invocation_events]
    own = _Ids(story, mapping_uuids(records))
    return Simulated(
        tuple(own.record(r) for r in records), tuple(own.invocation(e) for e in events)
    )


def mapping_uuids(records: Iterable[JSON]) -> set[str]:
    """Every event source mapping UUID the records name (``uUID`` and its spellings)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("uUID", "UUID", "uuid") and isinstance(v, str):
                    found.add(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for record in records:
        walk(record)
    return found


class _Ids:
    """The story's own ids: the simulator draws eventIDs from the topology's seed, so two
    draws of one topology would share them (and deduplicate each other away), and it derives
    mapping UUIDs from the account and the mapping's index, so two topologies' first mappings
    would share one."""

    def __init__(self, story: Story, mappings: set[str]) -> None:
        self.tag = f"{story.account}/{story.tag}"
        self.mappings = {m: self.own(m) for m in mappings}

    def own(self, value: str) -> str:
        return str(uuid.uuid5(_ID_SPACE, f"{self.tag}/{value}"))

    def record(self, record: JSON) -> JSON:
        out = self._strings(record)
        assert isinstance(out, dict)
        for key in ("eventID", "sharedEventID"):
            if isinstance(record.get(key), str):
                out[key] = self.own(record[key])
        return out

    def invocation(self, event: JSON) -> JSON:
        out = dict(event)
        if isinstance(event.get("request_id"), str):
            out["request_id"] = self.own(event["request_id"])
        return out

    def _strings(self, value: object) -> object:
        if isinstance(value, dict):
            return {k: self._strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._strings(v) for v in value]
        if isinstance(value, str) and self.mappings:
            for old, new in self.mappings.items():
                if old in value:
                    value = value.replace(old, new)
        return value


# -- compositions and their files ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One log file: a CloudTrail file (``{"Records": [...]}``) or a JSON Lines file of
    invocation events, of one account."""

    account: str
    kind: str
    """``cloudtrail`` or ``invocations`` (the worker's input topic it goes to)."""
    objects: tuple[JSON, ...]
    index: int
    """Unique within the composition: names the file."""

    def body(self) -> bytes:
        if self.kind == "cloudtrail":
            data = orjson.dumps({"Records": list(self.objects)})
        else:
            data = b"".join(orjson.dumps(o) + b"\n" for o in self.objects)
        return gzip.compress(data, mtime=0)

    def key(self, org: str | None) -> str:
        """Where CloudTrail (or a log subscription) would put the file."""
        if self.kind != "cloudtrail":
            return f"invocations/{self.account}/{self.index:04d}.jsonl.gz"
        last = max(parse_time(str(r["eventTime"])) for r in self.objects)
        at = datetime.fromtimestamp(last, tz=UTC)
        trail = f"AWSLogs/{org}/{self.account}" if org else f"AWSLogs/{self.account}"
        return (
            f"{trail}/CloudTrail/us-east-1/{at:%Y/%m/%d}/"
            f"{self.account}_CloudTrail_us-east-1_{at:%Y%m%dT%H%M}Z_{self.index:016d}.json.gz"
        )


@dataclass(frozen=True, slots=True)
class Composition:
    """Stories whose records are cut into about ``files`` files per account and kind (random
    sizes, at least one record each) and delivered in a random order, all from ``cut_seed``.
    ``org``: the trail is an organisation's (``AWSLogs/<org>/<account>/…``)."""

    stories: tuple[Story, ...]
    files: int
    cut_seed: int
    org: str | None = None

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(sorted({s.account for s in self.stories}))

    def spec(self) -> str:
        """The composition as one line of JSON (``from_spec`` reads it back): what a failing
        test prints, to replay it with ``python -m loopwatch.testing.stories '<spec>'``."""
        return orjson.dumps(
            {
                "stories": [[s.topology, s.tag, s.account, s.offset, s.seed] for s in self.stories],
                "files": self.files,
                "cut_seed": self.cut_seed,
                "org": self.org,
            }
        ).decode()

    @classmethod
    def from_spec(cls, spec: str) -> Composition:
        """The composition ``spec()`` wrote; ValueError (or KeyError) for anything else."""
        doc = orjson.loads(spec)
        stories = tuple(
            Story(str(t), str(g), str(a), int(o), s) for t, g, a, o, s in doc["stories"]
        )
        return cls(stories, int(doc["files"]), int(doc["cut_seed"]), doc.get("org"))

    def moved(self, accounts: Mapping[str, str]) -> Composition:
        """The same composition with each story's account replaced through ``accounts``
        (a live test gives every example fresh accounts, so examples never meet)."""
        stories = tuple(dataclasses.replace(s, account=accounts[s.account]) for s in self.stories)
        return dataclasses.replace(self, stories=stories)

    def deliveries(self) -> list[Delivery]:
        """Every file, in delivery order."""
        rng = random.Random(self.cut_seed)
        out: list[Delivery] = []
        for account in self.accounts:
            mine = [s.simulated() for s in self.stories if s.account == account]
            for kind, objects in (
                ("cloudtrail", [r for m in mine for r in m.records]),
                ("invocations", [e for m in mine for e in m.invocations]),
            ):
                for part in _cut(objects, self.files, rng, twice=kind == "cloudtrail"):
                    out.append(Delivery(account, kind, tuple(part), len(out)))
        rng.shuffle(out)
        return out


def _cut(objects: list[JSON], files: int, rng: random.Random, *, twice: bool) -> list[list[JSON]]:
    """``objects`` shuffled and cut into up to ``files`` non-empty parts of random sizes; with
    ``twice``, about 1% of them (at least one) also delivered in another part."""
    if not objects:
        return []
    objects = list(objects)
    rng.shuffle(objects)
    count = max(1, min(files, len(objects)))
    cuts = sorted(rng.sample(range(1, len(objects)), count - 1)) if count > 1 else []
    bounds = [0, *cuts, len(objects)]
    parts = [objects[a:b] for a, b in itertools.pairwise(bounds)]
    if twice:
        for record in rng.sample(objects, max(1, round(len(objects) * DUPLICATE_SHARE))):
            rng.choice(parts).append(record)
        for part in parts:
            rng.shuffle(part)
    return parts


def write_deliveries(deliveries: Sequence[Delivery], folder: Path, org: str | None) -> list[Path]:
    """Write each file under ``folder``; their paths, in delivery order."""
    paths = []
    for d in deliveries:
        path = folder / d.key(org)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.body())
        paths.append(path)
    return paths


@st.composite
def compositions(
    draw: st.DrawFn, *, accounts: tuple[str, ...] = ("100000000001",), org: str | None = None
) -> Composition:
    """2 to 4 stories (any topology, twice the same allowed), each in one of ``accounts``,
    started 0 to 240 s apart, with the file's traffic seed or another; their records cut into
    1 to 12 files per account and kind. Shrinks towards two stories, the topologies with the
    fewest records, no offset, the file's seed, one file."""
    count = draw(st.integers(2, 4))
    stories = tuple(
        Story(
            draw(st.sampled_from(topologies_by_size())),
            f"s{i}",
            draw(st.sampled_from(accounts)),
            draw(st.sampled_from(OFFSETS)),
            draw(st.sampled_from(SEEDS)),
        )
        for i in range(count)
    )
    return Composition(stories, draw(st.integers(1, 12)), draw(st.integers(0, 2**16)), org)


# -- verdicts ------------------------------------------------------------------------------------


def rotation(cycle: Cycle) -> Cycle:
    """The rotation of ``cycle`` that starts at its smallest node id."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


LoopVerdict = tuple[Cycle, str, bool, bool]
"""(cycle rotated to its smallest node, final status, confirmed, still open)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything a detector concluded: each incident's final state (withdrawn ones are as if
    never reported), the cycles ever called active, and the runaway functions with whether
    each was confirmed (as last said)."""

    loops: frozenset[LoopVerdict]
    ever_active: frozenset[Cycle]
    runaway: frozenset[tuple[str, bool]]

    def __or__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.loops | other.loops,
            self.ever_active | other.ever_active,
            self.runaway | other.runaway,
        )

    @classmethod
    def empty(cls) -> Outcome:
        return cls(frozenset(), frozenset(), frozenset())

    @classmethod
    def of_replay(cls, loops: Iterable[LoopFinding], findings: Iterable[Finding]) -> Outcome:
        """From a replay's ``report.loops`` and every finding it gave (``on_finding``)."""
        said = list(findings)
        return cls(
            frozenset(_loop(i.cycle, i.status, i.confirmed, i.open) for i in loops if _kept(i)),
            _ever_active(
                [(f.cycle, f.change, f.status) for f in said if isinstance(f, LoopFinding)]
            ),
            _runaways(said),
        )

    @classmethod
    def of_live(
        cls, findings: Iterable[Mapping[str, Any]], incidents: Iterable[Incident]
    ) -> Outcome:
        """From the findings a worker published (JSON, in topic order) and its incident book."""
        said = list(findings)
        return cls(
            frozenset(_loop(i.cycle, i.status, i.confirmed, i.open) for i in incidents if _kept(i)),
            _ever_active(
                [
                    (tuple(f["cycle"]), str(f["change"]), str(f["status"]))
                    for f in said
                    if f.get("kind") == "loop"
                ]
            ),
            _runaways(finding_from_json(dict(f))[0] for f in said if f.get("kind") == "runaway"),
        )

    def moved(self, accounts: Mapping[str, str]) -> Outcome:
        """The same verdict about the same stories moved to other accounts (old → new)."""

        def arn(text: str) -> str:
            for old, new in accounts.items():
                text = text.replace(f":{old}:", f":{new}:")
            return text

        def cycle(c: Cycle) -> Cycle:
            return rotation(tuple(map(arn, c)))

        return Outcome(
            frozenset((cycle(c), s, conf, o) for c, s, conf, o in self.loops),
            frozenset(map(cycle, self.ever_active)),
            frozenset((arn(f), conf) for f, conf in self.runaway),
        )

    def declared_part(
        self,
    ) -> tuple[frozenset[tuple[Cycle, str, bool]], frozenset[tuple[str, bool]]]:
        """What a topology file can declare of it: (cycle, status, confirmed), runaway."""
        return frozenset((c, s, conf) for c, s, conf, _ in self.loops), self.runaway

    def only(self, nodes: Callable[[str], bool]) -> Outcome:
        """The part about the nodes ``nodes`` accepts (a cycle: any of its nodes)."""
        return Outcome(
            frozenset(x for x in self.loops if any(map(nodes, x[0]))),
            frozenset(c for c in self.ever_active if any(map(nodes, c))),
            frozenset(r for r in self.runaway if nodes(r[0])),
        )


def _runaways(findings: Iterable[Finding]) -> frozenset[tuple[str, bool]]:
    """The runaway functions no revision took back, each with whether it is confirmed (as
    last said)."""
    confirmed = {r.function: r.confirmed for r in standing_runaways(findings)}
    return frozenset(confirmed.items())


def _ever_active(said: list[tuple[Cycle, str, str]]) -> frozenset[Cycle]:
    """The cycles (rotated) with an episode that stood active, revisions included."""
    order = {frozenset(cycle): rotation(cycle) for cycle, _, _ in said}
    return frozenset(order[c] for c in ever_active(said))


def _kept(incident: Incident | LoopFinding) -> bool:
    return incident.change != WITHDRAWN


def _loop(cycle: Cycle, status: str, confirmed: bool, open_: bool) -> LoopVerdict:
    return (rotation(tuple(cycle)), status, confirmed, open_)


def replay_outcome(paths: Sequence[Path]) -> tuple[Outcome, Any]:
    """``loopwatch replay`` of ``paths`` (in that order): its Outcome, and its report."""
    from loopwatch.replay import replay

    findings: list[Finding] = []
    report = replay([str(p) for p in paths], on_finding=findings.append)
    return Outcome.of_replay(report.loops, findings), report


def alone(story: Story) -> Outcome:
    """The story's own verdict: its records replayed alone, in its own account."""
    return _alone(story)


@cache
def _alone(story: Story) -> Outcome:
    composition = Composition((story,), files=1, cut_seed=0)
    with tempfile.TemporaryDirectory(prefix="story-") as tmp:
        paths = write_deliveries(composition.deliveries(), Path(tmp), None)
        outcome, report = replay_outcome(paths)
    if report.errors or report.counts.malformed:
        raise AssertionError(f"{story}: replayed with errors {report.errors!r}")
    return outcome


def union(stories: Iterable[Story]) -> Outcome:
    """The union of the stories' own verdicts."""
    out = Outcome.empty()
    for story in stories:
        out = out | alone(story)
    return out


def guarded_cycles(stories: Iterable[Story]) -> frozenset[Cycle]:
    """The cycles of the guarded write-back stories: never active."""
    out: set[Cycle] = set()
    for story in stories:
        if story.topology in GUARDED:
            topo = story.model()
            out.update(rotation(c) for c in topo.expected_cycles())
    return frozenset(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Replay one composition given as its ``spec()`` (its files in the test's order) and
    print the composed verdict beside the union of the stories' own; exit 1 when they differ."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m loopwatch.testing.stories '<Composition.spec()>'", file=sys.stderr)
        return 2
    composition = Composition.from_spec(args[0])
    with tempfile.TemporaryDirectory(prefix="composition-") as tmp:
        paths = write_deliveries(composition.deliveries(), Path(tmp), composition.org)
        composed, _ = replay_outcome(paths)
    want = union(composition.stories)
    for story in composition.stories:
        print(f"alone {story.topology} ({story.tag}, {story.account}):\n  {alone(story)}")
    print(f"composed:\n  {composed}")
    print(f"only composed:\n  {_minus(composed, want)}")
    print(f"only the union:\n  {_minus(want, composed)}")
    return 0 if composed == want else 1


def _minus(a: Outcome, b: Outcome) -> Outcome:
    return Outcome(a.loops - b.loops, a.ever_active - b.ever_active, a.runaway - b.runaway)


# -- live ----------------------------------------------------------------------------------------


async def send_deliveries(
    bootstrap: str,
    topics: Mapping[str, str],
    deliveries: Sequence[Delivery],
    pause: float = 0.0,
) -> int:
    """Send each file as one message, in order, keyed by its account, to ``topics[kind]``
    (the worker's input topic of that kind), each acked, ``pause`` seconds apart; the objects
    sent."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    bodies = [d.body() for d in deliveries]  # made first: only ``pause`` spaces the files
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, (d, body) in enumerate(zip(deliveries, bodies, strict=True)):
            if i and pause:
                await asyncio.sleep(pause)
            await producer.send_and_wait(topics[d.kind], body, key=d.account.encode())
    finally:
        await producer.stop()
    return sum(len(d.objects) for d in deliveries)


def live_outcomes(
    worker: InProcessWorker,
    broker: Broker,
    settings: Settings,
    deliveries: Sequence[Delivery],
    *,
    timeout: float = 60.0,
    pause: float = 0.0,
) -> dict[str, Outcome]:
    """Send ``deliveries`` to the running ``worker`` (``pause`` seconds apart) and return each
    account's Outcome: its findings as published on the findings topic and its incident book.

    Waits on what the worker shows (never more than ``timeout`` seconds for each wait): every
    message sent applied, committed and settled (``InProcessWorker.wait_applied``), then every
    finding it made on the findings topic (``read_findings``). TimeoutError otherwise.
    """
    import asyncio

    from loopwatch.service.topics import CLOUDTRAIL, INVOCATIONS

    accounts = sorted({d.account for d in deliveries})
    topics = {k: settings.topic(k) for k in (CLOUDTRAIL, INVOCATIONS)}
    asyncio.run(
        asyncio.wait_for(send_deliveries(broker.bootstrap, topics, deliveries, pause), timeout)
    )
    worker.wait_applied(broker, timeout)
    said = worker.read_findings(broker, timeout)
    books = worker.call(lambda: _books(worker.service.processor, accounts))
    return {
        a: Outcome.of_live([f for f in said if f.get("account") == a], books[a]) for a in accounts
    }


async def _books(processor: Any, accounts: Sequence[str]) -> dict[str, list[Incident]]:
    """Each account's incidents, read on the worker's own loop (its state is not shared
    across threads)."""
    out: dict[str, list[Incident]] = {}
    for account in accounts:
        tracked = processor.accounts.get(account)
        out[account] = (
            [] if tracked is None else list(tracked.state.engine.incidents.incidents.values())
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
