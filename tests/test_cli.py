"""The ``loopwatch`` command line: the JSON contract and exit codes of DESIGN §7."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.testing import records as r
from loopwatch.testing.data import invictus_dir


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def loop_dir(tmp_path: Path) -> Path:
    r.write_log(tmp_path / "loop.json.gz", r.s3_self_loop(writes=4))
    return tmp_path


@pytest.fixture
def latent_dir(tmp_path: Path) -> Path:
    r.write_log(tmp_path / "latent.json", r.s3_self_loop(writes=1))
    return tmp_path


def test_json_document_matches_the_contract(
    loop_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["replay", "--format", "json", str(loop_dir)], capsys)
    doc = orjson.loads(out)
    assert code == 1
    assert set(doc) == {"records", "errors", "loops", "runaway"}
    assert doc["records"] == {
        "read": 6,
        "used": 6,
        "skipped": 0,
        "duplicates": 0,
        "malformed": 0,
        "truncated": 0,
    }
    (loop,) = doc["loops"]
    assert {
        "id",
        "status",
        "cycle",
        "functions",
        "first_seen",
        "detected_at",
        "traversals",
        "explanation",
        "fix",
    } <= set(loop)
    assert loop["status"] == "active"
    assert loop["cycle"] == ["arn:aws:s3:::uploads", r.function_arn("thumb")]
    assert loop["first_seen"] == r.at(10) and loop["detected_at"] == r.at(12)
    assert loop["traversals"] == 4


@pytest.mark.parametrize(
    ("fixture", "fail_on", "expected"),
    [
        ("loop_dir", "active", 1),
        ("loop_dir", "never", 0),
        ("latent_dir", "active", 0),
        ("latent_dir", "latent", 1),
    ],
)
def test_exit_status_follows_fail_on(
    fixture: str,
    fail_on: str,
    expected: int,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = request.getfixturevalue(fixture)
    code, out, _ = run(["replay", "--fail-on", fail_on, str(folder)], capsys)
    assert code == expected
    assert ("ACTIVE" in out) == (fixture == "loop_dir")


def test_text_report_draws_the_loop(loop_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["replay", str(loop_dir)], capsys)
    assert "ACTIVE  bucket uploads → function thumb → bucket uploads" in out
    assert f"caught    {r.at(12)}" in out
    assert "fix" in out and "incoming/" in out


def test_missing_source_and_bad_usage_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["replay", str(tmp_path / "nope")], capsys)
    assert code == 2 and "nope" in err
    with pytest.raises(SystemExit) as usage:
        main(["replay", "--format", "yaml", str(tmp_path)])
    assert usage.value.code == 2


def test_bad_files_inside_a_readable_source_do_not_change_the_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "garbage.json").write_bytes(b"\x00\x01 not json")
    code, out, _ = run(["replay", "--format", "json", str(tmp_path)], capsys)
    doc = orjson.loads(out)
    assert (
        code == 0
        and len(doc["errors"]) == 1
        and doc["errors"][0]["source"].endswith("garbage.json")
    )


def test_console_script_reads_stdin(tmp_path: Path) -> None:
    lines = b"\n".join(orjson.dumps(x) for x in r.s3_self_loop(writes=3))
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch.cli", "replay", "--format", "json", "-"],
        input=lines,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert orjson.loads(done.stdout)["loops"][0]["status"] == "active"


def test_invictus_through_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["replay", str(invictus_dir(__file__))], capsys)
    assert code == 0 and "Read 2,900 records" in out and "No loop found." in out


def test_progress_bar_draws_to_a_terminal_only() -> None:
    from loopwatch.progress import Progress

    quiet = io.StringIO()
    Progress(10**9, "replay", stream=quiet).advance(10**8)
    assert quiet.getvalue() == ""  # not a terminal
    shown = io.StringIO()
    bar = Progress(200, "replay", stream=shown, force=True)
    bar.advance(100)
    bar.close()
    assert " 50%" in shown.getvalue() and shown.getvalue().endswith("\n")
