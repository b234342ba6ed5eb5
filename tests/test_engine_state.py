"""Engine state survives a snapshot through JSON: resuming gives exactly the same findings."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopwatch.detect import Engine, Finding
from loopwatch.events import records, sources
from loopwatch.events.facts import Fact
from loopwatch.topology import resolve_topology, write_simulation

TOPOLOGIES = [
    "s3-guarded-writeback",
    "multi-hop-s3-sqs",
    "burst-no-loop",
    "lambda-mutual-recursion",
]


@functools.cache
def sorted_facts(name: str, folder: str) -> tuple[Fact, ...]:
    write_simulation(resolve_topology(name), Path(folder))
    facts: list[Fact] = []
    seen: set[str] = set()
    for chunk in sources.plan([folder]).chunks():
        for obj in chunk.objects:
            key, found = records.parse(obj)
            if key is None or key not in seen:
                seen.add(key or "")
                facts.extend(found)
    return tuple(sorted(facts, key=lambda f: f.time))


def run(engine: Engine, facts: tuple[Fact, ...]) -> list[Finding]:
    out: list[Finding] = []
    for fact in facts:
        out.extend(engine.apply(fact))
    return out


@pytest.mark.parametrize("name", TOPOLOGIES)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_resume_from_snapshot_gives_the_same_findings(
    name: str, cut: float, tmp_path_factory: pytest.TempPathFactory
) -> None:
    facts = sorted_facts(name, str(tmp_path_factory.getbasetemp() / name))
    whole_engine = Engine()
    whole = run(whole_engine, facts) + list(whole_engine.flush())

    split = int(len(facts) * cut)
    first = Engine()
    before = run(first, facts[:split])
    state = orjson.loads(orjson.dumps(first.to_state()))
    resumed = Engine.from_state(state)
    after = run(resumed, facts[split:]) + list(resumed.flush())

    assert before + after == whole
    assert resumed.to_state() == whole_engine.to_state()


def test_state_of_another_version_is_refused() -> None:
    state = Engine().to_state()
    state["version"] = 999
    with pytest.raises(ValueError, match="version"):
        Engine.from_state(state)
