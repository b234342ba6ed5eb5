"""What every CloudTrail handler shares: the registry, field access and the caller.

A handler turns one *relevant* record (its ``(eventSource, eventName)`` is registered)
into facts. It may assume the record is a dict whose ``eventSource``, ``eventName`` and
``eventTime`` are strings and that it has no ``errorCode`` (``records.parse`` checks
both), and nothing else: every other field is read through the helpers below, which
tolerate any JSON value and raise ``MalformedRecord`` only when a field the fact needs
is missing or unusable.

A record that names more targets than its call accepts (``target_limit``: at most
``MAX_TARGETS``) yields facts for the first ones only, and says so (``capped``, ``Capped``):
work per record is bounded whatever a producer sends.

Configuration records are read more strictly (the ``conf_*`` helpers): a configuration
replaces what the engine knew, so a field of the wrong type (a ``NotificationConfiguration``
that is the number 7) makes the record malformed rather than read as "no configuration",
which would erase the real one. Absent and null still mean absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar, cast

from loopwatch.events.facts import Caller, Fact
from loopwatch.events.times import parse_time

JSON = dict[str, object]
Handler = Callable[[JSON], tuple[Fact, ...]]
T = TypeVar("T")


class MalformedRecord(ValueError):
    """A record that cannot be read: not an object, or missing what its facts need."""


# eventName → eventSource → handler. Keyed by name first so that an irrelevant record
# costs one lookup of a string whose hash is already cached, with no tuple to build.
REGISTRY: dict[str, dict[str, Handler]] = {}

# CloudTrail names Lambda calls after the API version that served them
# (CreateFunction20150331, UpdateFunctionConfiguration20150331v2); the suffix has
# changed over the years, so a versioned name is registered with all of these.
API_VERSION_SUFFIXES = ("", "20150331", "20150331v2", "20170331", "20170331v2", "20190925")


def handles(source: str, *names: str) -> Callable[[Handler], Handler]:
    """Register the decorated function for ``(source, name)``, for every name given."""

    def register(handler: Handler) -> Handler:
        for name in names:
            by_source = REGISTRY.setdefault(name, {})
            if source in by_source:
                raise RuntimeError(f"two handlers for {source} {name}")
            by_source[source] = handler
        return handler

    return register


def versioned(*bases: str) -> tuple[str, ...]:
    """Every CloudTrail spelling of Lambda API names: ``Invoke``, ``Invoke20150331``…"""
    return tuple(base + suffix for base in bases for suffix in API_VERSION_SUFFIXES)


# --- field access ------------------------------------------------------------------


def as_obj(value: object) -> JSON:
    """``value`` when it is an object, else an empty one (absent, null, wrong type)."""
    return cast(JSON, value) if isinstance(value, dict) else {}


def obj(parent: JSON, key: str) -> JSON:
    """``parent[key]`` when it is an object, else an empty one."""
    return as_obj(parent.get(key))


def text(parent: JSON, key: str) -> str | None:
    """``parent[key]`` when it is a non-empty string, else None."""
    value = parent.get(key)
    return value if isinstance(value, str) and value else None


def need(parent: JSON, key: str, where: str) -> str:
    """``parent[key]`` as a non-empty string; raises MalformedRecord naming ``where.key``."""
    value = parent.get(key)
    if isinstance(value, str) and value:
        return value
    raise MalformedRecord(f"{where}.{key} is missing or not a string")


def listed(value: object) -> list[object]:
    """XML-born fields hold one item or a list of them: always a list (None → empty)."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def objects(value: object) -> list[JSON]:
    """The objects among ``listed(value)``; other items are ignored."""
    return [cast(JSON, item) for item in listed(value) if isinstance(item, dict)]


# --- configuration fields: absent or null is absent, any other wrong type is malformed ------


def conf_obj(parent: JSON, key: str, where: str) -> JSON:
    """``parent[key]`` as an object: {} when absent or null; MalformedRecord for another type."""
    value = parent.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return cast(JSON, value)
    raise MalformedRecord(f"{where}.{key} is {_kind(value)}, not an object")


