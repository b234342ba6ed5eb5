"""One directed hop between two nodes, and everything known about it.

    bucket uploads ──(trigger: s3:ObjectCreated:*, prefix incoming/)──► function thumb
          ▲                                                                 │
          └──────────(observed: PutObject incoming/x.jpg, 41 times)──────────┘

A hop may carry configured triggers (they hold until removed), observed invocations through
them (Invoke with a sourceArn, invocation events with a source), and observed writes by a
function (data events). For a write into a bucket, ``closing`` keeps, per next node, the writes
whose key and event type match an enabled trigger towards that node: only those close a loop.
``written`` keeps the keys of the writes inside the horizon, so that when the bucket's
notification configuration becomes known later than its writes (live input is out of order,
and a trail begins after the configuration was made) they can be matched again.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from loopwatch.events.facts import Trigger
from loopwatch.graph.activity import Activity

# Writes remembered per bucket hop for matching again: a bound on memory for a function that
# writes thousands of objects a second; past it the oldest are matched no more.
WRITE_LOG_LIMIT = 4096


def _second(entry: tuple[int, str | None, str | None, int]) -> int:
    return entry[0]


class Edge:
    __slots__ = (
        "closing",
        "expiry_slot",
        "invocations",
        "last_key",
        "source",
        "target",
        "target_is_bucket",
        "triggers",
        "writes",
        "written",
    )

    def __init__(self, source: str, target: str, target_is_bucket: bool) -> None:
        self.source = source
        self.target = target
        self.target_is_bucket = target_is_bucket
        self.triggers: dict[str, Trigger] = {}
        self.invocations: Activity | None = None
        self.writes: Activity | None = None
        self.closing: dict[str, Activity] = {}
        self.last_key: str | None = None  # the latest S3 key written, for explanations
        # (second, key, S3 event, count) of writes into a bucket, oldest first, inside the horizon;
        # None until the first (most hops lead elsewhere: no empty list for the collector).
        self.written: list[tuple[int, str | None, str | None, int]] | None = None
        # The graph's bookkeeping of when to look at this hop for expiry (see ResourceGraph).
        self.expiry_slot = math.inf

    def log_write(
        self, time: float, count: int, key: str | None, s3_event: str | None, keep: float
    ) -> None:
        """Remember a write into a bucket (bounded by ``keep`` seconds and WRITE_LOG_LIMIT)."""
        written = self.written
        if written is None:
            written = self.written = []
        second = int(time)
        written.append((second, key, s3_event, count))
        if len(written) > 1 and written[-2][0] > second:
            written.sort(key=_second)  # a late write: rare, and the list is short
        cutoff = written[-1][0] - keep - 1.0
        if written[0][0] <= cutoff or len(written) > WRITE_LOG_LIMIT:
            drop = 0
            while drop < len(written) and (
                written[drop][0] <= cutoff or len(written) - drop > WRITE_LOG_LIMIT
            ):
                drop += 1
            del written[:drop]

    def enabled_triggers(self) -> list[Trigger]:
        return [t for t in self.triggers.values() if t.enabled]

    def configured(self) -> bool:
        """Some enabled trigger makes this hop exist whatever traffic is seen."""
        return any(t.enabled for t in self.triggers.values())

    def live(self, now: float, horizon: float) -> bool:
        """The hop exists now: configured, or observed within the horizon."""
        if self.configured():
            return True
        if self.writes is not None and self.writes.live(now, horizon):
            return True
        return self.invocations is not None and self.invocations.live(now, horizon)

    def closes_towards(self, next_node: str, now: float, horizon: float) -> bool:
        """Traffic on this hop goes on to ``next_node``.

        Only writes into a bucket are selective: S3 fires a notification for a key and event
        type that match its filter. Elsewhere whatever arrives is delivered to every subscriber.
        """
        if not self.target_is_bucket or self.writes is None:
            return True
        activity = self.closing.get(next_node)
        return activity is not None and activity.live(now, horizon)

    def counted(self, next_node: str) -> Activity | None:
        """The activity that counts as this hop firing on the way to ``next_node``.

        Writes (into a bucket: only the ones that match the next trigger), else observed
        invocations; None where the hop is configuration only and nothing on it is observed.
        """
        if self.writes is not None:
            return self.closing.get(next_node) if self.target_is_bucket else self.writes
        return self.invocations

    def expire(self, now: float, horizon: float) -> bool:
        """Forget observations older than the horizon; True if nothing is left of the hop."""
        if self.writes is not None and not self.writes.live(now, horizon):
            self.writes = None
        if self.invocations is not None and not self.invocations.live(now, horizon):
            self.invocations = None
        for node in [n for n, a in self.closing.items() if not a.live(now, horizon)]:
            del self.closing[node]
        return not self.triggers and self.writes is None and self.invocations is None

    def oldest_observation(self) -> float | None:
        """The earliest of the latest times of what is observed on this hop (writes,
        invocations, closing writes): the first to pass the horizon. None if nothing is."""
        lasts = [a.last for a in self.closing.values()]
        if self.writes is not None:
            lasts.append(self.writes.last)
        if self.invocations is not None:
            lasts.append(self.invocations.last)
        return min(lasts) if lasts else None

    def to_state(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "bucket": self.target_is_bucket,
            "triggers": [asdict(t) for t in self.triggers.values()],
            "writes": None if self.writes is None else self.writes.to_state(),
            "invocations": None if self.invocations is None else self.invocations.to_state(),
            "closing": {node: a.to_state() for node, a in self.closing.items()},
            "last_key": self.last_key,
            "written": [list(entry) for entry in self.written or ()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], window: float, keep: float) -> Edge:
        edge = cls(state["source"], state["target"], bool(state["bucket"]))
        for t in state["triggers"]:
            trigger = Trigger(**{**t, "events": tuple(t["events"])})
            edge.triggers[trigger.id] = trigger
        if state["writes"] is not None:
            edge.writes = Activity.from_state(state["writes"], window, keep)
        if state["invocations"] is not None:
            edge.invocations = Activity.from_state(state["invocations"], window, keep)
        edge.closing = {
            node: Activity.from_state(a, window, keep) for node, a in state["closing"].items()
        }
        edge.last_key = state["last_key"]
        written = state.get("written")
        if written:
            edge.written = [
                (int(second), key, event, int(count)) for second, key, event, count in written
            ]
        return edge
