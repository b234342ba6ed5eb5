"""Which functions of a loop may be throttled: the protected list, and the throttle policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase

from loopwatch.events import arns

ALL = "all"
HIGHEST_RATE = "highest-rate"

RateOf = Callable[[str], float | None]  # function ARN → invocations per minute, if known


def protected_by(function: str, patterns: Iterable[str]) -> str | None:
    """The first pattern that protects ``function`` (an ARN, maybe qualified), or None.

    A pattern is matched, case-sensitively with fnmatch wildcards, against the function's
    name, its partial ARN (``<account>:function:<name>``) and its ARN: ``payments-*`` and
    ``arn:aws:lambda:*:111122223333:function:*`` both work. Qualifiers name their function on
    either side: ``payments:prod`` or ``…:function:payments:$LATEST`` protects ``payments``,
    and a finding that names ``…:function:payments:7`` is protected by ``payments``.
    """
    forms = _spellings(arns.unqualified_function(function))
    for pattern in patterns:
        bare = arns.unqualified_function(pattern)
        if any(fnmatchcase(form, bare) for form in forms):
            return pattern
    return None


def _spellings(function: str) -> tuple[str, ...]:
    """An unqualified function's name, partial ARN and ARN (those it has)."""
    parts = function.split(":")
    if len(parts) == 7:
        return parts[6], ":".join(parts[4:]), function
    if len(parts) == 3:
        return parts[2], function
    return (function,)


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
