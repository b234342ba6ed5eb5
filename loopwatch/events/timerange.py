"""An event-time range (``--since`` / ``--until``), and the time in a CloudTrail file's name.

    TimeRange.parse("2026-10-05T14:00:00Z", None)      since 14:00, no end
        .contains(t)          a record's event time: inside?       (the intake, ship)
        .may_hold(name)       a file named …_YYYYMMDDTHHMMZ_…: worth reading?  (planning)

CloudTrail names each log file by when it delivered it, within minutes of the records it
holds; a file whose name lies more than ``NAME_SLACK`` outside the range cannot hold a record
inside it, so it is not even read. A name without such a timestamp is always read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from loopwatch.events.times import parse_time

NAME_SLACK = 3600.0
"""Seconds a file's name time may lie outside the range and the file still be read."""

# <account>_CloudTrail_<region>_20261005T1405Z_<unique>.json.gz
_NAME_TIME = re.compile(r"_CloudTrail_[a-z0-9-]+_([0-9]{8})T([0-9]{4})Z_")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Event times from ``since`` to ``until`` (epoch seconds, both inclusive; None: open)."""

    since: float | None = None
    until: float | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> TimeRange | None:
        """The range of two ISO-8601 times with an offset, either absent; None when both are.

        Raises ValueError naming the option: a time that does not parse, or since after until.
        """
        if since is None and until is None:
            return None
        start = _option("--since", since)
        end = _option("--until", until)
        if start is not None and end is not None and start > end:
            raise ValueError(f"--since {since} is after --until {until}")
        return cls(start, end)

    def contains(self, t: float) -> bool:
        return (self.since is None or t >= self.since) and (self.until is None or t <= self.until)

    def may_hold(self, name: str) -> bool:
        """False only for a CloudTrail file whose name time is more than NAME_SLACK outside."""
        named = name_time(name)
        if named is None:
            return True
        if self.since is not None and named < self.since - NAME_SLACK:
            return False
        return self.until is None or named <= self.until + NAME_SLACK


def name_time(name: str) -> float | None:
    """Epoch seconds of the ``YYYYMMDDTHHMMZ`` in a CloudTrail file name (or key); None when
    the name has none, or an impossible one."""
    found = _NAME_TIME.search(name)
    if found is None:
        return None
    day, hm = found.groups()
    try:
        moment = datetime(
            int(day[:4]), int(day[4:6]), int(day[6:]), int(hm[:2]), int(hm[2:]), tzinfo=UTC
        )
    except ValueError:  # 20261332T2599Z: not a time, so not a name to judge by
        return None
    return moment.timestamp()


def _option(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc} (e.g. 2026-10-05T14:00:00Z)") from exc
