"""One incident per cycle: opened, escalated when it turns active, resolved when it goes quiet,
revised when late records change what it was.

The id is stable (a hash of the sorted node ids), so the same cycle found again — after a
restart, in another replay — is the same incident, and it never opens twice while open.

An incident is active while some point of it (a second at which its cycle was measured) is
active. Records arrive late, so a point is measured again when one lands in its window: a point
that is no longer active is dropped, and an incident left with none is revised back to latent
(DESIGN §5, "Revocation"). A late record of an episode that already resolved belongs to that
episode: it reopens it (``revised``) if it shows the cycle had not been quiet long enough.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from loopwatch.detect.findings import (
    ACTIVE,
    ESCALATED,
    LATENT,
    OPENED,
    RESOLVED,
    REVISED,
    WITHDRAWN,
    LoopFinding,
)
from loopwatch.events import arns
from loopwatch.events.shared import is_shared, shared_dict


def incident_id(cycle: tuple[str, ...]) -> str:
    digest = hashlib.sha256("\n".join(sorted(cycle)).encode()).hexdigest()
    return "loop-" + digest[:16]


@dataclass(slots=True)
class Incident:
    id: str
    cycle: tuple[str, ...]
    first_seen: float
    last_activity: float
    status: str = LATENT
    detected_at: float | None = None
    open: bool = True
    traversals: int = 0
    gain: float | None = None
    guarded: bool = False
    explanation: str = ""
    fix: str = ""
    unknown: tuple[str, ...] = ()
    """What keeps the cycle unconfirmed (DESIGN §5); empty when confirmed."""
    change: str = OPENED
    """The incident's latest change (the finding it last gave)."""
    said_at: float = 0.0
    """Event time of the incident's latest finding: findings of one incident never go back."""
    points: list[int] = field(default_factory=list)
    """Seconds at which the episode was measured active, ascending (see the module docstring)."""
    pinned: bool = False
    """Active at a point too old for any late record to be counted in its window: no
    revision can take the episode's activity back."""
    resolved_at: float | None = None
    """Event time at which the episode resolved (None while open)."""

    @property
    def confirmed(self) -> bool:
        return not self.unknown

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(sorted(n for n in self.cycle if arns.is_function(n)))

    def snapshot(self) -> LoopFinding:
        """The incident as it stands: its latest change, at the time it was said."""
        return self.finding(self.change, self.said_at)

    def finding(self, change: str, time: float) -> LoopFinding:
        self.change = change
        return LoopFinding(
            incident=self.id,
            change=change,
            status=self.status,
            cycle=self.cycle,
            functions=self.functions,
            first_seen=self.first_seen,
            detected_at=self.detected_at,
            time=time,
            traversals=self.traversals,
            gain=self.gain,
            guarded=self.guarded,
            explanation=self.explanation,
            fix=self.fix,
            unknown=self.unknown,
        )


