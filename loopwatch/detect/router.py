"""The account router: which account a record is detected in, one detector per account, and
when an account's inventory is dated. Replay and the worker both go through it.

    record ──account_key──► account ──► Account (Intake ──► Driver ──► Engine)
                                          ▲
    inventory (snapshot, AWS read) ───────┘ configure(): dated by ``configured_at``

**Accounts.** A record belongs to the account ``account_key`` names (its
``recipientAccountId``, else its ``account``, its caller's account, or its function's account;
``unknown`` when it names none). The shipper keys every Kafka message by that account, so the
worker's per-message key and replay's per-record routing put each record in the same account.
A key is no evidence, though (docs/trust.md): a record in a message keyed by another account
is rejected with the reason (``Account.take``), never applied to the key's account, so a
producer cannot move records into an account they do not name.
Each account has its own ``Intake`` (so dedupe is per account: one ``eventID`` in two accounts
is two records), its own ``Engine`` and ``Driver``, and its own event time: a busy account's
clock never resolves a quiet one's incidents, and an org trail's accounts are as many
independent stories as separate trails would be (DESIGN §5, "not on the other stories").

**Dating inventory facts: the one rule** (``configured_at``). A configuration read is dated at
the account's event time when it is applied: ``ORIGIN`` (1970-01-01T00:00:00Z) while the
account has seen no record, else the newest event time it has seen.

- A snapshot that predates the logs (``replay --inventory``, ``LOOPWATCH_INVENTORY=<file>``)
  is applied when its account is opened, before any of the account's records, so it is always
  dated ``ORIGIN``: the same time whichever record or file of the account arrives first. Every
  record is later, so configuration records in the input override it from their own event
  time on (DESIGN §9), and a replay and a worker fed the files in any order start from the same
  configuration at the same time. (The old rules — "just before the first record" — dated it
  by whichever record happened to come first, so a late early record landed *before* it.)
- A read that arrives after records (the worker's ``LOOPWATCH_INVENTORY=aws`` reads and
  refreshes) says what the configuration is now: it is dated at the newest event time seen, not
  at its wall-clock read time. The read time is ahead of every record by CloudTrail's delivery
  delay (minutes); dating there would move the account's clock ahead of its records and resolve
  quiet incidents early. Dated earlier, it would rewrite windows already measured. When such a
  read lands relative to the records depends on the wall clock, so it has no replay
  counterpart; replay's ``--inventory aws`` is read once, up front, and predates the logs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import TypeVar

from loopwatch.config import DetectionConfig
from loopwatch.detect.driver import Driver, Fed
from loopwatch.detect.engine import Engine
from loopwatch.detect.findings import Finding, LoopFinding, RunawayFinding, standing_runaways
from loopwatch.events.facts import Fact
from loopwatch.events.intake import (
    UNKNOWN_ACCOUNT,
    Counts,
    Intake,
    Keyed,
    Parsed,
    Taken,
    account_key,
    parse_batch,
)
from loopwatch.events.timerange import TimeRange

__all__ = [
    "ORIGIN",
    "UNKNOWN_ACCOUNT",
    "Account",
    "Configuration",
    "Router",
    "account_key",
    "configured_at",
]

ORIGIN = 0.0
"""When a snapshot that predates the logs is dated: the earliest event time the intake takes
(1970-01-01T00:00:00Z), before any real record, and still a time every reader parses."""

Configuration = Callable[[str, float], list[Fact]]
"""An inventory's configuration facts for an account, dated at a time
(``functools.partial(loopwatch.inventory.obtain.facts_for, snapshot)``)."""

Routed = tuple[str, Fact]
"""A fact and the account it belongs to: what replay keeps between its intake and its driver."""

A = TypeVar("A", bound="Account")
_LOOP_ORDER = attrgetter("first_seen", "incident")


def configured_at(event_time: float) -> float:
    """The time a configuration read applied at an account's ``event_time`` (its engine's
    clock; -inf before any fact) is dated at: the module doc's rule."""
    return event_time if event_time > ORIGIN else ORIGIN


def finding_time(finding: Finding) -> float:
    return finding.time if isinstance(finding, LoopFinding) else finding.detected_at


class Account:
    """One account's detector: its intake (dedupe), its engine and the driver that feeds it."""

    __slots__ = ("account", "engine", "intake")  # a worker holds thousands

    def __init__(
        self,
        account: str,
        config: DetectionConfig | None = None,
        *,
        time_range: TimeRange | None = None,
        engine: Engine | None = None,
        intake: Intake | None = None,
    ) -> None:
        """A new account, or (``engine``, ``intake``) one rebuilt from saved state."""
        self.account = account
        self.engine = engine if engine is not None else Engine(config)
        self.intake = intake if intake is not None else Intake(time_range=time_range)

    @property
    def driver(self) -> Driver:
        """The driver of its engine: it holds nothing else, so one is made at each use rather
        than kept with every account."""
        return Driver(self.engine)

    @classmethod
    def open(
        cls: type[A],
        account: str,
        config: DetectionConfig | None = None,
        *,
        configuration: Configuration | None = None,
        time_range: TimeRange | None = None,
    ) -> tuple[A, Fed]:
        """A new account, with the configuration that predates its records applied (dated
        ``ORIGIN``), and what that gave (findings are rare: a loop made of triggers only)."""
        opened = cls(account, config, time_range=time_range)
        fed = opened.configure(configuration) if configuration is not None else Fed()
        return opened, fed

    def configure(self, configuration: Configuration) -> Fed:
        """Apply a configuration read now, dated by the one rule (``configured_at``)."""
        return self.driver.feed(configuration(self.account, configured_at(self.engine.now)))

    def take(self, values: list[object], now: float) -> Taken:
        """Parse and deduplicate ``values`` (a message the worker holds in this account) as of
        wall-clock ``now``. A record that gives facts and names another account is rejected
        with the reason, as replay would have routed it elsewhere."""
        parsed = parse_batch(values, now)
        account = self.account
        if any(keyed[2] != account for keyed in parsed.keyed):
            parsed = _own(parsed, account)
        return self.intake.admit(parsed)

    def feed(self, facts: list[Fact]) -> Fed:
        return self.driver.feed(facts)


