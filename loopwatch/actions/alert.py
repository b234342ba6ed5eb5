"""An alert: one incident state change (or a runaway function), with what was done about it.

The generic JSON payload, version 1 (``payload``), is the contract webhook receivers read::

    {
      "version": 1,
      "kind": "loop" | "runaway",
      "idempotency_key": "<hex, stable per incident state change>",
      "account": "111122223333" | null,
      "incident": "<incident id>" | null,          # null for runaway
      "state": "opened" | "escalated" | "resolved" | "withdrawn" | "revised" | "runaway"
               | "acted",                          # acted: a throttle announced earlier ran
      "status": "latent" | "active" | null,        # null for runaway
      "cycle": ["arn:…", …],                      # traversal order; [] for runaway
      "chain": "bucket uploads → function thumb → bucket uploads" | null,
      "functions": ["arn:aws:lambda:…", …],
      "first_seen": "2026-10-05T14:00:03Z" | null,
      "detected_at": "…Z" | null,                 # event time the loop became active
      "time": "…Z",                               # event time of this change
      "traversals": 3 | null, "gain": 1.0 | null, "guarded": false | null,
      "rate_per_min": 240.0 | null, "growth": 2.1 | null,   # runaway only
      "throttle_at": "…Z" | null,                 # wall time the throttle is due, if the
                                                  # verdict still holds then (act guard)
      "confirmed": true | false,                  # unconfirmed ones are never throttled
      "unknown": ["the notification configuration of bucket uploads was never seen", …],
      "explanation": "…", "fix": "…",
      "action": {"mode": "off" | "dry-run" | "enforce", "summary": "…",
                 "outcomes": [{"action": "throttle", "function": "arn:…",
                               "result": "throttled" | "held" | "would-throttle" | "protected"
                                         | "not-chosen" | "rate-limited" | "failed"
                                         | "released" | "not-held" | "gone" | "changed",
                               "reason": "…", "previous": 25 | null, "mappings": []}]} | null,
      "links": {"loops": "https://loopwatch.example/loops"}
    }

Fields are only ever added within a version; a receiver should ignore fields it does not know.

An active loop alerts at once with ``throttle_at`` set (``LOOPWATCH_ACT_AFTER_SECONDS`` later);
when that moment comes and the verdict still holds, an ``acted`` alert of the same incident says
what the throttle did. A ``revised`` alert says the verdict changed: a pending throttle is
cancelled, a throttle taken is released (its ``release`` outcomes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from loopwatch.actions.throttle import ThrottleReport
from loopwatch.detect.explain import draw
from loopwatch.detect.findings import REVISED, Finding, RunawayFinding, loop_json
from loopwatch.events.times import format_time

PAYLOAD_VERSION = 1
RUNAWAY = "runaway"
ACTED = "acted"
"""The state of the alert sent when a throttle that waited for its verdict to hold ran."""


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # idempotency key: the same for every repeat of one state change
    finding: Finding
    account: str | None
    action: ThrottleReport | None
    loops_url: str | None
    throttle_at: float | None = None
    """Wall-clock epoch seconds the throttle is due, when it waits for the verdict to hold."""
    event: str | None = None
    """``ACTED`` for the alert of a throttle that ran at its ``throttle_at``; None otherwise."""

    @property
    def state(self) -> str:
        if self.event is not None:
            return self.event
        f = self.finding
        if isinstance(f, RunawayFinding):
            return REVISED if f.revised else RUNAWAY
        return f.change

    @property
    def title(self) -> str:
        """ "Loop opened (active): bucket uploads → function thumb → bucket uploads"."""
        f = self.finding
        if isinstance(f, RunawayFinding):
            name = f.function.rsplit(":", 1)[-1]
            if f.revised:
                return f"Runaway function {name} revised: not runaway, counted with late records"
            return f"Runaway function {name}: {f.rate_per_min:.0f}/min"
        if self.event == ACTED:
            return f"Loop still {f.status}, throttle due: {draw(f.cycle)}"
        return f"Loop {f.change} ({f.status}): {draw(f.cycle)}"


def idempotency_key(finding: Finding, account: str | None = None, event: str | None = None) -> str:
    """Stable per incident state change: (account, incident, change, episode).

    The episode is the incident's ``first_seen``: a cycle that resolves and opens again keeps
    its incident id but starts a new episode, which must alert again. An episode can be
    revised more than once, so a revision is also told apart by its status and time. ``event``
    (``ACTED``) keys the later alert of a deferred throttle apart from its finding's.
    """
    if isinstance(finding, RunawayFinding):
        parts = [RUNAWAY, account or "", finding.function, repr(finding.detected_at)]
        if finding.revised:
            parts.append(REVISED)
    else:
        parts = ["loop", account or "", finding.incident, finding.change, repr(finding.first_seen)]
        if finding.change == REVISED:
            parts += [finding.status, repr(finding.time)]
    if event is not None:
        parts.append(event)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def alert_for(
    finding: Finding,
    account: str | None = None,
    action: ThrottleReport | None = None,
    loops_url: str | None = None,
    *,
    throttle_at: float | None = None,
    event: str | None = None,
) -> Alert:
    key = idempotency_key(finding, account, event)
    return Alert(key, finding, account, action, loops_url, throttle_at, event)


def payload(alert: Alert) -> dict[str, object]:
    """The version-1 generic payload of ``alert`` (see the module docstring)."""
    f = alert.finding
    body: dict[str, object] = {
        "version": PAYLOAD_VERSION,
        "idempotency_key": alert.key,
        "account": alert.account,
        "state": alert.state,
    }
    if isinstance(f, RunawayFinding):
        body |= {
            "kind": "runaway",
            "incident": None,
            "status": None,
            "cycle": [],
            "chain": None,
            "functions": [f.function],
            "first_seen": None,
            "detected_at": format_time(f.detected_at),
            "time": format_time(f.detected_at),
            "traversals": None,
            "gain": None,
            "guarded": None,
            "rate_per_min": round(f.rate_per_min, 1),
            "growth": None if f.growth is None else round(f.growth, 2),
            "explanation": (
                "Revised: with the records that arrived later, its windows do not grow as a"
                " runaway's do."
                if f.revised
                else f"invocation rate {f.rate_per_min:.0f}/min ({f.reason})"
            ),
            "fix": "Find what invokes this function so often; throttle it by hand if it is a loop.",
            "confirmed": f.confirmed,
            "unknown": list(f.unknown),
        }
    else:
        # The loop's fields are the one rendering every view uses (``loop_json``), under this
        # payload's own versioned names.
        loop = loop_json(f)
        body |= {
            "kind": "loop",
            "incident": f.incident,
            "status": loop["status"],
            "cycle": loop["cycle"],
            "chain": draw(f.cycle),
            "functions": loop["functions"],
            "first_seen": loop["first_seen"],
            "detected_at": loop["detected_at"],
            "time": format_time(f.time),
            "traversals": loop["traversals"],
            "gain": loop["gain"],
            "guarded": loop["guarded"],
            "confirmed": loop["confirmed"],
            "unknown": loop["unknown"],
            "rate_per_min": None,
            "growth": None,
            "explanation": loop["explanation"],
            "fix": loop["fix"],
        }
    body["throttle_at"] = None if alert.throttle_at is None else format_time(alert.throttle_at)
    body["action"] = None if alert.action is None else alert.action.to_json()
    body["links"] = {"loops": alert.loops_url}
    return body
