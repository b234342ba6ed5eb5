"""The act guard (DESIGN §6, "Acting waits for late records; alerting does not").

    active finding ──► alert now, saying throttle_at ──► armed ──ACT_AFTER──► still armed? ──► throttle
                                                           │                   (checked again)
    a later finding of the incident: revised, resolved, ───┘ disarmed: never throttled
    withdrawn, latent, guarded or unconfirmed

Live, the guard keeps what the actions agent has read of each incident (its armed throttle) and
decides at the deadline on that alone: it never asks an engine. Waiting is a scheduled task per
armed incident, never a sleep in the agent's handler. Armed throttles live in memory only: a
worker that stops leaves them unacted, and a restarted one arms again only from findings it
reads (a deadline counted afresh from when it reads them).

Offline (``replay --act``), ``held_back`` applies the same rule on event time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from loopwatch.actions.aws import function_account
from loopwatch.actions.outcomes import iso
from loopwatch.actions.throttle import not_throttled_because
from loopwatch.detect.findings import RESOLVED, REVISED, WITHDRAWN, Finding, LoopFinding
from loopwatch.events.times import format_time

log = logging.getLogger(__name__)

Incident = tuple[str, str]  # (account or "", incident id)
Act = Callable[[LoopFinding, str | None, float], Awaitable[None]]  # finding, account, due at


def ends_verdict(finding: LoopFinding) -> str | None:
    """Why a later finding of an incident ends the verdict a throttle waits on; None when
    the verdict still holds (the incident is still active, confirmed and unguarded)."""
    if finding.change == REVISED:
        return f"the verdict was revised ({finding.status}): {finding.explanation}"
    if finding.change in (RESOLVED, WITHDRAWN):
        return f"the incident was {finding.change}"
    return not_throttled_because(finding)


def incident_of(finding: LoopFinding, account: str | None) -> Incident:
    return (account or "", finding.incident)


@dataclass(slots=True)
class Armed:
    """A throttle waiting for its verdict to hold. ``finding`` is the incident's latest (a
    repeat of the same verdict updates it; the deadline stays)."""

    finding: LoopFinding
    account: str | None
    at: float  # wall-clock epoch seconds
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    acting: bool = False


class Guard:
    """Armed throttles by incident. Use from one event loop (the actions agent's)."""

    def __init__(
        self, act_after: float, act: Act, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.act_after = act_after
        self._act = act
        self._clock = clock
        self._armed: dict[Incident, Armed] = {}

    def __len__(self) -> int:
        return sum(1 for a in self._armed.values() if not a.acting)

    @property
    def pending(self) -> int:
        """Throttles armed or being taken now (``len`` counts only those not yet due): 0
        once every throttle armed so far has come due and its ``acted`` alert is enqueued."""
        return len(self._armed)

    def due(self, incident: Incident) -> float | None:
        """When the armed throttle of ``incident`` is due; None when none waits."""
        armed = self._armed.get(incident)
        return None if armed is None or armed.acting else armed.at

    def arm(self, finding: LoopFinding, account: str | None) -> float:
        """Arm (or keep armed, with this newer finding) the throttle of ``finding``'s
        incident; when it is due. Needs a running event loop."""
        incident = incident_of(finding, account)
        armed = self._armed.get(incident)
        if armed is not None and not armed.acting:
            armed.finding, armed.account = finding, account
            return armed.at
        # Whole seconds: the time people read in the alert is the time it happens.
        at = float(math.ceil(self._clock() + self.act_after))
        armed = Armed(finding, account, at)
        armed.task = asyncio.get_running_loop().create_task(self._wait(incident, armed))
        self._armed[incident] = armed
        return at

    def disarm(self, incident: Incident) -> Armed | None:
        """Cancel the throttle waiting for ``incident``; what was armed (None: nothing, or it
        is already acting — ``settle`` waits for that)."""
        armed = self._armed.get(incident)
        if armed is None or armed.acting:
            return None
        del self._armed[incident]
        if armed.task is not None:
            armed.task.cancel()
        return armed

    async def settle(self, incident: Incident) -> None:
        """Wait for a throttle of ``incident`` that is running at its deadline, so a later
        finding sees what it did (a revision then releases it)."""
        armed = self._armed.get(incident)
        if armed is not None and armed.acting and armed.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(armed.task)

    async def close(self, timeout: float) -> None:
        """Leave the armed throttles unacted (said in a warning); give those acting now up to
        ``timeout`` seconds to finish."""
        waiting = [a for a in self._armed.values() if not a.acting]
        if waiting:
            log.warning(
                "%d throttle(s) armed and not yet due are left unacted as the worker stops:"
                " the incidents' next findings arm them again",
                len(waiting),
            )
        for armed in waiting:
            if armed.task is not None:
                armed.task.cancel()
        tasks = [a.task for a in self._armed.values() if a.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._armed.clear()

    async def _wait(self, incident: Incident, armed: Armed) -> None:
        await asyncio.sleep(max(0.0, armed.at - self._clock()))
        # Checked again now: every later finding of the incident disarmed or updated it.
        if self._armed.get(incident) is not armed:
            return
        why = ends_verdict(armed.finding)
        if why is not None:  # never armed like this; kept as the rule's own check
            del self._armed[incident]
            log.info("throttle of incident %s not taken: %s", incident[1], why)
            return
        armed.acting = True
        try:
            await self._act(armed.finding, armed.account, armed.at)
        except Exception:
            # The agent goes on: one failed deferred throttle must not stop the others.
            log.exception("the throttle due for incident %s failed", incident[1])
        finally:
            if self._armed.get(incident) is armed:
                del self._armed[incident]


def held_back(findings: Sequence[Finding], act_after: float) -> dict[int, str]:
    """The event-time act guard of ``replay --act``: index → why not throttled, for every
    loop finding that calls for a throttle (active, confirmed, unguarded) whose verdict did
    not hold for ``act_after`` seconds of event time within ``findings`` (in their order): a
    later finding of the incident at or before ``time + act_after`` revised, resolved or
    withdrew it, or no longer shows it active and confirmed. A replay that ends before the
    deadline holds back nothing more: its records are all there is to know."""
    later: dict[Incident, list[tuple[int, LoopFinding]]] = {}
    for index, finding in enumerate(findings):
        if isinstance(finding, LoopFinding):
            incident = incident_of(finding, _account(finding))
            later.setdefault(incident, []).append((index, finding))
    out: dict[int, str] = {}
    for story in later.values():
        for position, (index, finding) in enumerate(story):
            if not_throttled_because(finding) is not None:
                continue
            deadline = finding.time + act_after
            for _, after in story[position + 1 :]:
                if after.time > deadline:
                    continue
                why = ends_verdict(after)
                if why is not None:
                    out[index] = (
                        f"no throttle: the verdict did not hold for {act_after:g}s of event time"
                        f" (LOOPWATCH_ACT_AFTER_SECONDS): at {format_time(after.time)} {why}"
                    )
                    break
    return out


def _account(finding: LoopFinding) -> str | None:
    return function_account(finding.functions[0]) if finding.functions else None


def due_text(at: float, act_after: float, dry_run: bool) -> str:
    """What the alert of an armed throttle says it will do."""
    verb = "would throttle (dry-run)" if dry_run else "throttle"
    return (
        f"{verb} at {iso(at)} if the verdict still holds then: a throttle waits"
        f" {act_after:g}s (LOOPWATCH_ACT_AFTER_SECONDS) for late CloudTrail files to revise it"
    )
