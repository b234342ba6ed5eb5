"""Just enough PartiQL to tell which DynamoDB table a statement writes.

    INSERT INTO <table> VALUE {…}            writes <table>
    UPDATE <table> SET … WHERE …             writes <table>
    DELETE FROM <table> WHERE …              writes <table>
    SELECT … FROM <table>, EXISTS(…), …      writes nothing

CloudTrail keeps the statement text but redacts non-key values (``***(Redacted)``, see the
DynamoDB developer guide's ExecuteStatement and BatchExecuteStatement examples); the verb and
the table name survive, which is all this reads. A table name is bare (``Music``) or double
quoted (``"my-table"``, or a table ARN for a cross-account statement).
"""

from __future__ import annotations

import re

# The verb (and for INSERT / DELETE the word that must follow it), after the comments.
_VERB = re.compile(r"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b\s*", re.IGNORECASE)
_TABLE = re.compile(r'"(?P<quoted>[^"]+)"|(?P<bare>[A-Za-z0-9_.-]+)')


class UnreadableStatement(ValueError):
    """A statement that writes, but whose table could not be read."""


def written_table(statement: str) -> str | None:
    """The table name (or ARN) an INSERT, UPDATE or DELETE writes; None for other statements.

    Raises UnreadableStatement when the statement is a write whose table cannot be read.
    """
    start = _skip_comments(statement)
    verb = _VERB.match(statement, start)
    if verb is None:
        return None
    table = _TABLE.match(statement, verb.end())
    if table is None:
        raise UnreadableStatement(f"no table after {verb.group().strip()!r}")
    return table.group("quoted") or table.group("bare")


def _skip_comments(statement: str) -> int:
    """Where the statement proper starts: past whitespace, ``-- …`` lines and ``/* … */``.

    A scanner, not a regex: nested quantifiers over comments backtrack badly on long input.
    """
    i, n = 0, len(statement)
    while i < n:
        if statement[i].isspace():
            i += 1
        elif statement.startswith("--", i):
            end = statement.find("\n", i)
            i = n if end < 0 else end + 1
        elif statement.startswith("/*", i):
            end = statement.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i