class IncidentBook:
    """All incidents seen, keyed by id; decides which changes are worth a finding."""

    __slots__ = ("_keep", "_next_rank", "_open", "_quiet", "_rank", "incidents")

    def __init__(self, quiet: float, keep: float = float("inf")) -> None:
        self._quiet = quiet
        self._keep = keep  # seconds behind the newest point at which a point can change
        # Shared empty until the first incident (``_add``): most accounts never have one.
        self.incidents: dict[str, Incident] = shared_dict()
        # The open ones, so that resolving quiet incidents need not read every incident ever
        # seen; and each incident's place in ``incidents``, so they resolve in that order.
        self._open: dict[str, Incident] = shared_dict()
        self._rank: dict[str, int] = shared_dict()
        self._next_rank = 0

    def observe(
        self,
        cycle: tuple[str, ...],
        time: float,
        active: bool,
        traversals: int,
        gain: float | None,
        guarded: bool,
        unknown: tuple[str, ...],
        describe: Callable[[bool], tuple[str, str]],
    ) -> LoopFinding | None:
        """Record the cycle's latest state; a finding when it opens or escalates.

        ``describe(guarded)`` gives the explanation and fix; it is called only when they can
        change (a new state, or the guard newly seen or gone), not on every event.
        """
        key = incident_id(cycle)
        incident = self.incidents.get(key)
        change = None
        revision = ""  # why, when late records revise what was said
        if incident is None:
            incident = self._add(Incident(key, cycle, first_seen=time, last_activity=time))
            change = OPENED
        elif not incident.open:
            resolved_at = incident.resolved_at
            if resolved_at is not None and time < resolved_at:
                # A late record of the episode that resolved: it was not quiet after all.
                if resolved_at - time < self._quiet:
                    incident.open, incident.resolved_at = True, None
                    self._open[key] = incident
                    revision = " Reopened: records that arrived later show it had not gone quiet."
                    change = REVISED
            else:
                incident.open, incident.status, incident.detected_at = True, LATENT, None
                incident.points, incident.pinned, incident.resolved_at = [], False, None
                self._open[key] = incident
                change = OPENED
        # Live input is out of order: a late record is measured at its own (earlier) time. The
        # incident then started, or became active, earlier than first thought — never later
        # than it is said to be active, and never said twice.
        if traversals:  # a measurement at a configuration's time may precede the cycle's runs
            if incident.traversals == 0:  # its first run: not when its configuration was read
                incident.first_seen = time
            else:
                incident.first_seen = min(incident.first_seen, time)
        incident.last_activity = max(incident.last_activity, time)
        incident.traversals = max(incident.traversals, traversals)
        guard_changed = guarded != incident.guarded
        incident.gain, incident.guarded, incident.unknown = gain, guarded, unknown
        if active:
            self._add_point(incident, int(time))
            if incident.status != ACTIVE:
                incident.status, incident.detected_at = ACTIVE, time
                if not incident.open:  # a resolved episode's late records: it was active
                    change, revision = REVISED, " Revised: records that arrived later show it ran."
                else:
                    change = ESCALATED if change in (None, REVISED) else change
            elif incident.detected_at is not None and time < incident.detected_at:
                incident.detected_at = time
        elif self._drop_point(incident, int(time)) and incident.status == ACTIVE:
            # The only points it was active at are not, counted with the records since.
            incident.status, incident.detected_at = LATENT, None
            change = REVISED
            revision = " Revised: records that arrived later show it is " + (
                "guarded, so it is latent, not active." if guarded else "not active."
            )
        if change is not None or guard_changed:
            incident.explanation, incident.fix = describe(guarded)
            if change == REVISED:
                incident.explanation += revision
        if change is None:
            return None
        # A finding's time never goes back behind the incident's previous one.
        incident.said_at = max(incident.said_at, time)
        return incident.finding(change, incident.said_at)

    def touch(self, cycle: tuple[str, ...], time: float) -> None:
        incident = self.incidents.get(incident_id(cycle))
        if incident is not None and incident.open:
            incident.last_activity = max(incident.last_activity, time)

    @property
    def any_open(self) -> bool:
        return bool(self._open)

    def resolve_quiet(self, now: float) -> list[LoopFinding]:
        """Close incidents whose cycle has not run for the quiet period."""
        quiet = [i for i in self._open.values() if now - i.last_activity >= self._quiet]
        if len(quiet) > 1:
            quiet.sort(key=lambda incident: self._rank[incident.id])
        return [self._resolve(incident, now) for incident in quiet]

    def resolve_broken(
        self, cycle: tuple[str, ...], now: float, why: str, *, configured_at: float | None = None
    ) -> LoopFinding | None:
        """The cycle no longer exists (a trigger removed or disabled, a hop expired).

        ``configured_at``: the event time of the configuration that broke it. A configuration
        from before the incident began, on an incident never active, arrived late (files come
        out of order, an inventory is read after the logs): in its light the cycle never
        existed, so the incident is withdrawn — forgotten, as a replay in order never had it.
        """
        key = incident_id(cycle)
        incident = self.incidents.get(key)
        if incident is None or not incident.open:
            return None
        if (
            configured_at is not None
            and configured_at <= incident.first_seen
            and incident.detected_at is None
        ):
            del self.incidents[key], self._rank[key], self._open[key]
            incident.explanation += f" Withdrawn: {why}, before the cycle was first seen."
            incident.open = False
            return incident.finding(WITHDRAWN, max(incident.said_at, now))
        incident.explanation += f" Resolved: {why}."
        return self._resolve(incident, now)

    def to_state(self) -> list[dict[str, Any]]:
        return [asdict(incident) for incident in self.incidents.values()]

    @classmethod
    def from_state(
        cls, state: list[dict[str, Any]], quiet: float, keep: float = float("inf")
    ) -> IncidentBook:
        book = cls(quiet, keep)
        for data in state:
            incident = Incident(
                **{
                    **data,
                    "cycle": tuple(data["cycle"]),
                    "unknown": tuple(data.get("unknown", ())),
                    "points": [int(p) for p in data.get("points", ())],
                }
            )
            if incident.status == ACTIVE and not incident.points:
                incident.pinned = True  # saved before points were kept: nothing to revise by
            book._add(incident)
        return book

    def _add(self, incident: Incident) -> Incident:
        if is_shared(self.incidents):
            self.incidents, self._open, self._rank = {}, {}, {}
        self.incidents[incident.id] = incident
        self._rank[incident.id] = self._next_rank
        self._next_rank += 1
        if incident.open:
            self._open[incident.id] = incident
        return incident

    def _add_point(self, incident: Incident, second: int) -> None:
        points = incident.points
        if not points or points[-1] < second:
            points.append(second)
        else:
            i = bisect_left(points, second)
            if i == len(points) or points[i] != second:
                points.insert(i, second)
        # Points no late record can reach any more only need to be remembered as "was active".
        if points[0] < points[-1] - self._keep - 1.0:
            drop = bisect_left(points, points[-1] - self._keep - 1.0)
            del points[:drop]
            incident.pinned = True

    @staticmethod
    def _drop_point(incident: Incident, second: int) -> bool:
        """Forget ``second`` as an active point; True if the episode has none left now."""
        points = incident.points
        i = bisect_left(points, second)
        if i == len(points) or points[i] != second:
            return False
        del points[i]
        return not points and not incident.pinned

    def _resolve(self, incident: Incident, now: float) -> LoopFinding:
        incident.open = False
        incident.resolved_at = now
        self._open.pop(incident.id, None)
        incident.said_at = max(incident.said_at, now)
        return incident.finding(RESOLVED, incident.said_at)
