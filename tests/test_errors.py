"""Mistakes of usage and setup end in one line naming the cause and the fix, and exit 2.

Exit 1 means "a loop was found" (DESIGN §7): a closed broker port, a bad setting, a busy web
port, an unknown topology, missing or expired AWS credentials and sources without a log file
must never look like it, and never print a traceback. Commands that start Faust or configure
logging (``worker``, ``up``) run as the console script in a subprocess; the others through
``main`` in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from loopwatch.actions.ledger import Hold, JsonFileLedger
from loopwatch.cli import main
from loopwatch.errors import describe
from loopwatch.testing import records as r
from loopwatch.testing.aws import (
    CREDENTIAL_VARIABLES,
    DUMMY,
    credential_free_environment,
    rejecting_aws,
)
from loopwatch.testing.ports import closed_port, occupied_port

SUBPROCESS_TIMEOUT = 40.0
FUNCTION = r.function_arn("thumb")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def run_console(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float]:
    """``python -m loopwatch ARGS`` with ``env`` added; exit status, stdout, stderr, seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", *args],
        env={**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def loop_dir(tmp_path: Path) -> Path:
    r.write_log(tmp_path / "logs" / "loop.json.gz", r.s3_self_loop(writes=4))
    return tmp_path / "logs"


# --- the broker -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["worker"], ["up"], ["init-topics"], ["ship", "LOGS"]], ids=lambda a: a[0]
)
def test_an_unreachable_broker_is_one_line_and_exit_2(
    args: list[str], loop_dir: Path, tmp_path: Path
) -> None:
    port = closed_port()
    argv = [str(loop_dir) if a == "LOGS" else a for a in args]
    env = {"LOOPWATCH_KAFKA_BROKER": f"127.0.0.1:{port}", "LOOPWATCH_DATA_DIR": str(tmp_path)}
    code, _, err, took = run_console(argv, env, tmp_path)
    line = one_line(err)
    assert code == 2, err
    assert line.startswith(f"loopwatch {args[0]}: no Kafka broker answers at 127.0.0.1:{port}")
    assert "connection refused" in line and "LOOPWATCH_KAFKA_BROKER" in line
    assert took < 20, f"took {took:.1f} s to say the broker is not there"


# --- settings -------------------------------------------------------------------------------

COMMANDS_WITH_SETTINGS = [
    ["replay", "LOGS"],
    ["ship", "LOGS"],
    ["init-topics"],
    ["worker"],
    ["up"],
    ["release", FUNCTION],
    ["actions"],
    ["inventory", "--region", "us-east-1"],
    ["config"],
]


