"""The sample kept of a rejected record: bounded in depth, so it can go anywhere.

A rejected record's first sample travels: back from a replay worker process (pickled), into
a dead letter (orjson, which refuses more than 255 levels), into a log line (repr). JSON
nested hundreds of levels deep (envelopes inside envelopes) breaks each of them with a
RecursionError, costing the batch instead of the record. ``shallow`` keeps the top
``SAMPLE_DEPTH`` levels, which hold everything that says what the record was, and replaces
what lies below with a note — without recursing itself.
"""

from __future__ import annotations

from collections.abc import Iterable

SAMPLE_DEPTH = 32
"""Levels of a rejected record kept in its sample (a real CloudTrail record has under 20)."""
CUT = f"… (nested deeper than {SAMPLE_DEPTH} levels: cut)"

_Container = dict[object, object] | list[object]


def shallow(value: object, depth: int = SAMPLE_DEPTH) -> object:
    """``value`` itself when it holds no container below ``depth`` levels, else a copy with
    every container at that level replaced by ``CUT``. Iterative: any depth is safe."""
    if not isinstance(value, dict | list) or not _deeper(value, depth):
        return value
    root: _Container = {} if isinstance(value, dict) else []
    stack: list[tuple[_Container, _Container, int]] = [(value, root, 1)]
    while stack:
        source, target, level = stack.pop()
        for key, child in _items(source):
            kept: object = child
            if isinstance(child, dict | list):
                if level >= depth:
                    kept = CUT
                else:
                    inner: _Container = {} if isinstance(child, dict) else []
                    stack.append((child, inner, level + 1))
                    kept = inner
            if isinstance(target, dict):
                target[key] = kept
            else:
                target.append(kept)
    return root


def _items(node: _Container) -> Iterable[tuple[object, object]]:
    return node.items() if isinstance(node, dict) else enumerate(node)


def _deeper(value: _Container, depth: int) -> bool:
    """True when ``value`` holds a container more than ``depth`` levels down."""
    stack: list[tuple[_Container, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        for _, child in _items(node):
            if isinstance(child, dict | list):
                if level >= depth:
                    return True
                stack.append((child, level + 1))
    return False
