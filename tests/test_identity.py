"""Caller identities (DESIGN §4): confirmed function, presumed function, not a function."""

from __future__ import annotations

import orjson

from loopwatch.events.facts import Caller
from loopwatch.graph.identity import CONFIRMED, NOT_A_FUNCTION, PRESUMED, Identities

A, B = "111122223333", "444455556666"
EAST, WEST = "us-east-1", "eu-west-1"


def fn(name: str, account: str = A, region: str = EAST) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def role(name: str, account: str = A) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def caller(
    session: str, role_name: str, account: str = A, region: str = EAST, by: str | None = None
) -> Caller:
    return Caller(account, region, role_name, session, by)


def known(*functions: tuple[str, str | None]) -> Identities:
    ids = Identities()
    for function, role_arn in functions:
        ids.learn(function, role_arn)
    return ids


# --- confirmed --------------------------------------------------------------------------


def test_confirmed_when_session_and_role_are_the_functions() -> None:
    ids = known((fn("thumb"), role("thumb-role")))
    assert ids.resolve(caller("thumb", "thumb-role")) == (fn("thumb"), CONFIRMED)
    # The record's region is the called service's: a function of us-east-1 writing to
    # eu-west-1 is still that function.
    assert ids.resolve(caller("thumb", "thumb-role", region=WEST)) == (fn("thumb"), CONFIRMED)


def test_confirmed_when_the_role_belongs_to_exactly_one_known_function() -> None:
    ids = known((fn("thumb"), role("media/thumb-role")))  # a role path is not its name
    assert ids.resolve(caller("renamed-session", "thumb-role")) == (fn("thumb"), CONFIRMED)
    ids.learn(fn("resize"), role("thumb-role"))  # now shared: the role says nothing
    assert ids.resolve(caller("renamed-session", "thumb-role")) == (
        fn("renamed-session"),
        PRESUMED,
    )


def test_same_name_in_two_regions_picks_the_one_with_the_callers_role_then_region() -> None:
    ids = known((fn("sync", region=EAST), role("east-role")), (fn("sync", region=WEST), None))
    assert ids.resolve(caller("sync", "east-role", region=WEST)) == (fn("sync"), CONFIRMED)
    assert ids.resolve(caller("sync", "other", region=WEST)) == (
        fn("sync", region=WEST),
        PRESUMED,
    )


# --- not a function ---------------------------------------------------------------------


def test_known_function_name_under_another_role_is_not_that_function() -> None:
    """Lambda runs a function as its own role: someone else picked that session name."""
    ids = known((fn("thumb"), role("thumb-role")), (fn("resize"), role("resize-role")))
    assert ids.resolve(caller("thumb", "resize-role")) == (None, NOT_A_FUNCTION)
    assert ids.resolve(caller("thumb", "AdminRole")) == (None, NOT_A_FUNCTION)
    assert ids.function_of(caller("thumb", "AdminRole")) is None


def test_names_and_roles_never_match_across_accounts() -> None:
    ids = known((fn("thumb", account=A), role("thumb-role", A)))
    other = caller("thumb", "thumb-role", account=B)
    function, kind = ids.resolve(other)
    assert function != fn("thumb", account=A)
    # Not A's function; B's own function of that name, for all anyone knows of B...
    assert (function, kind) == (fn("thumb", account=B), PRESUMED)
    # ...until B's functions are known and thumb is not one of them.
    ids.know_all_functions(B, [fn("billing", account=B)])
    assert ids.resolve(other) == (None, NOT_A_FUNCTION)
    assert ids.resolve(caller("anything", "thumb-role", account=B)) == (None, NOT_A_FUNCTION)


def test_a_role_used_by_a_service_is_never_a_function() -> None:
    ids = known((fn("thumb"), role("thumb-role")))
    by_service = caller("thumb", "thumb-role", by="states.amazonaws.com")
    assert ids.resolve(by_service) == (None, NOT_A_FUNCTION)
    step_functions = caller(
        "qWkTzPbNcRyLmAsDfGhJuIoVeXnBtYcQ", "sfn-role", by="states.amazonaws.com"
    )
    assert ids.resolve(step_functions) == (None, NOT_A_FUNCTION)
    # "AWS Internal" is no service principal: the rule does not apply.
    assert ids.resolve(caller("thumb", "thumb-role", by="AWS Internal")) == (
        fn("thumb"),
        CONFIRMED,
    )


def test_service_sessions_instances_and_sdk_defaults_are_not_functions() -> None:
    ids = Identities()
    for session in (
        "awslambda_701_20201111224653900",
        "i-0ddf9acf8eeb33959",
        "botocore-session-1791208800",
        "aws-go-sdk-1791208800123456789",
        "aws-sdk-js-1791208800123",
        "1791208800123456789",
        "kevin.hakanson@example.com",
        "x" * 65,
    ):
        assert ids.resolve(caller(session, "SomeRole")) == (None, NOT_A_FUNCTION), session


def test_with_the_accounts_function_list_other_sessions_are_not_functions() -> None:
    """bob, jenkins and user-SomeRole look like function names; the inventory says no."""
    ids = Identities()
    for session in ("bob", "jenkins", "user-SomeRole"):
        assert ids.resolve(caller(session, "users")) == (fn(session), PRESUMED)
    ids.know_all_functions(A, [fn("thumb"), fn("resize")], {fn("thumb"): role("thumb-role")})
    for session in ("bob", "jenkins", "user-SomeRole"):
        assert ids.resolve(caller(session, "users")) == (None, NOT_A_FUNCTION)
    assert ids.resolve(caller("thumb", "thumb-role")) == (fn("thumb"), CONFIRMED)
    assert ids.resolve(caller("resize", "resize-role")) == (fn("resize"), PRESUMED)
    ids.learn(fn("fresh"), role("fresh-role"))  # a CreateFunction after the inventory
    assert ids.resolve(caller("fresh", "fresh-role")) == (fn("fresh"), CONFIRMED)
    assert ids.resolve(caller("bob", "users", account=B)) == (fn("bob", account=B), PRESUMED)


