"""Throttle and release against the moto emulator, through real boto3 (no patched clients)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from loopwatch.actions import (
    JsonFileLedger,
    MemoryLedger,
    ThrottleConfig,
    Throttler,
    held,
    release,
    release_incident,
)
from loopwatch.actions import outcomes as o
from loopwatch.actions.aws import AwsFailure, call
from loopwatch.detect.findings import (
    ACTIVE,
    ESCALATED,
    LATENT,
    OPENED,
    RESOLVED,
    LoopFinding,
    RunawayFinding,
)
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.lambdas import (
    create_function,
    emulator_access,
    iam_enforced,
    reserved_concurrency,
    reset,
)

ACCOUNT = "123456789012"  # moto's default account


def fn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{name}"


def loop(
    *functions: str,
    incident: str = "inc-1",
    change: str = OPENED,
    status: str = ACTIVE,
    guarded: bool = False,
    unknown: tuple[str, ...] = (),
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = (),
    rates: tuple[tuple[str, float], ...] = (),
) -> LoopFinding:
    return LoopFinding(
        incident=incident,
        change=change,
        status=status,
        cycle=("arn:aws:s3:::uploads", *functions),
        functions=tuple(functions),
        first_seen=1000.0,
        detected_at=1009.0,
        time=1009.0,
        traversals=3,
        gain=1.0,
        guarded=guarded,
        explanation="function writes to the bucket that triggers it",
        fix="write somewhere else",
        unknown=unknown,
        mappings=mappings,
        rates=rates,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


@pytest.fixture
def aws(server: MotoServer) -> MotoServer:
    reset(server)
    return server


def throttler(aws: MotoServer, ledger: MemoryLedger | None = None, **config: object) -> Throttler:
    cfg = ThrottleConfig(**{"mode": "enforce", **config})  # type: ignore[arg-type]
    return Throttler(cfg, ledger or MemoryLedger(), emulator_access(aws), identity="loopwatch@test")


def test_enforce_sets_zero_and_release_restores_was_25(aws: MotoServer, tmp_path: object) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    ledger = JsonFileLedger(f"{tmp_path}/ledger.json")
    t = throttler(aws, ledger)

    report = t.throttle(loop(arn), ACCOUNT)

    assert [x.result for x in report.outcomes] == [o.THROTTLED]
    assert "was 25" in report.outcomes[0].reason
    assert reserved_concurrency(aws, arn) == 0
    (record,) = report.audit
    assert (record.action, record.previous, record.new, record.incident) == (
        "throttle",
        25,
        0,
        "inc-1",
    )
    assert record.who.startswith("loopwatch@test")
    assert record.to_json()["kind"] == "audit"
    # The hold is durable: a new process reading the file sees it.
    assert [h.previous for h in held(JsonFileLedger(f"{tmp_path}/ledger.json"))] == [25]

    undo = release("thumb", ledger, emulator_access(aws))

    assert undo.ok and undo.outcomes[0].result == o.RELEASED
    assert reserved_concurrency(aws, arn) == 25
    assert held(ledger) == []
    assert undo.audit[0].action == "release" and undo.audit[0].new == 25


def test_release_of_a_function_that_had_none_deletes_the_reserved_concurrency(
    aws: MotoServer,
) -> None:
    arn = create_function(aws, "resizer")
    ledger = MemoryLedger()
    report = throttler(aws, ledger).throttle(loop(arn), ACCOUNT)
    assert "had none" in report.outcomes[0].reason
    assert reserved_concurrency(aws, arn) == 0

    undo = release(arn, ledger, emulator_access(aws))

    assert undo.ok and "had none" in undo.outcomes[0].reason
    assert reserved_concurrency(aws, arn) is None  # deleted, not set to some number


def test_dry_run_changes_nothing_and_says_what_it_would_do(aws: MotoServer) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    ledger = MemoryLedger()

    report = throttler(aws, ledger, mode="dry-run").throttle(loop(arn), ACCOUNT)

    assert report.mode == "dry-run"
    (outcome,) = report.outcomes
    assert outcome.result == o.WOULD_THROTTLE
    assert "would set reserved concurrency 0 (was 25)" in outcome.reason
    assert reserved_concurrency(aws, arn) == 25
    assert held(ledger) == []


def test_mode_off_and_findings_that_call_for_no_throttle_touch_nothing(aws: MotoServer) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    assert throttler(aws, mode="off").throttle(loop(arn)).summary.startswith("throttling is off")
    t = throttler(aws)
    for finding in (
        loop(arn, status=LATENT),
        loop(arn, guarded=True),
        loop(arn, change=RESOLVED),
        RunawayFinding(arn, 1000.0, 900.0, 2.5, "growth"),
    ):
        report = t.throttle(finding)
        assert report.outcomes == () and report.summary.startswith("no throttle")
    assert reserved_concurrency(aws, arn) == 25


def test_an_unconfirmed_loop_is_never_throttled_even_in_enforce_mode(aws: MotoServer) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    guess = loop(arn, unknown=("the notification configuration of bucket uploads was never seen",))
    report = throttler(aws, mode="enforce").throttle(guess)
    assert report.outcomes == ()
    assert report.summary == (
        "no throttle: the loop is not confirmed: the notification configuration of bucket"
        " uploads was never seen"
    )
    assert reserved_concurrency(aws, arn) == 25


def test_protected_functions_are_untouched_and_the_outcome_says_so(aws: MotoServer) -> None:
    thumb = create_function(aws, "thumb", reserved=25)
    payments = create_function(aws, "payments-api", reserved=50)
    t = throttler(aws, protected=("payments-*",))

    report = t.throttle(loop(thumb, payments), ACCOUNT)

    by_name = {x.function: x for x in report.outcomes}
    assert by_name[payments].result == o.PROTECTED
    assert "payments-*" in by_name[payments].reason
    assert by_name[thumb].result == o.THROTTLED
    assert reserved_concurrency(aws, payments) == 50
    assert reserved_concurrency(aws, thumb) == 0


def test_protected_by_arn_pattern(aws: MotoServer) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    report = throttler(aws, protected=(f"arn:aws:lambda:*:{ACCOUNT}:function:*",)).throttle(
        loop(arn)
    )
    assert report.outcomes[0].result == o.PROTECTED
    assert reserved_concurrency(aws, arn) == 25


def test_throttling_is_idempotent_and_already_zero_is_recorded_as_held(aws: MotoServer) -> None:
    thumb = create_function(aws, "thumb", reserved=25)
    zero = create_function(aws, "stopped", reserved=0)
    ledger = MemoryLedger()
    t = throttler(aws, ledger)

    first = t.throttle(loop(thumb, zero), ACCOUNT)
    # Another incident through the same functions: each function is already held.
    again = t.throttle(loop(thumb, zero, incident="inc-2"), ACCOUNT)

    assert [x.result for x in first.outcomes] == [o.THROTTLED, o.HELD]
    assert "already 0" in first.outcomes[1].reason
    assert [x.result for x in again.outcomes] == [o.HELD, o.HELD]
    assert again.audit == ()  # nothing changed the second time
    assert {h.function: h.previous for h in held(ledger)} == {thumb: 25, zero: 0}
    # The first hold keeps the value from before loopwatch, not loopwatch's own 0.
    assert reserved_concurrency(aws, thumb) == 0
    release(thumb, ledger, emulator_access(aws))
    assert reserved_concurrency(aws, thumb) == 25


def test_an_incident_is_acted_on_once_even_after_its_release(aws: MotoServer) -> None:
    thumb = create_function(aws, "thumb-once", reserved=25)
    ledger = MemoryLedger()
    t = throttler(aws, ledger)

    assert [x.result for x in t.throttle(loop(thumb), ACCOUNT).outcomes] == [o.THROTTLED]
    repeat = t.throttle(loop(thumb, change=ESCALATED), ACCOUNT)
    assert repeat.outcomes == () and "already throttled this incident" in repeat.summary

    release(thumb, ledger, emulator_access(aws), identity="alice@desk")
    assert reserved_concurrency(aws, thumb) == 25
    after = t.throttle(loop(thumb), ACCOUNT)  # the same genuine finding, read again

    assert after.outcomes == () and after.audit == ()
    assert "released at" in after.summary and "alice@desk" in after.summary
    assert reserved_concurrency(aws, thumb) == 25
    # Another incident through the same function is new evidence: it is acted on.
    other = t.throttle(loop(thumb, incident="inc-other"), ACCOUNT)
    assert [x.result for x in other.outcomes] == [o.THROTTLED]
    assert reserved_concurrency(aws, thumb) == 0


def test_a_missing_function_gives_a_clear_reason(aws: MotoServer) -> None:
    ghost = fn("ghost")
    ledger = MemoryLedger()

    report = throttler(aws, ledger).throttle(loop(ghost), ACCOUNT)

    (outcome,) = report.outcomes
    assert outcome.result == o.FAILED
    assert (
        outcome.reason
        == f"ResourceNotFound: {ghost} does not exist (or not in this account and region)"
    )
    assert report.audit[0].result == o.FAILED
    assert held(ledger) == []


def test_the_hourly_budget_stops_the_next_throttle(aws: MotoServer) -> None:
    arns = [create_function(aws, f"f{i}", reserved=10) for i in range(3)]
    now = [10_000.0]
    t = Throttler(
        ThrottleConfig(mode="enforce", max_per_hour=2),
        MemoryLedger(),
        emulator_access(aws),
        clock=lambda: now[0],
    )

    results = [t.throttle(loop(a, incident=f"inc-{i}")).outcomes[0] for i, a in enumerate(arns)]

    assert [r.result for r in results] == [o.THROTTLED, o.THROTTLED, o.RATE_LIMITED]
    assert "2 throttles per hour" in results[2].reason
    assert reserved_concurrency(aws, arns[2]) == 10
    now[0] += 3601  # an hour later the budget is back
    assert t.throttle(loop(arns[2], incident="inc-9")).outcomes[0].result == o.THROTTLED


def test_highest_rate_policy_throttles_only_the_busiest(aws: MotoServer) -> None:
    slow = create_function(aws, "slow", reserved=5)
    busy = create_function(aws, "busy", reserved=5)
    rates = {slow: 10.0, busy: 900.0}

    finding = loop(slow, busy, rates=tuple(rates.items()))  # the rates come with the finding
    report = throttler(aws, policy="highest-rate").throttle(finding)

    assert {x.function: x.result for x in report.outcomes} == {
        slow: o.NOT_CHOSEN,
        busy: o.THROTTLED,
    }
    assert reserved_concurrency(aws, slow) == 5


def test_release_incident_and_an_unknown_function(aws: MotoServer) -> None:
    a = create_function(aws, "a", reserved=3)
    b = create_function(aws, "b")
    ledger = MemoryLedger()
    throttler(aws, ledger).throttle(loop(a, b, incident="inc-7"))

    report = release_incident("inc-7", ledger, emulator_access(aws))

    assert report.ok and len(report.outcomes) == 2
    assert (reserved_concurrency(aws, a), reserved_concurrency(aws, b)) == (3, None)
    nothing = release("a", ledger, emulator_access(aws))
    assert nothing.outcomes[0].result == o.NOT_HELD and not nothing.ok


def test_event_source_mappings_are_disabled_and_re_enabled(aws: MotoServer) -> None:
    arn = create_function(aws, "worker", reserved=4)
    queue = aws.client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    lam = aws.client("lambda")
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=arn)["UUID"]
    ledger = MemoryLedger()

    report = throttler(aws, ledger, disable_mappings=True).throttle(
        loop(arn, mappings=((arn, (uuid,)),))
    )

    assert report.outcomes[0].mappings == (uuid,)
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    assert [r.action for r in report.audit] == ["throttle", "disable-mapping"]
    release(arn, ledger, emulator_access(aws))
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
    assert reserved_concurrency(aws, arn) == 4


def test_cross_account_throttle_assumes_the_role_of_the_functions_account(aws: MotoServer) -> None:
    other = "222233334444"
    creds = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{other}:role/loopwatch-throttle", RoleSessionName="setup"
    )["Credentials"]
    arn = create_function(aws, "remote", reserved=7, credentials=creds)
    assert arn == fn("remote", other)
    access = emulator_access(aws, "arn:aws:iam::{account}:role/loopwatch-throttle")
    t = Throttler(ThrottleConfig(mode="enforce"), MemoryLedger(), access)

    report = t.throttle(loop(arn))

    assert report.outcomes[0].result == o.THROTTLED, report.outcomes[0].reason
    assert "assumed-role/loopwatch-throttle" in report.audit[0].who
    assert report.audit[0].account == other
    assert reserved_concurrency(aws, arn, credentials=creds) == 0


def _worker_user(aws: MotoServer, role_trusts: str) -> dict[str, str]:
    """An IAM user allowed sts:AssumeRole, and the throttle role whose trust names ``role_trusts``."""
    iam = aws.client("iam")
    iam.create_user(UserName="worker")
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="worker", PolicyName="assume", PolicyDocument=json.dumps(allow))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": role_trusts}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="loopwatch-throttle", AssumeRolePolicyDocument=json.dumps(trust))
    key: dict[str, str] = iam.create_access_key(UserName="worker")["AccessKey"]
    return key


def test_a_role_that_cannot_be_assumed_gives_a_clear_reason(aws: MotoServer) -> None:
    arn = create_function(aws, "thumb", reserved=25)
    key = _worker_user(aws, role_trusts=f"arn:aws:iam::{ACCOUNT}:user/someone-else")
    access = emulator_access(
        aws,
        "arn:aws:iam::{account}:role/loopwatch-throttle",
        access_key=key["AccessKeyId"],
        secret_key=key["SecretAccessKey"],
        token=None,
    )
    t = Throttler(ThrottleConfig(mode="enforce"), MemoryLedger(), access)

    with iam_enforced(aws):
        report = t.throttle(loop(arn))

    (outcome,) = report.outcomes
    assert outcome.result == o.FAILED
    assert outcome.reason.startswith(
        f"AccessDenied: cannot assume arn:aws:iam::{ACCOUNT}:role/loopwatch-throttle"
    )
    assert reserved_concurrency(aws, arn) == 25


def test_a_denied_lambda_call_names_the_missing_permission(aws: MotoServer) -> None:
    # moto's server cannot carry a whole throttle through IAM enforcement: it rejects every
    # signed GET to Lambda (GetFunctionConcurrency) with SignatureDoesNotMatch. PUT is checked
    # properly, so the denial below is moto's real answer to a principal without the permission.
    arn = create_function(aws, "thumb", reserved=25)
    iam = aws.client("iam")
    iam.create_user(UserName="reader")
    only_read = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:GetFunctionConcurrency", "Resource": "*"}
        ],
    }
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(only_read))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    lam = boto3.client(
        "lambda",
        endpoint_url=aws.endpoint_url,
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    with iam_enforced(aws), pytest.raises(AwsFailure) as failure:
        call(
            lambda: lam.put_function_concurrency(FunctionName=arn, ReservedConcurrentExecutions=0),
            "put_function_concurrency",
            arn,
            deadline=float("inf"),
        )

    assert str(failure.value) == f"AccessDenied: missing lambda:PutFunctionConcurrency on {arn}"
    assert isinstance(failure.value.__context__, ClientError)  # moto's own 403 answer
    assert reserved_concurrency(aws, arn) == 25