def conf_items(parent: JSON, key: str, where: str) -> list[JSON]:
    """``parent[key]``, one object or a non-empty list of objects (XML-born), as a list: []
    when absent or null; MalformedRecord when it is an empty list (no XML renders as one, and
    read as nothing it would erase) or when it or an item of it is not an object."""
    value = parent.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not items:
        raise MalformedRecord(f"{where}.{key} is an empty list")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedRecord(f"{where}.{key} holds {_kind(item)}, not an object")
    return cast(list[JSON], items)


def conf_text(parent: JSON, key: str, where: str) -> str | None:
    """``parent[key]`` as a string: None when absent, null or empty; MalformedRecord for
    another type."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise MalformedRecord(f"{where}.{key} is {_kind(value)}, not a string")


def conf_texts(parent: JSON, key: str, where: str) -> tuple[str, ...]:
    """``parent[key]``, one string or a non-empty list of them (XML-born): () when absent or
    null; MalformedRecord for anything else (a number, an empty list, a list of non-strings)."""
    value = parent.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise MalformedRecord(f"{where}.{key} is {_kind(value)}, not strings")
    return tuple(cast(list[str], items))


def conf_bool(parent: JSON, key: str, where: str) -> bool | None:
    """``parent[key]`` as a boolean: None when absent or null; MalformedRecord otherwise."""
    value = parent.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise MalformedRecord(f"{where}.{key} is {_kind(value)}, not a boolean")


def conf_request(rec: JSON) -> JSON:
    """``requestParameters`` of a configuration record (strict, see ``conf_obj``)."""
    return conf_obj(rec, "requestParameters", "record")


def conf_response(rec: JSON) -> JSON:
    """``responseElements`` of a configuration record (strict, see ``conf_obj``)."""
    return conf_obj(rec, "responseElements", "record")


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "an object" if isinstance(value, dict) else "a value")


def request(rec: JSON) -> JSON:
    return obj(rec, "requestParameters")


def response(rec: JSON) -> JSON:
    return obj(rec, "responseElements")


def count_of(value: object) -> int:
    """Items in a batch field: its length when it is a non-empty list, else 1."""
    return len(value) if isinstance(value, list) and value else 1


# --- bounded work: the targets one record may name ----------------------------------

MAX_TARGETS = 100
"""The most targets (tables, buses, rule targets, statements, object keys) any record yields
facts for; ``TARGET_LIMITS`` holds the calls that accept fewer. Each fact costs the engine a
hop and the saved state a part (one changelog message), so a forged record naming 7,000 tables
would cost 7,000 of each; past its limit, a record yields facts for its first targets and is
counted as truncated (``Capped``).

