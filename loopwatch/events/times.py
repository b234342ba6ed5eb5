"""Event time as epoch seconds (UTC), parsed from and formatted as ISO-8601.

The engine runs on float epoch seconds; records carry ``2026-10-05T14:00:00Z``
(CloudTrail), ``…:00.123Z`` (invocation events) or ``…:00+00:00``. Only these
explicit-offset forms are accepted: a time without an offset would be a naive
datetime, which loopwatch bans.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# [0-9] rather than \d: \d also matches non-ASCII digits, which ISO-8601 does not allow.
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = 253402300799.0
"""9999-12-31T23:59:59Z: the last second ISO-8601 (and ``format_time``) can write."""


def parse_time(s: str) -> float:
    """Epoch seconds (UTC) of an ISO-8601 date-time with a ``Z`` or ``±HH:MM`` offset.

    Accepts ``YYYY-MM-DDTHH:MM:SS`` with optional fractional seconds (1 to 9 digits)
    and a mandatory offset. Raises ValueError for anything else: no offset, a date
    alone, basic format, an impossible date or time, a non-string, and a moment outside
    1970-01-01T00:00:00Z … 9999-12-31T23:59:59Z.
    """
    if type(s) is not str:
        raise ValueError(f"not a time string: {s!r}")
    return _parse(s)


# Records of one log file share a handful of distinct seconds; the cache turns most
# parses into a dict hit. Failures raise, so they are never cached.
@lru_cache(maxsize=4096)
def _parse(s: str) -> float:
    m = _ISO.fullmatch(s)
    if m is None:
        raise ValueError(f"not an ISO-8601 time with an offset: {s!r}")
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    # datetime() validates the calendar (Feb 30, hour 24…) and raises ValueError.
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
    )
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    if zulu is None:
        offset_h, offset_m = int(off_h), int(off_m)
        if offset_h > 23 or offset_m > 59:
            raise ValueError(f"bad UTC offset in {s!r}")
        offset = offset_h * 3600 + offset_m * 60
        whole -= offset if sign == "+" else -offset
    if not 0 <= whole <= LATEST:
        # DESIGN §5: an event time outside 1970-9999 (in UTC) is malformed; the engine and
        # every report could not place it.
        raise ValueError(f"time outside 1970-9999 UTC: {s!r}")
    return whole + float(frac) if frac else float(whole)


def format_time(t: float) -> str:
    """``2026-10-05T14:00:03Z`` for epoch seconds ``t``, in UTC.

    Fractional seconds appear only when non-zero, rounded to the microsecond with
    trailing zeros dropped (``…:03.123Z``). Raises ValueError for a non-finite time
    or one outside years 1 to 9999.
    """
    if not math.isfinite(t):
        raise ValueError(f"not a finite time: {t!r}")
    micros = round(t * 1_000_000)
    try:
        moment = _EPOCH + timedelta(microseconds=micros)
    except OverflowError as exc:
        raise ValueError(f"time out of range: {t!r}") from exc
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.year < 1000:  # strftime does not zero-pad years everywhere
        text = f"{moment.year:04d}{text[text.index('-') :]}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