class Router:
    """Every account of a replay: records routed to their account's detector.

    Replay admits each parsed unit here in plan order (``admit``), keeps the routed facts
    (sorted and spilled by ``FactRuns``), feeds them back in event-time order (``feed``) and
    settles at the end; ``findings`` and ``loops`` merge the accounts' verdicts.
    """

    def __init__(
        self,
        config: DetectionConfig | None = None,
        *,
        configuration: Configuration | None = None,
        time_range: TimeRange | None = None,
    ) -> None:
        self.config = config
        self.configuration = configuration
        self.time_range = time_range
        self.accounts: dict[str, Account] = {}
        self.fed: dict[str, Fed] = {}
        """What each account's driver gave so far, in its own order."""

    def account(self, name: str) -> Account:
        """The detector of account ``name``, opened (with its inventory) on first use."""
        found = self.accounts.get(name)
        if found is None:
            found, fed = Account.open(
                name, self.config, configuration=self.configuration, time_range=self.time_range
            )
            self.accounts[name] = found
            self.fed[name] = fed
        return found

    def admit(self, parsed: Parsed) -> tuple[Taken, list[Routed]]:
        """Deduplicate one parsed unit, each record in its own account's intake. Returns the
        unit's counts and rejections (``Taken.facts`` stays empty) and its facts, each with
        its account, in input order within each account. Units must come in input order."""
        counts = Counts(parsed.read, 0, parsed.skipped, 0, parsed.malformed)
        taken = Taken(counts=counts, rejected=parsed.rejected)
        routed: list[Routed] = []
        if not parsed.keyed:
            return taken, routed
        by_account: dict[str, list[Keyed]] = {}
        for keyed in parsed.keyed:
            by_account.setdefault(keyed[2], []).append(keyed)
        for name, keyed_records in by_account.items():
            own = self.account(name).intake.admit(Parsed(0, 0, 0, keyed_records, {}))
            counts.add(own.counts)
            routed.extend((name, fact) for fact in own.facts)
        return taken, routed

    def feed(self, routed: Iterable[Routed]) -> None:
        """Apply facts in event-time order, each to its account's engine."""
        by_account: dict[str, list[Fact]] = {}
        for name, fact in routed:
            by_account.setdefault(name, []).append(fact)
        for name, facts in by_account.items():
            self.fed[name].add(self.account(name).feed(facts))

    def settle(self) -> None:
        """The input ended: measure every account's open second."""
        for name, account in self.accounts.items():
            self.fed[name].findings.extend(account.driver.settle())

    def findings(self) -> Iterator[Finding]:
        """Every account's findings, merged by event time (each account's in its own order)."""
        yield from heapq.merge(
            *(self.fed[name].findings for name in sorted(self.fed)), key=finding_time
        )

    def failed(self) -> Iterator[tuple[Fact, str]]:
        """The facts an engine could not take, account by account."""
        for name in sorted(self.fed):
            yield from self.fed[name].failed

    def loops(self) -> list[LoopFinding]:
        """Every account's incidents as they stand, by first seen then id."""
        return sorted(
            (
                incident.snapshot()
                for name in sorted(self.accounts)
                for incident in self.accounts[name].engine.incidents.incidents.values()
            ),
            key=_LOOP_ORDER,
        )

    def runaways(self) -> list[RunawayFinding]:
        return standing_runaways(self.findings())


def _own(parsed: Parsed, account: str) -> Parsed:
    """``parsed`` without the records of other accounts: each is malformed, rejected with
    a reason naming both accounts (and its ``eventID``, as the first of its kind)."""
    own: list[Keyed] = []
    rejected = dict(parsed.rejected)
    for keyed in parsed.keyed:
        other = keyed[2]
        if other == account:
            own.append(keyed)
            continue
        reason = (
            f"a record of account {other} in a message keyed {account}: applied to no"
            " account (a message key is no evidence of its records' account)"
        )
        count, first = rejected.get(reason, (0, {"eventID": keyed[0], "account": other}))
        rejected[reason] = (count + 1, first)
    dropped = len(parsed.keyed) - len(own)
    return Parsed(parsed.read, parsed.skipped, parsed.malformed + dropped, own, rejected)
