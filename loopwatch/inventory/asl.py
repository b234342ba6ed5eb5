"""Which functions a state machine invokes, read from its Amazon States Language definition.

CloudTrail never shows definitions, so this is the only way to learn state machine → function
edges (DESIGN §4). A Task state invokes a function in one of two ways:

    "Resource": "arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]"
    "Resource": "arn:aws:states:::lambda:invoke[.waitForTaskToken]",
        "Parameters": {"FunctionName": "<name, partial ARN or ARN>"}   (JSONPath)
        "Arguments":  {"FunctionName": "<name, partial ARN or ARN>"}   (JSONata)

A name chosen at run time (``"FunctionName.$": "$.target"``, a JSONata ``{% … %}``
expression) cannot be known from the definition and is left out. States nest: Parallel
states hold ``Branches``, Map states an ``Iterator`` (older) or an ``ItemProcessor``, each
with ``States`` of its own.
"""

from __future__ import annotations

import re
from typing import cast

import orjson

from loopwatch.events import arns

_INVOKE = re.compile(r"arn:[a-z-]+:states:::lambda:invoke(\.waitForTaskToken)?")
_FUNCTION = re.compile(r"arn:[a-z-]+:lambda:[^:]*:[^:]*:function:[^:]+(:[^:]+)?")

JSON = dict[str, object]


class DefinitionError(ValueError):
    """A definition that is not a JSON object."""


def invoked_functions(definition: str | bytes, account: str, region: str) -> tuple[str, ...]:
    """The canonical ARNs of the functions that Task states invoke by a fixed name, sorted
    and without repeats. A bare function name takes the state machine's ``account`` and
    ``region``. Raises DefinitionError when ``definition`` is not a JSON object; anything
    inside it that is not a valid state is skipped."""
    try:
        document = orjson.loads(definition)
    except orjson.JSONDecodeError as exc:
        raise DefinitionError(f"the definition is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DefinitionError("the definition is not a JSON object")
    found: set[str] = set()
    # A stack, not recursion: nesting depth is the definition's to choose.
    pending: list[object] = [document.get("States")]
    while pending:
        states = pending.pop()
        if not isinstance(states, dict):
            continue
        for state in states.values():
            if not isinstance(state, dict):
                continue
            state = cast(JSON, state)
            kind = state.get("Type")
            if kind == "Task":
                function = _task_function(state, account, region)
                if function is not None:
                    found.add(function)
            elif kind == "Parallel":
                branches = state.get("Branches")
                if isinstance(branches, list):
                    pending.extend(b.get("States") for b in branches if isinstance(b, dict))
            elif kind == "Map":
                for key in ("ItemProcessor", "Iterator"):
                    inner = state.get(key)
                    if isinstance(inner, dict):
                        pending.append(inner.get("States"))
    return tuple(sorted(found))


def _task_function(state: JSON, account: str, region: str) -> str | None:
    resource = state.get("Resource")
    if not isinstance(resource, str):
        return None
    if _FUNCTION.fullmatch(resource):
        return arns.function_arn(resource, account, region)
    if not _INVOKE.fullmatch(resource):
        return None
    for key in ("Parameters", "Arguments"):
        arguments = state.get(key)
        if not isinstance(arguments, dict):
            continue
        name = arguments.get("FunctionName")
        # "FunctionName.$" is a different key, so a path chosen at run time never gets here;
        # a JSONata expression does, and is just as unknowable.
        if isinstance(name, str) and name and not name.lstrip().startswith("{%"):
            return arns.function_arn(name, account, region)
    return None