@pytest.mark.parametrize("args", COMMANDS_WITH_SETTINGS, ids=lambda a: a[0])
@pytest.mark.parametrize(
    ("variable", "value", "valid"),
    [
        ("LOOPWATCH_ACTIVE_AFTER", "zero", "give an integer >= 1 (default 3)"),
        ("LOOPWATCH_WEB_PORT", "abc", "give an integer >= 0 and <= 65535 (default 6066)"),
    ],
)
def test_a_bad_setting_names_the_variable_and_what_is_valid(
    args: list[str],
    variable: str,
    value: str,
    valid: str,
    loop_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("LOOPWATCH_KAFKA_BROKER", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv(variable, value)
    argv = [str(loop_dir) if a == "LOGS" else a for a in args]
    code, _, err = run_cli(argv, capsys)
    line = one_line(err)
    assert code == 2
    assert line == (
        f"loopwatch {args[0]}: bad setting {variable}={value!r}: input should be a valid"
        f" integer, unable to parse string as an integer; {valid}"
    )


@pytest.mark.parametrize("args", COMMANDS_WITH_SETTINGS, ids=lambda a: a[0])
def test_a_protected_list_that_protects_nothing_is_refused_by_every_command(
    args: list[str],
    loop_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOOPWATCH_KAFKA_BROKER", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("LOOPWATCH_PROTECTED_FUNCTIONS", "payment-processor;auth")
    argv = [str(loop_dir) if a == "LOGS" else a for a in args]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert one_line(err).startswith(
        f"loopwatch {args[0]}: bad setting LOOPWATCH_PROTECTED_FUNCTIONS='payment-processor;auth':"
        " 'payment-processor;auth' can match no function: ';' is in no function name or ARN"
    )


def test_a_setting_out_of_range_says_the_range(
    loop_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOOPWATCH_THROTTLE_MODE", "yes")
    code, _, err = run_cli(["replay", str(loop_dir)], capsys)
    assert code == 2
    assert one_line(err).endswith(
        "bad setting LOOPWATCH_THROTTLE_MODE='yes': input should be 'off', 'dry-run' or"
        " 'enforce'; give one of off, dry-run, enforce (default dry-run)"
    )


# --- the web port ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["worker", "up"])
def test_a_busy_web_port_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    with occupied_port() as port:
        # The port is checked before the broker: no broker is needed to see it.
        env = {
            "LOOPWATCH_KAFKA_BROKER": f"127.0.0.1:{closed_port()}",
            "LOOPWATCH_WEB_PORT": str(port),
            "LOOPWATCH_DATA_DIR": str(tmp_path),
        }
        code, _, err, _ = run_console([command], env, tmp_path)
    assert code == 2, err
    assert one_line(err).startswith(
        f"loopwatch {command}: port {port} on 127.0.0.1 is already in use"
    )
    assert "LOOPWATCH_WEB_PORT" in err


def test_up_web_port_option_is_the_port_checked(tmp_path: Path) -> None:
    with occupied_port() as port:
        env = {"LOOPWATCH_WEB_PORT": "6066", "LOOPWATCH_DATA_DIR": str(tmp_path)}
        code, _, err, _ = run_console(["up", "--web-port", str(port)], env, tmp_path)
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in one_line(err)


def test_up_web_port_must_be_a_port(tmp_path: Path) -> None:
    code, _, err, _ = run_console(["up", "--web-port", "70000"], {}, tmp_path)
    assert code == 2 and "70000 is not a port number (0-65535)" in err


# --- topologies -----------------------------------------------------------------------------


def test_up_with_an_unknown_topology_lists_the_known_ones(tmp_path: Path) -> None:
    # Said before any broker starts: with none configured, `up` would start the bundled one.
    env = {"LOOPWATCH_DATA_DIR": str(tmp_path)}
    code, out, err, _ = run_console(["up", "--simulate", "nope"], env, tmp_path)
    line = one_line(err)
    assert code == 2
    assert line.startswith("loopwatch up: nope: no such file or built-in topology (built-in: ")
    assert "s3-self-loop" in line and "sqs-loop" in line
    assert "broker" not in out


# --- AWS credentials ------------------------------------------------------------------------


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in credential_free_environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    # boto3's default session keeps the credentials it first found: an earlier test's would
    # still be there (a command runs once per process, where this cannot happen).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def ledger_with_a_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.json"
    JsonFileLedger(path).put(Hold(FUNCTION, r.ACCOUNT, "incident-1", 5, since=1.0, by="a test"))
    monkeypatch.setenv("LOOPWATCH_LEDGER_PATH", str(path))
    return path


def credential_commands(loop_dir: Path) -> list[list[str]]:
    return [
        ["replay", "s3://trail-bucket/AWSLogs/"],
        ["replay", "--act", "--throttle", "enforce", str(loop_dir)],
        ["release", FUNCTION],
        ["inventory", "--region", "us-east-1"],
    ]


@pytest.mark.parametrize(
    "which", range(4), ids=["replay-s3", "replay-enforce", "release", "inventory"]
)
def test_no_aws_credentials_is_one_line_and_exit_2(
    which: int,
    no_credentials: None,
    ledger_with_a_hold: Path,
    loop_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = credential_commands(loop_dir)[which]
    before = ledger_with_a_hold.read_bytes()
    code, out, err = run_cli(args, capsys)
    line = one_line(err)
    assert code == 2
    assert line.startswith(f"loopwatch {args[0]}: ")
    assert "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and" in line
    assert ledger_with_a_hold.read_bytes() == before  # nothing was throttled or released
    assert out == ""


@pytest.mark.parametrize(
    "which", range(4), ids=["replay-s3", "replay-enforce", "release", "inventory"]
)
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ExpiredToken", "The security token included in the request is expired"),
        ("InvalidClientTokenId", "The security token included in the request is invalid."),
    ],
)
def test_expired_or_invalid_credentials_are_one_line_and_exit_2(
    which: int,
    code: str,
    message: str,
    no_credentials: None,
    ledger_with_a_hold: Path,
    loop_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = credential_commands(loop_dir)[which]
    with rejecting_aws(code, message) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY)
        monkeypatch.setenv("AWS_SESSION_TOKEN", DUMMY)
        status, _, err = run_cli(args, capsys)
    line = one_line(err)
    assert status == 2
    assert line.startswith(f"loopwatch {args[0]}: ")
    assert f"AWS rejected the credentials ({code}: {message})" in line
    assert "refresh or replace them" in line


def test_an_s3_source_names_its_url_with_the_credentials_problem(
    no_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["replay", "s3://trail-bucket/AWSLogs/"], capsys)
    assert code == 2
    assert one_line(err).startswith(
        "loopwatch replay: s3://trail-bucket/AWSLogs/: no AWS credentials"
    )


# --- sources without a log file -------------------------------------------------------------


@pytest.mark.parametrize("contents", [{}, {"notes.txt": "hello", "sub/readme.txt": "x"}])
def test_sources_without_a_log_file_exit_2(
    contents: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    code, out, err = run_cli(["replay", "--format", "json", str(folder)], capsys)
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"loopwatch replay: no log file in {folder}: loopwatch reads .json, .json.gz, .jsonl,"
        " .jsonl.gz files (folders are walked); name the folder that holds the AWSLogs/ tree"
    )


def test_an_empty_folder_beside_a_log_folder_is_no_error(
    loop_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["replay", str(empty), str(loop_dir)], capsys)
    assert code == 1, err  # the loop in loop_dir, found
    assert "no log file" not in err


# --- the mapping itself ---------------------------------------------------------------------


def test_a_bug_is_not_described_and_keeps_its_traceback() -> None:
    assert describe(RuntimeError("a bug")) is None
    assert describe(KeyError("x")) is None