The limits are the calls' own: TransactWriteItems and ExecuteTransaction take 100 actions,
RemoveTargets 100 ids; SendMessageBatch and PublishBatch (10 entries) and PutRecords (500)
write one queue, topic or stream and yield one fact whatever their size. S3 DeleteObjects
deletes up to 1,000 keys but CloudTrail lists none of them (``s3.objects_deleted``): a record
naming keys is not CloudTrail's, and 100 of them are plenty. So no record CloudTrail writes for
a call AWS accepted is ever cut.
"""

TARGET_LIMITS = {
    "BatchWriteItem": 25,  # put and delete requests in all, so at most 25 tables
    "BatchExecuteStatement": 25,
    "PutEvents": 10,  # entries, so at most 10 buses
    "PutTargets": 10,
}
"""The calls that accept fewer targets than ``MAX_TARGETS``, by event name."""


@dataclass(frozen=True, slots=True)
class Truncation:
    """A record that named ``named`` targets (``noun``: "tables", "keys"…) of which only the
    first ``kept`` gave facts."""

    event: str
    noun: str
    named: int
    kept: int

    @property
    def reason(self) -> str:
        """What a report and a log line say: the event, and what was dropped."""
        dropped = self.named - self.kept
        return (
            f"{self.event} named {self.named:,} {self.noun}: facts for the first {self.kept:,},"
            f" {dropped:,} dropped"
        )


class Capped(tuple[Fact, ...]):
    """The facts of a truncated record: a tuple of them, as every handler returns, that also
    carries its ``truncation`` (``loopwatch.events.intake`` counts it). Everything that only
    reads the facts sees a plain tuple."""

    truncation: Truncation

    def __new__(cls, facts: Iterable[Fact], truncation: Truncation) -> Capped:
        capped = super().__new__(cls, facts)
        capped.truncation = truncation
        return capped

    def __reduce__(self) -> tuple[Any, ...]:
        # Replay's worker processes send parsed facts back pickled; tuple's own reduce would
        # call __new__ without the truncation.
        return (Capped, (tuple(self), self.truncation))


def target_limit(event: str) -> int:
    """The most targets a record of ``event`` (its ``eventName``) yields facts for."""
    return TARGET_LIMITS.get(event, MAX_TARGETS)


def capped(rec: JSON, targets: Iterable[T], noun: str) -> tuple[list[T], Truncation | None]:
    """The first ``target_limit`` of ``targets`` (all of them when there are no more), and the
    truncation to report (None when nothing was dropped). The one place the cap is applied:
    a handler reads what it returns, never ``targets`` past it; those past it are only counted
    (an iterator's, without keeping them)."""
    event = str(rec["eventName"])
    limit = target_limit(event)
    rest = iter(targets)
    kept = list(islice(rest, limit))
    named = len(targets) if isinstance(targets, Sized) else len(kept) + sum(1 for _ in rest)
    if named <= limit:
        return kept, None
    return kept, Truncation(event, noun, named, len(kept))


def facts_of(facts: Iterable[Fact], truncation: Truncation | None) -> tuple[Fact, ...]:
    """``facts`` as a handler returns them: ``Capped`` when ``truncation`` says some were cut."""
    return tuple(facts) if truncation is None else Capped(facts, truncation)


def per_target(
    rec: JSON, targets: Iterable[T], noun: str, make: Callable[[T], Fact]
) -> tuple[Fact, ...]:
    """One fact per target, ``make(target)``, for the first ``target_limit`` targets
    (``capped``)."""
    kept, truncation = capped(rec, targets, noun)
    return facts_of(map(make, kept), truncation)


# --- record context ----------------------------------------------------------------


def event_time(rec: JSON) -> float:
    """The record's ``eventTime`` as epoch seconds; MalformedRecord if unparseable."""
    try:
        return parse_time(cast(str, rec["eventTime"]))
    except (KeyError, ValueError) as exc:
        raise MalformedRecord(f"bad eventTime: {rec.get('eventTime')!r}") from exc


def account(rec: JSON) -> str:
    """The account a resource named only by name lives in (DESIGN §4)."""
    found = text(rec, "recipientAccountId") or text(obj(rec, "userIdentity"), "accountId")
    if found is None:
        raise MalformedRecord("neither recipientAccountId nor userIdentity.accountId")
    return found


def region(rec: JSON) -> str:
    return need(rec, "awsRegion", "record")


def caller(rec: JSON) -> Caller | None:
    """The assumed-role caller, or None for any other identity (users, services, roots).

    ``arn:<partition>:sts::<account>:assumed-role/<role>/<session>`` → Caller. Raises
    MalformedRecord when the caller is an assumed role but ``awsRegion`` is missing.

    A session whose credentials came from the console (``sessionCredentialFromConsole``,
    real records carry the string ``"true"``) is a person, never a function: None. A role
    used by a service (``invokedBy``: Step Functions, a mapping's poller) stays a Caller
    with ``invoked_by`` set, and ``loopwatch.graph.identity`` rules it out.
    """
    identity = obj(rec, "userIdentity")
    if identity.get("type") != "AssumedRole":
        return None
    arn = text(identity, "arn")
    if arn is None:
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sts" or not parts[4]:
        return None
    kind, _, rest = parts[5].partition("/")
    role, _, session = rest.partition("/")
    if kind != "assumed-role" or not role or not session:
        return None
    if rec.get("sessionCredentialFromConsole") in ("true", True):
        return None
    return Caller(parts[4], region(rec), role, session, text(identity, "invokedBy"))


def service_principal(identity: JSON) -> str | None:
    """``invokedBy`` when it names an AWS service principal (``states.amazonaws.com``).

    Not ``AWS Internal`` (console and internal calls) and not a person's console sign-in.
    """
    by = text(identity, "invokedBy")
    if by is None or not by.endswith(".amazonaws.com") or by in _PEOPLE:
        return None
    return by


# invokedBy values that mark a person at the console, not a service acting on its own.
_PEOPLE = frozenset({"signin.amazonaws.com", "console.amazonaws.com"})
