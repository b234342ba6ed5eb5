"""The protected list protects what people write: a JSON list, a qualified name or ARN, a
partial ARN; and a spelling that can protect nothing (``a;b``, ``a,,b``) is refused where it is
set, never left to throttle the function it meant to keep.

    LOOPWATCH_PROTECTED_FUNCTIONS ──list_items──► patterns ──function_pattern_problem──► refused
                                                      └──► protected_by(function) at throttle time
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from loopwatch.actions.targets import protected_by
from loopwatch.cli import main
from loopwatch.errors import describe
from loopwatch.events import arns
from loopwatch.settings import Settings, list_items
from loopwatch.settings_doc import effective
from loopwatch.testing.aws import REGION, MotoServer, moto_server
from loopwatch.testing.aws_env import point_at
from loopwatch.testing.lambdas import create_function, reserved_concurrency, reset
from loopwatch.testing.worker import settings_env
from loopwatch.topology import resolve_topology, write_simulation

ACCOUNT = "123456789012"  # moto's default account: the simulated functions are made there
VARIABLE = "LOOPWATCH_PROTECTED_FUNCTIONS"
PAYMENTS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payment-processor"

# Spellings people write for "never throttle payment-processor", each of which must protect it.
PROTECTING = {
    "json list": '["payment-processor"]',
    "json list of two": '["auth", "payment-processor"]',
    "name": "payment-processor",
    "alias": "payment-processor:prod",
    "$LATEST": "payment-processor:$LATEST",
    "version": "payment-processor:7",
    "qualified ARN": f"{PAYMENTS}:prod",
    "ARN at $LATEST": f"{PAYMENTS}:$LATEST",
    "partial ARN": f"{ACCOUNT}:function:payment-processor",
    "qualified partial ARN": f"{ACCOUNT}:function:payment-processor:3",
    "pattern with qualifier": "payment-*:prod",
    "items with spaces": " auth , payment-processor ",
}

# Spellings that can match no function, and the words the error line must hold.
REFUSED = {
    "semicolon": ("payment-processor;auth", "'payment-processor;auth'", "';'"),
    "empty item": ("payment-processor,,auth", "item 2 is empty", ""),
    "trailing comma": ("payment-processor,", "item 2 is empty", ""),
    "space inside": ("payment processor", "'payment processor'", "' '"),
    "quotes": ('"payment-processor"', "'\"payment-processor\"'", "'\"'"),
    "malformed JSON": ('["payment-processor"', "not a JSON list", ""),
    "JSON of numbers": ("[1, 2]", "not a JSON list of strings", ""),
    "JSON item empty": ('["payment-processor", ""]', "item 2 is empty", ""),
    "JSON item with a comma": ('["a,b"]', "'a,b'", "','"),
    "unclosed bracket": ("payment-[ab", "'payment-[ab'", "never closed"),
    "a dot": ("payment.processor", "'payment.processor'", "'.'"),
    "too long": ("p" * 65, "'" + "p" * 65 + "'", "at most 64 characters"),
    "no name": (f"{PAYMENTS.rsplit(':', 1)[0]}:", "missing", ""),
    "three parts": ("a:b:c", "'a:b:c'", "not a name"),
}


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env of the developer's, no protected list from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv("LOOPWATCH_ENV_FILE", raising=False)


def protected(text: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(VARIABLE, text)
    return Settings().protected_functions


# --- spellings ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", PROTECTING.values(), ids=PROTECTING.keys())
def test_each_spelling_protects_the_function_and_no_other(
    text: str, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    patterns = protected(text, monkeypatch)
    assert protected_by(PAYMENTS, patterns) is not None
    assert protected_by(f"{PAYMENTS}:prod", patterns) is not None  # a finding may qualify it
    assert protected_by(PAYMENTS.replace("payment-processor", "thumb"), patterns) is None
    # A spelling that names the account protects the function in that account only.
    elsewhere = protected_by(PAYMENTS.replace(ACCOUNT, "210987654321"), patterns)
    assert (elsewhere is None) == (ACCOUNT in text)


def test_a_qualified_arn_in_a_finding_is_its_function() -> None:
    for function in (f"{PAYMENTS}:prod", f"{PAYMENTS}:$LATEST", f"{PAYMENTS}:12"):
        assert protected_by(function, ["payment-processor"]) == "payment-processor"
        assert protected_by(function, [PAYMENTS]) == PAYMENTS
        # The qualifier is not the name: an alias called like a function protects nothing.
        assert protected_by(function, [function.rsplit(":", 1)[1]]) is None
    assert protected_by(PAYMENTS, ["payment"]) is None  # whole names, not prefixes


@pytest.mark.parametrize(("text", "item", "why"), REFUSED.values(), ids=REFUSED.keys())
def test_a_spelling_that_protects_nothing_is_refused_naming_the_item(
    text: str, item: str, why: str, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, text)
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = describe(caught.value)
    assert line is not None and "\n" not in line
    assert line.startswith(f"bad setting {VARIABLE}={text!r}: ")
    assert item in line and why in line


def test_the_other_lists_take_json_and_refuse_empty_items(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWATCH_INVENTORY_REGIONS", '["us-east-1", "eu-west-1"]')
    # A URL may hold a comma: a JSON list keeps it whole.
    monkeypatch.setenv("LOOPWATCH_ALERT_URLS", '["https://a.example/h?x=1,2"]')
    built = Settings()
    assert built.inventory_regions == ["us-east-1", "eu-west-1"]
    assert [u.get_secret_value() for u in built.alert_urls] == ["https://a.example/h?x=1,2"]
    monkeypatch.setenv("LOOPWATCH_INVENTORY_REGIONS", "us-east-1,,eu-west-1")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe(caught.value) == (
        "bad setting LOOPWATCH_INVENTORY_REGIONS='us-east-1,,eu-west-1': item 2 is empty;"
        " give a comma-separated list (or a JSON list of strings) (default (none))"
    )
    monkeypatch.setenv("LOOPWATCH_INVENTORY_REGIONS", "  ")  # compose's ${X:-}: no items
    assert Settings().inventory_regions == []


def test_config_shows_the_parsed_list(
    clean: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(VARIABLE, '[" auth", "payment-processor:prod"]')
    rows = {row.variable: row for row in effective()[1]}
    assert rows[VARIABLE].value == "auth,payment-processor:prod"
    assert main(["config"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(VARIABLE)]
    assert line.split()[1:] == ["auth,payment-processor:prod", "environment"]


def test_the_worker_helper_writes_lists_as_the_settings_document_them(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = Settings(
        protected_functions=["payment-processor", f"{PAYMENTS}:prod"],
        alert_urls=["https://a.example/h", "https://b.example/h"],  # type: ignore[list-item]
    )
    env = settings_env(built)
    assert env[VARIABLE] == f"payment-processor,{PAYMENTS}:prod"
    assert env["LOOPWATCH_ALERT_URLS"] == "https://a.example/h,https://b.example/h"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.protected_functions == built.protected_functions
    assert rebuilt.alert_urls == built.alert_urls


# --- the parser, for any text ---------------------------------------------------------------

# Text near the grammar: name characters, the separators and wildcards, and what breaks them.
_NEAR = st.lists(
    st.sampled_from([*"ab-_09:$*?[]!,; \"'\t", "LATEST", "arn", "function", "lambda"]),
    max_size=16,
).map("".join)


def refused(text: str) -> bool:
    try:
        items = list_items(text)
    except ValueError:
        return True
    return any(arns.function_pattern_problem(item) is not None for item in items)


@settings(max_examples=300)
@given(text=st.one_of(_NEAR, st.text(max_size=40), st.lists(_NEAR).map(json.dumps)))
def test_any_text_is_a_list_of_patterns_that_can_match_or_one_line_naming_the_setting(
    text: str,
) -> None:
    try:
        patterns = Settings(protected_functions=text).protected_functions  # type: ignore[arg-type]
    except ValidationError as exc:
        line = describe(exc)
        assert line is not None and "\n" not in line
        assert line.startswith(f"bad setting {VARIABLE}=")
        assert refused(text)  # by the parser or the grammar, nothing else
        return
    assert patterns == list_items(text)
    for pattern in patterns:
        assert pattern and pattern == pattern.strip()
        assert arns.function_pattern_problem(pattern) is None


@settings(max_examples=200)
@given(
    name=st.text(alphabet=st.sampled_from(list("abcXYZ019-_")), min_size=1, max_size=64),
    qualifier=st.one_of(
        st.none(), st.just("$LATEST"), st.from_regex(r"[a-z0-9_-]{1,20}", fullmatch=True)
    ),
    as_arn=st.booleans(),
)
def test_every_real_function_spelling_is_accepted_and_protects_its_function(
    name: str, qualifier: str | None, as_arn: bool
) -> None:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    spelt = (arn if as_arn else name) + (f":{qualifier}" if qualifier else "")
    assert list_items(json.dumps([spelt])) == list_items(spelt) == [spelt]
    assert arns.function_pattern_problem(spelt) is None
    assert protected_by(arn, [spelt]) == spelt
    assert protected_by(f"{arn}:{qualifier or '1'}", [spelt]) == spelt


# --- end to end: replay --act against the emulator ------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with moto_server() as aws:
        yield aws


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """planner ⇄ executor: two functions in one active, confirmed loop."""
    out = tmp_path_factory.mktemp("sim")
    write_simulation(resolve_topology("lambda-mutual-recursion"), out, account=ACCOUNT)
    return str(out)


PLANNER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:planner"
EXECUTOR = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:executor"
PROTECTING_PLANNER = {
    "json list": '["planner"]',
    "qualified ARN": f"{PLANNER}:prod",
    "name at $LATEST": "planner:$LATEST",
    "qualified partial ARN": f"{ACCOUNT}:function:planner:3",
    "alias and another": "auth, planner:live",
}


def emulated_loop(
    server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, protected: str
) -> None:
    """planner (reserved 40) and executor (25) in the emulator, AWS and the ledger pointed
    there, and the protected list set to ``protected``."""
    reset(server)
    assert create_function(server, "planner", reserved=40) == PLANNER
    assert create_function(server, "executor", reserved=25) == EXECUTOR
    point_at(server, monkeypatch)
    monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(tmp_path / "ledger.json"))
    monkeypatch.setenv(VARIABLE, protected)


@pytest.mark.parametrize("text", PROTECTING_PLANNER.values(), ids=PROTECTING_PLANNER.keys())
def test_replay_act_enforce_keeps_the_protected_function_and_throttles_the_other(
    text: str,
    logs: str,
    server: MotoServer,
    clean: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulated_loop(server, tmp_path, monkeypatch, protected=text)

    code = main(["replay", "--format", "json", "--act", "--throttle", "enforce", logs])

    captured = capsys.readouterr()
    assert code == 1, captured.err
    (loop,) = json.loads(captured.out)["loops"]
    assert set(loop["functions"]) == {PLANNER, EXECUTOR} and loop["confirmed"]
    assert reserved_concurrency(server, PLANNER) == 40  # protected: untouched
    assert reserved_concurrency(server, EXECUTOR) == 0  # same loop, unprotected: throttled
    assert "protected (matches" in captured.err


def test_replay_with_a_refused_list_exits_2_and_touches_nothing(
    logs: str,
    server: MotoServer,
    clean: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulated_loop(server, tmp_path, monkeypatch, protected="planner;auth")

    code = main(["replay", "--act", "--throttle", "enforce", logs])

    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"loopwatch replay: bad setting {VARIABLE}='planner;auth': ")
    assert reserved_concurrency(server, PLANNER) == 40
    assert reserved_concurrency(server, EXECUTOR) == 25
