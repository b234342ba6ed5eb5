"""Which functions of a loop may be throttled: the protected list, and the throttle policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase

from loopwatch.events import arns

ALL = "all"
HIGHEST_RATE = "highest-rate"

RateOf = Callable[[str], float | None]  # function ARN → invocations per minute, if known


def protected_by(function: str, patterns: Iterable[str]) -> str | None:
    """The first pattern that protects ``function`` (an unqualified ARN), or None.

    A pattern is matched, case-sensitively with fnmatch wildcards, against the function's
    name and against its ARN: ``payments-*`` and ``arn:aws:lambda:*:111122223333:function:*``
    both work.
    """
    name = arns.name(function)
    for pattern in patterns:
        if fnmatchcase(name, pattern) or fnmatchcase(function, pattern):
            return pattern
    return None


def choose(functions: Sequence[str], policy: str, rate_of: RateOf | None) -> list[str]:
    """The functions to throttle under ``policy``, in the order given.

    ``highest-rate`` keeps the one function with the highest known rate; without a rate
    lookup, or with no rate known for any, it falls back to all of them, because throttling
    too much of a runaway loop is cheaper than guessing the wrong function. Raises
    ValueError for an unknown policy.
    """
    if policy == ALL:
        return list(functions)
    if policy != HIGHEST_RATE:
        raise ValueError(f"unknown throttle policy {policy!r}")
    if rate_of is None:
        return list(functions)
    rated = [(rate, f) for f in functions if (rate := rate_of(f)) is not None]
    if not rated:
        return list(functions)
    best = max(rated, key=lambda rf: rf[0])[1]
    return [best]
