"""Which Lambda function an assumed-role caller is (DESIGN §4), and how sure that is.

Lambda runs a function as ``assumed-role/<execution role>/<function name>``, but anyone who
may assume a role picks its session name, so the name alone proves nothing:

    caller ─┬─ invokedBy a service principal ─────────────────────────────► not a function
            ├─ session = a known function of the caller's account
            │     ├─ that function's role known:  same role ──────────────► confirmed
            │     │                               other role ─────────────► not a function
            │     └─ role unknown ────────────────────────────────────────► presumed (it)
            ├─ the account's function list is complete (inventory) ───────► not a function
            ├─ the role is the execution role of exactly one known function ► confirmed (it)
            └─ session looks like a function name ───────────────────────► presumed
               (no ``awslambda_`` prefix, no EC2 instance id, no SDK default session name)

Names are never matched across accounts: a function ARN is account-scoped, and so is a role.
A caller of account B whose session is the name of A's function is not A's function; it is
B's own function of that name only if nothing rules that out (B's function list, B's roles).
"Another known role" means the named function's own role is known and the caller's differs:
Lambda always runs a function as its own execution role.

What real records show (shared/data/cloudtrail-samples): people's and CI's sessions (``bob``,
``johndoe-session``, ``user-SomeRole``) look exactly like function names, so without an
inventory they stay *presumed* and nothing resting on them is confirmed; Step Functions and
mapping pollers use a role with ``invokedBy`` set; EC2 instance profiles use the instance id.
Knowledge grows with CreateFunction / UpdateFunctionConfiguration records (function and
role), with every function a trigger names (function only), and with an inventory's
complete function list (``know_all_functions``). State machines' execution roles are kept
here too: Step Functions invokes a function as its state machine's role, naming nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from loopwatch.events import arns
from loopwatch.events.facts import Caller
from loopwatch.events.shared import is_shared, shared_dict
from loopwatch.graph.changes import Changed

CONFIRMED = "confirmed"
PRESUMED = "presumed"
NOT_A_FUNCTION = "not-a-function"
STATES = "states.amazonaws.com"

# Lambda function names: letters, digits, hyphens and underscores, at most 64.
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Sessions that look like function names but are not: Lambda's own service sessions (an event
# source poller, ``awslambda_<n>_<timestamp>``), EC2 instance-profile sessions (the instance
# id), and the default session names of SDKs that assume a role for a person or a CI job
# (botocore ``botocore-session-<epoch>``, Go v2 ``aws-go-sdk-<nanos>``, JS v3
# ``aws-sdk-js-<millis>``, Go v1 bare nanoseconds).
_NOT_A_FUNCTION = re.compile(
    r"awslambda_.*|i-[0-9a-f]{8,17}|botocore-session-\d+|aws-go-sdk-\d+|aws-sdk-js-\d+|\d+"
)
_GUESS_CACHE = 4096  # session names whose look is remembered (random names must not grow it)
_NONE: dict[str, Any] = {}
_NO_ACCOUNTS: frozenset[str] = frozenset()


class Identities:
    __slots__ = (
        "_by_name",
        "_by_role",
        "_complete",
        "_guesses",
        "_machines",
        "_machines_by_role",
        "_role_of",
        "changed",
    )

    def __init__(self) -> None:
        # account -> function name -> its ARNs (one per region it exists in), sorted.
        # account -> role name -> functions running as it.
        # Tuples, rebuilt on the rare change: tuples of strings are the containers the garbage
        # collector stops tracking, and there are two of these per function.
        # The dicts are shared empty ones until the first thing learned (``_own``): a worker
        # holds identities for each of thousands of accounts, most of which learn nothing.
        self._by_name: dict[str, dict[str, tuple[str, ...]]] = shared_dict()
        self._by_role: dict[str, dict[str, tuple[str, ...]]] = shared_dict()
        self._role_of: dict[str, str] = shared_dict()  # function ARN -> role name
        # Accounts whose every function is known: a frozenset, rebuilt on the rare change (an
        # empty set costs 216 bytes, and most engines of a worker never see an inventory).
        self._complete = _NO_ACCOUNTS
        self._machines: dict[str, str] = shared_dict()  # state machine ARN -> role ARN
        # (machine's account, role name) -> the machines running as it: Step Functions'
        # invocations are matched by role, and must not read every state machine each time.
        self._machines_by_role: dict[tuple[str, str], dict[str, None]] = shared_dict()
        # session name -> looks like a function name
        self._guesses: dict[str, bool] = shared_dict()
        self.changed: Changed[str] | None = None
        """Functions learned or forgotten since they were last taken, kept once someone sets
        it (the service, to save only those); None keeps nothing."""

    # -- learning ----------------------------------------------------------------------------

    def learn(self, function: str, role_arn: str | None = None) -> None:
        """Remember that ``function`` exists, and its execution role when known."""
        self._own()
        if self.changed is not None:
            self.changed.add(function)
        account, name = _account(function), arns.name(function)
        names = self._by_name.setdefault(account, {})
        same_name = names.get(name, ())
        if function not in same_name:
            # a stable order, whatever order knowledge came in
            names[name] = tuple(sorted((*same_name, function)))
        if role_arn:
            role = _role_name(role_arn)
            old = self._role_of.get(function)
            if old is not None and old != role:
                self._drop_role(account, old, function)
            self._role_of[function] = role
            roles = self._by_role.setdefault(account, {})
            same_role = roles.get(role, ())
            if function not in same_role:
                roles[role] = (*same_role, function)

    def forget(self, function: str) -> None:
        self._own()
        if self.changed is not None:
            self.changed.add(function)
        account, name = _account(function), arns.name(function)
        same_name = self._by_name.get(account, {}).get(name)
        if same_name is not None and function in same_name:
            rest = tuple(f for f in same_name if f != function)
            if rest:
                self._by_name[account][name] = rest
            else:
                del self._by_name[account][name]
        role = self._role_of.pop(function, None)
        if role is not None:
            self._drop_role(account, role, function)

    def know_all_functions(
        self, account: str, functions: Iterable[str], roles: Mapping[str, str] | None = None
    ) -> None:
        """``functions`` (ARNs) are all of ``account``'s functions; ``roles`` their roles.

        From then on a session name that is none of the account's known functions is not a
        function. "All" means every region the account runs functions in (an inventory of
        one region would rule out the functions of the others). Functions learned later, from
        CreateFunction records, join the list.
        """
        roles = roles or {}
        for function in functions:
            self.learn(function, roles.get(function))
        self._complete = self._complete | {account}

    def learn_state_machine(self, machine: str, role_arn: str) -> None:
        self._own()
        old = self._machines.get(machine)
        if old is not None:
            same_role = self._machines_by_role.get((_account(machine), _role_name(old)), {})
            same_role.pop(machine, None)
        self._machines[machine] = role_arn
        key = (_account(machine), _role_name(role_arn))
        self._machines_by_role.setdefault(key, {})[machine] = None

    # -- answering ---------------------------------------------------------------------------

    def knows(self, function: str) -> bool:
        return function in self._by_name.get(_account(function), _NONE).get(arns.name(function), ())

    def confirmed(self, function: str) -> bool:
        """The function's execution role is known (a configuration record or the inventory
        said so): what it writes can be told from what someone merely named after it."""
        return function in self._role_of

    def function_of(self, caller: Caller) -> str | None:
        """The function ARN the caller is (confirmed or presumed), or None when it is not one.

        ``resolve`` without the kind; the common case (a known function of that name, one
        region) inline, since every write takes this path.
        """
        if caller.invoked_by is None:
            named = self._by_name.get(caller.account, _NONE).get(caller.session)
            if named is not None and len(named) == 1:
                function: str = named[0]
                role = self._role_of.get(function)
                return function if role is None or role == caller.role else None
        return self.resolve(caller)[0]

    def resolve(self, caller: Caller) -> tuple[str | None, str]:
        """(function ARN or None, CONFIRMED | PRESUMED | NOT_A_FUNCTION) for ``caller``."""
        by = caller.invoked_by
        if by is not None and by.endswith(".amazonaws.com"):
            return None, NOT_A_FUNCTION
        account = caller.account
        named = self._by_name.get(account, _NONE).get(caller.session)
        if named:
            return self._named(named, caller)
        if account in self._complete:
            return None, NOT_A_FUNCTION
        by_role = self._by_role.get(account, _NONE).get(caller.role)
        if by_role is not None and len(by_role) == 1:
            return next(iter(by_role)), CONFIRMED
        if self._looks_like_function(caller.session):
            return (
                f"arn:aws:lambda:{caller.region}:{account}:function:{caller.session}",
                PRESUMED,
            )
        return None, NOT_A_FUNCTION

    def invoker_of(self, service: str | None, role_arn: str) -> str | None:
        """The resource a service invoked a function for, known only by the role it used.

        Step Functions (``states.amazonaws.com``) invokes as its state machine's execution
        role: the one known state machine of that account running as it, else None.
        """
        if service != STATES:
            return None
        return self.state_machine_of(role_arn)

    def state_machine_of(self, role_arn: str) -> str | None:
        """The one known state machine that runs as ``role_arn`` (same account), else None."""
        found = self._machines_by_role.get((_account(role_arn), _role_name(role_arn)))
        return next(iter(found)) if found is not None and len(found) == 1 else None

    # -- state -------------------------------------------------------------------------------

    def state_of(self, function: str) -> tuple[bool, str | None]:
        """(known, execution role ARN or None): one function's entry of ``to_state``."""
        if not self.knows(function):
            return False, None
        role = self._role_of.get(function)
        return True, None if role is None else f"arn:aws:iam::{_account(function)}:role/{role}"

    def complete_accounts(self) -> list[str]:
        return sorted(self._complete)

    def state_machines(self) -> dict[str, str]:
        """State machine ARN -> its execution role ARN."""
        return dict(self._machines)

    def to_state(self) -> dict[str, Any]:
        """Known functions with their roles, complete accounts, state machine roles.

        The session-name guesses are a cache, not state.
        """
        functions: dict[str, str | None] = {
            fn: None for names in self._by_name.values() for fns in names.values() for fn in fns
        }
        for fn, role in self._role_of.items():
            functions[fn] = f"arn:aws:iam::{_account(fn)}:role/{role}"
        return {
            "functions": functions,
            "complete": sorted(self._complete),
            "state_machines": dict(self._machines),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Identities:
        """Rebuild from ``to_state``; also reads the older flat ``{function: role}`` form."""
        identities = cls()
        functions = state.get("functions")
        if not isinstance(functions, dict):
            functions, state = state, {}
        for function, role in functions.items():
            identities.learn(function, role)
        identities._complete = frozenset(state.get("complete", ()))
        for machine, role in state.get("state_machines", {}).items():
            identities.learn_state_machine(machine, role)
        return identities

    # -- internals ---------------------------------------------------------------------------

    def _own(self) -> None:
        """Learn into dicts of this one's own, not the shared empty ones."""
        if is_shared(self._role_of):
            self._by_name, self._by_role, self._role_of = {}, {}, {}
            self._machines, self._machines_by_role = {}, {}

    def _drop_role(self, account: str, role: str, function: str) -> None:
        roles = self._by_role.get(account, {})
        same_role = roles.get(role)
        if same_role is not None and function in same_role:
            roles[role] = tuple(f for f in same_role if f != function)

    def _named(self, named: tuple[str, ...], caller: Caller) -> tuple[str | None, str]:
        """The caller's session is the name of these functions (of its account)."""
        role = caller.role
        if len(named) == 1:  # nearly always: no list to build on the path every write takes
            known = self._role_of.get(named[0])
            if known is None:
                return named[0], PRESUMED
            return (named[0], CONFIRMED) if known == role else (None, NOT_A_FUNCTION)
        same_role = [f for f in named if self._role_of.get(f) == role]
        if same_role:
            return _closest(same_role, caller), CONFIRMED
        unknown_role = [f for f in named if f not in self._role_of]
        if unknown_role:
            return _closest(unknown_role, caller), PRESUMED
        # Lambda would have used the function's own role: someone else chose this name.
        return None, NOT_A_FUNCTION

    def _looks_like_function(self, session: str) -> bool:
        looks = self._guesses.get(session)
        if looks is None:
            looks = bool(_FUNCTION_NAME.fullmatch(session)) and not _NOT_A_FUNCTION.fullmatch(
                session
            )
            if is_shared(self._guesses) or len(self._guesses) >= _GUESS_CACHE:
                self._guesses = {}
            self._guesses[session] = looks
        return looks


def _closest(functions: list[str], caller: Caller) -> str:
    """Of same-named functions, the one in the caller's region if any, else the first."""
    if len(functions) == 1:
        return functions[0]
    for function in functions:
        if function.split(":", 4)[3] == caller.region:
            return function
    return functions[0]


def _account(arn: str) -> str:
    """The account field of an ARN (``arn:aws:<service>:<region>:<account>:…``)."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 else ""


def _role_name(role_arn: str) -> str:
    """``arn:aws:iam::<a>:role/<path>/<name>`` (or a bare ``role/<name>``) → ``<name>``."""
    return role_arn.rsplit("/", 1)[-1]