# --- presumed -----------------------------------------------------------------------------


def test_presumed_when_nothing_is_known_and_the_name_looks_like_a_function() -> None:
    ids = Identities()
    assert ids.resolve(caller("thumbnailer", "some-role", region=WEST)) == (
        fn("thumbnailer", region=WEST),
        PRESUMED,
    )


def test_presumed_when_the_function_is_known_but_not_its_role() -> None:
    ids = known((fn("thumb"), None))  # named by a trigger only
    assert ids.resolve(caller("thumb", "whatever")) == (fn("thumb"), PRESUMED)
    ids.learn(fn("thumb"), role("thumb-role"))
    assert ids.resolve(caller("thumb", "whatever")) == (None, NOT_A_FUNCTION)


def test_forget_and_knows() -> None:
    ids = known((fn("thumb"), role("thumb-role")))
    assert ids.knows(fn("thumb")) and not ids.knows(fn("thumb", account=B))
    ids.forget(fn("thumb"))
    assert not ids.knows(fn("thumb"))
    assert ids.resolve(caller("x-session", "thumb-role")) == (fn("x-session"), PRESUMED)


# --- state machines ------------------------------------------------------------------------

MACHINE = "arn:aws:states:us-east-1:111122223333:stateMachine:checkout"


def test_the_state_machine_behind_a_role() -> None:
    ids = Identities()
    ids.learn_state_machine(MACHINE, role("service-role/checkout-sfn"))
    assert ids.invoker_of("states.amazonaws.com", role("checkout-sfn")) == MACHINE
    assert ids.invoker_of("pipes.amazonaws.com", role("checkout-sfn")) is None
    assert ids.state_machine_of(role("checkout-sfn", B)) is None  # another account's role
    ids.learn_state_machine(MACHINE.replace("checkout", "refund"), role("checkout-sfn"))
    assert ids.state_machine_of(role("checkout-sfn")) is None  # shared: cannot tell


def test_a_state_machine_given_another_role_is_known_by_that_one_only() -> None:
    ids = Identities()
    refund = MACHINE.replace("checkout", "refund")
    ids.learn_state_machine(MACHINE, role("checkout-sfn"))
    ids.learn_state_machine(refund, role("checkout-sfn"))
    ids.learn_state_machine(refund, role("refund-sfn"))  # UpdateStateMachine: a role of its own
    assert ids.state_machine_of(role("checkout-sfn")) == MACHINE
    assert ids.state_machine_of(role("refund-sfn")) == refund
    again = Identities.from_state(orjson.loads(orjson.dumps(ids.to_state())))
    assert again.state_machine_of(role("checkout-sfn")) == MACHINE
    assert again.state_machine_of(role("refund-sfn")) == refund


# --- state -----------------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    ids = known((fn("thumb"), role("thumb-role")), (fn("idx", region=WEST), None))
    ids.know_all_functions(B, [fn("billing", account=B)])
    ids.learn_state_machine(MACHINE, role("sfn"))
    state = orjson.loads(orjson.dumps(ids.to_state()))
    again = Identities.from_state(state)
    assert again.to_state() == ids.to_state()
    for who in (
        caller("thumb", "thumb-role"),
        caller("idx", "r", region=WEST),
        caller("bob", "users", account=B),
        caller("bob", "users"),
    ):
        assert again.resolve(who) == ids.resolve(who)
    assert again.state_machine_of(role("sfn")) == MACHINE


def test_older_flat_state_is_still_read() -> None:
    old = {fn("thumb"): "role/thumb-role", fn("idx"): None}
    ids = Identities.from_state(old)
    assert ids.resolve(caller("thumb", "thumb-role")) == (fn("thumb"), CONFIRMED)
    assert ids.resolve(caller("idx", "any")) == (fn("idx"), PRESUMED)


def test_forgetting_one_of_two_same_named_functions_keeps_the_other() -> None:
    ids = known((fn("thumb"), role("thumb-role")), (fn("thumb", region=WEST), role("thumb-role")))
    assert ids.resolve(caller("thumb", "thumb-role")) == (fn("thumb"), CONFIRMED)
    ids.forget(fn("thumb"))
    assert ids.knows(fn("thumb", region=WEST)) and not ids.knows(fn("thumb"))
    assert ids.resolve(caller("thumb", "thumb-role")) == (fn("thumb", region=WEST), CONFIRMED)


def test_a_role_taken_by_two_functions_names_neither_and_a_role_given_up_names_none() -> None:
    ids = known((fn("a"), role("r1")), (fn("b"), role("r2")))
    assert ids.resolve(caller("x-session", "r1")) == (fn("a"), CONFIRMED)
    ids.learn(fn("a"), role("r2"))  # UpdateFunctionConfiguration: a moves to b's role
    assert ids.resolve(caller("x-session", "r2")) == (fn("x-session"), PRESUMED)
    assert ids.resolve(caller("x-session", "r1")) == (fn("x-session"), PRESUMED)
    ids.forget(fn("b"))
    assert ids.resolve(caller("x-session", "r2")) == (fn("a"), CONFIRMED)
