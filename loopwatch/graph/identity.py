"""Which Lambda function an assumed-role caller is (DESIGN §4).

Lambda runs a function as ``assumed-role/<execution role>/<function name>``. The caller is
taken to be a function when its session is a known function's name, or its role is the
execution role of exactly one known function; failing both, a session name that looks like
a function name is taken as one. Knowledge grows as CreateFunction / UpdateFunctionConfiguration
records and triggers name functions.
"""

from __future__ import annotations

import re

from loopwatch.events import arns
from loopwatch.events.facts import Caller

# Lambda function names: letters, digits, hyphens and underscores, at most 64.
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Sessions that look like function names but are not: Lambda's own service sessions and EC2
# instance ids (instance-profile sessions).
_NOT_A_FUNCTION = re.compile(r"awslambda_.*|i-[0-9a-f]{8,17}")


class Identities:
    __slots__ = ("_by_name", "_by_role", "_guesses", "_only", "_role_of")

    def __init__(self) -> None:
        self._by_name: dict[str, set[str]] = {}  # function name -> function ARNs
        self._by_role: dict[str, set[str]] = {}  # role name -> functions using it
        self._role_of: dict[str, str] = {}  # function ARN -> role name
        self._guesses: dict[str, bool] = {}  # session name -> looks like a function name
        # Names that only one known function has (nearly all): the answer without a set
        # iterator, on the path every write takes.
        self._only: dict[str, str] = {}

    def learn(self, function: str, role_arn: str | None = None) -> None:
        """Remember that ``function`` exists, and its execution role when known."""
        name = arns.name(function)
        same_name = self._by_name.setdefault(name, set())
        same_name.add(function)
        self._index_name(name, same_name)
        if role_arn:
            role = role_arn.rsplit("/", 1)[-1]
            old = self._role_of.get(function)
            if old is not None and old != role:
                self._by_role.get(old, set()).discard(function)
            self._role_of[function] = role
            self._by_role.setdefault(role, set()).add(function)

    def forget(self, function: str) -> None:
        name = arns.name(function)
        same_name = self._by_name.get(name, set())
        same_name.discard(function)
        self._index_name(name, same_name)
        role = self._role_of.pop(function, None)
        if role is not None:
            self._by_role.get(role, set()).discard(function)

    def knows(self, function: str) -> bool:
        return function in self._by_name.get(arns.name(function), ())

    def confirmed(self, function: str) -> bool:
        """The function's execution role is known (a configuration record or the inventory
        said so): what it writes can be told from what someone merely named after it."""
        return function in self._role_of

    def to_state(self) -> dict[str, str | None]:
        """Known functions and their roles (the session-name guesses are a cache, not state)."""
        known = {fn: None for fns in self._by_name.values() for fn in fns}
        roles = {fn: f"role/{role}" for fn, role in self._role_of.items()}
        return {**known, **roles}

    @classmethod
    def from_state(cls, state: dict[str, str | None]) -> Identities:
        identities = cls()
        for function, role in state.items():
            identities.learn(function, role)
        return identities

    def _index_name(self, name: str, functions: set[str]) -> None:
        if len(functions) == 1:
            self._only[name] = next(iter(functions))
        else:
            self._only.pop(name, None)

    def function_of(self, caller: Caller) -> str | None:
        """The function ARN the caller is, or None when it is not a function."""
        only = self._only.get(caller.session)
        if only is not None:
            return only
        named = self._by_name.get(caller.session)
        if named:
            return _closest(named, caller)
        by_role = self._by_role.get(caller.role)
        if by_role is not None and len(by_role) == 1:
            return next(iter(by_role))
        looks = self._guesses.get(caller.session)
        if looks is None:
            looks = bool(
                _FUNCTION_NAME.fullmatch(caller.session)
            ) and not _NOT_A_FUNCTION.fullmatch(caller.session)
            self._guesses[caller.session] = looks
        if looks:
            return f"arn:aws:lambda:{caller.region}:{caller.account}:function:{caller.session}"
        return None


def _closest(functions: set[str], caller: Caller) -> str:
    """Of same-named functions, the one in the caller's account and region, if any."""
    if len(functions) == 1:
        return next(iter(functions))
    wanted = f"arn:aws:lambda:{caller.region}:{caller.account}:function:{caller.session}"
    if wanted in functions:
        return wanted
    return min(functions)
