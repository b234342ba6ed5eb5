"""A value someone set by hand while loopwatch held a function is theirs: `release` leaves it
(exit 1) unless --force, and a new loop throttles again over it. Against the moto emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopwatch.actions import JsonFileLedger, ThrottleConfig, Throttler
from loopwatch.actions import outcomes as o
from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE, OPENED, LoopFinding
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.lambdas import create_function, emulator_access, reserved_concurrency, reset

ACCOUNT = "123456789012"
THUMB = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumb"


def loop(incident: str) -> LoopFinding:
    return LoopFinding(
        incident, OPENED, ACTIVE, ("arn:aws:s3:::uploads", THUMB), (THUMB,), 1000.0, 1009.0,
        1009.0, 3, 1.0, False, "thumb writes to uploads, which invokes it", "write elsewhere",
    )  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


@pytest.fixture
def ledger(server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JsonFileLedger:
    """`thumb` (reserved 25) throttled by loopwatch in enforce mode; the CLI's environment
    pointed at the emulator and at that ledger file."""
    reset(server)
    create_function(server, "thumb", reserved=25)
    point_at(server, monkeypatch)
    monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(tmp_path / "ledger.json"))
    monkeypatch.delenv("LOOPWATCH_KAFKA_BROKER", raising=False)
    ledger = JsonFileLedger(tmp_path / "ledger.json")
    report = throttler(server, ledger).throttle(loop("inc-1"), ACCOUNT)
    assert [x.result for x in report.outcomes] == [o.THROTTLED]
    assert reserved_concurrency(server, THUMB) == 0
    return ledger


def throttler(server: MotoServer, ledger: JsonFileLedger) -> Throttler:
    return Throttler(ThrottleConfig(mode="enforce"), ledger, emulator_access(server))


def test_release_leaves_a_value_set_by_hand_unless_forced(
    server: MotoServer, ledger: JsonFileLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    server.client("lambda").put_function_concurrency(
        FunctionName="thumb", ReservedConcurrentExecutions=50
    )

    assert main(["release", "thumb"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"changed {THUMB}: not restored, still held:")
    assert "reserved concurrency is 50, not the 0 loopwatch set" in err
    assert "`loopwatch release --force` sets it back to 25" in err
    assert reserved_concurrency(server, THUMB) == 50
    assert [h.previous for h in ledger.holds()] == [25]  # kept, so --force can still restore

    assert main(["release", "--force", "thumb"]) == 0
    assert capsys.readouterr().out == f"released {THUMB}: reserved concurrency restored to 25\n"
    assert reserved_concurrency(server, THUMB) == 25
    assert ledger.holds() == []


def test_concurrency_removed_by_hand_counts_as_changed_too(
    server: MotoServer, ledger: JsonFileLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    server.client("lambda").delete_function_concurrency(FunctionName="thumb")

    assert main(["release", "--incident", "inc-1"]) == 1
    assert "its reserved concurrency is none, not the 0" in capsys.readouterr().err
    assert reserved_concurrency(server, THUMB) is None


def test_a_hold_undone_by_hand_does_not_leave_a_new_loop_running(
    server: MotoServer, ledger: JsonFileLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    server.client("lambda").put_function_concurrency(
        FunctionName="thumb", ReservedConcurrentExecutions=50
    )

    report = throttler(server, ledger).throttle(loop("inc-2"), ACCOUNT)

    (outcome,) = report.outcomes
    assert (outcome.result, outcome.previous) == (o.THROTTLED, 50)
    assert "(was 50; loopwatch's hold since" in outcome.reason
    assert "was undone by hand" in outcome.reason
    assert reserved_concurrency(server, THUMB) == 0
    assert [(h.incident, h.previous) for h in ledger.holds()] == [("inc-2", 50)]
    assert main(["release", "thumb"]) == 0
    assert reserved_concurrency(server, THUMB) == 50  # what the person had set


def test_release_without_the_state_secret_restores_but_publishes_nothing_unsigned(
    server: MotoServer,
    ledger: JsonFileLedger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing listens there: a publish attempt would fail with another warning.
    monkeypatch.setenv("LOOPWATCH_KAFKA_BROKER", "127.0.0.1:1")
    monkeypatch.delenv("LOOPWATCH_STATE_SECRET", raising=False)

    assert main(["release", "thumb"]) == 0

    assert reserved_concurrency(server, THUMB) == 25
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("loopwatch release: warning: audit record not written to")
    assert "LOOPWATCH_STATE_SECRET is not set" in warning
