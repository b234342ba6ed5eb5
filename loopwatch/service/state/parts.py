"""An account's detection state as named parts, each small, so a snapshot rewrites only the
parts that changed (``writer.py`` sends them) and a restore puts them back together.

    core   offsets, the engine's clocks and pending measurements, counters    (one, small)
    h␟<source>␟<target>   one hop of the graph: triggers and observed traffic (one per hop)
    f␟<function>          its identity (known, role) and its runaway-rate counts
    c␟<id>  i␟<id>        a cycle found, an incident
    m␟<machine>           a state machine's role
    b␟<bucket>            a bucket's notification trigger ids
    d␟<serial>            a chunk of the intake's recent event ids, oldest chunk first

``assemble`` gives back exactly the ``AccountState`` the parts were read from. Where the
engine's behaviour depends on an order (the successors of a node steer the cycle search;
cycles and incidents are visited in the order they were found), the part carries a serial
number, and ``assemble`` rebuilds in serial order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from loopwatch.config import DetectionConfig
from loopwatch.detect import Engine
from loopwatch.detect import engine as engine_module
from loopwatch.detect.incidents import Incident
from loopwatch.events.dedupe import RecentIds
from loopwatch.service.accounts import STATE_VERSION, AccountState

SEP = "\x1f"  # never in an ARN or an id
HOP, FUNCTION, CYCLE, INCIDENT, MACHINE, BUCKET, IDS = "h", "f", "c", "i", "m", "b", "d"
ORDERED = frozenset({HOP, CYCLE, INCIDENT, IDS})
"""Kinds whose payload is ``[serial, content]``."""

Entry = tuple[float, str]
"""One recent event id as the intake keeps it: (event time, key)."""


def hop_name(source: str, target: str) -> str:
    return f"{HOP}{SEP}{source}{SEP}{target}"


def function_name(function: str) -> str:
    return f"{FUNCTION}{SEP}{function}"


def cycle_name(key: str) -> str:
    return f"{CYCLE}{SEP}{key}"


def incident_name(key: str) -> str:
    return f"{INCIDENT}{SEP}{key}"


def machine_name(machine: str) -> str:
    return f"{MACHINE}{SEP}{machine}"


def bucket_name(bucket: str) -> str:
    return f"{BUCKET}{SEP}{bucket}"


def ids_name(serial: int) -> str:
    return f"{IDS}{SEP}{serial}"


def kind(name: str) -> str:
    return name[0]


def subject(name: str) -> str:
    """What the part is about: ``hop_name(s, t)`` → ``"s␟t"``, ``function_name(f)`` → ``f``."""
    return name[2:]


# -- reading a live state --------------------------------------------------------------------


def hop_payload(engine: Engine, source: str, target: str, serial: int) -> list[Any] | None:
    edge = engine.graph.edge(source, target)
    return None if edge is None else [serial, edge.to_state()]


def function_payload(engine: Engine, function: str) -> list[Any] | None:
    """[known, role ARN, rate counts], or None when the engine holds nothing of it."""
    known, role = engine.identities.state_of(function)
    rate = engine.rates.state_of(function)
    if not known and rate is None:
        return None
    return [known, role, rate]


def incident_payload(incident: Incident, serial: int) -> list[Any]:
    return [serial, asdict(incident)]


def recent_entries(recent: RecentIds) -> Any:
    """The intake's recent ids, oldest first (the deque itself: a snapshot reads its newest end)."""
    return recent.entries


def recent_newest(recent: RecentIds) -> float | None:
    newest = recent.newest
    return None if newest == float("-inf") else newest


def core_payload(state: AccountState) -> dict[str, Any]:
    """The core without the changelog's own bookkeeping (``writer.py`` adds that)."""
    engine = state.engine
    return {
        "version": STATE_VERSION,
        "account": state.account,
        "offsets": [
            [topic, partition, offset] for (topic, partition), offset in state.offsets.items()
        ],
        "engine": engine.clock_state(),
        "complete": engine.identities.complete_accounts(),
        "newest": recent_newest(state.intake.recent),
    }


# -- putting it back together ----------------------------------------------------------------


def assemble(
    core: Mapping[str, Any],
    parts: Mapping[str, Any],
    skip: int = 0,
    config: DetectionConfig | None = None,
) -> AccountState:
    """The account state of ``core`` and ``parts`` (name → payload), the first ``skip``
    recent ids of the oldest chunk left out (they were dropped after it was written).

    Raises ValueError (a version this worker does not read), KeyError or TypeError (a part
    that is not what its kind says).
    """
    if core.get("version") != STATE_VERSION:
        raise ValueError(f"account state version {core.get('version')!r}, expected {STATE_VERSION}")
    by_kind: dict[str, list[tuple[str, Any]]] = {
        k: [] for k in (*ORDERED, FUNCTION, MACHINE, BUCKET)
    }
    for name, payload in parts.items():
        by_kind[kind(name)].append((name, payload))
    for ordered in ORDERED:
        by_kind[ordered].sort(key=lambda item: int(item[1][0]))
    functions: dict[str, str | None] = {}
    rates: dict[str, Any] = {}
    for name, (known, role, rate) in by_kind[FUNCTION]:
        if known:
            functions[subject(name)] = role
        if rate is not None:
            rates[subject(name)] = rate
    engine_state = {
        "version": engine_module.STATE_VERSION,
        **core["engine"],
        "graph": {
            "edges": [payload[1] for _, payload in by_kind[HOP]],
            "bucket_triggers": {subject(name): ids for name, ids in by_kind[BUCKET]},
        },
        "identities": {
            "functions": functions,
            "complete": core["complete"],
            "state_machines": {subject(name): role for name, role in by_kind[MACHINE]},
        },
        "rates": rates,
        "incidents": [payload[1] for _, payload in by_kind[INCIDENT]],
        "cycles": {subject(name): payload[1] for name, payload in by_kind[CYCLE]},
    }
    recent = _chained(payload[1] for _, payload in by_kind[IDS])[skip:]
    state = AccountState.from_state(
        {
            "version": STATE_VERSION,
            "account": core["account"],
            "engine": engine_state,
            "recent": recent,
            "offsets": core["offsets"],
        },
        config,
    )
    if core["newest"] is not None:
        # The newest time ever seen, which may be past every id kept (ids dropped for the
        # size bound): it decides which ids the span drops next.
        state.intake.recent.newest = float(core["newest"])
    return state


def _chained(chunks: Iterable[list[list[Any]]]) -> list[list[Any]]:
    return [entry for chunk in chunks for entry in chunk]
