"""`loopwatch completion bash|zsh`: scripts generated from the parser, completing in a real bash."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loopwatch.cli import _parser, main


def commands() -> set[str]:
    return {
        name
        for action in _parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def complete_in_bash(script_path: Path, words: list[str]) -> set[str]:
    """What bash offers for the last of ``words``, with the script sourced, as at a prompt."""
    array = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {script_path}\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n"
        f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}\n'
        "_shtab_loopwatch\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return {line for line in done.stdout.splitlines() if line}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "loopwatch.bash"
    path.write_text(script("bash", capsys))
    assert complete_in_bash(path, ["loopwatch", ""]) >= commands()
    assert complete_in_bash(path, ["loopwatch", "re"]) == {"replay", "release"}
    assert complete_in_bash(path, ["loopwatch", "replay", "--format", ""]) == {
        "text",
        "json",
        "html",
        "dot",
    }
    assert complete_in_bash(path, ["loopwatch", "completion", ""]) == {"bash", "zsh"}
    assert "--web-port" in complete_in_bash(path, ["loopwatch", "up", "--"])


def test_zsh_script_is_a_compdef_naming_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = script("zsh", capsys)
    assert text.startswith("#compdef loopwatch\n")
    for command in commands():
        assert f"\n    {command}:'" in text, command
    zsh = shutil.which("zsh")
    if zsh is not None:  # a syntax check where zsh is installed
        path = tmp_path / "_loopwatch"
        path.write_text(text)
        subprocess.run([zsh, "-n", str(path)], check=True, timeout=20)


def test_an_unknown_shell_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["completion", "fish"])
    assert exit_.value.code == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err


def test_python_dash_m_loopwatch_prints_it_too() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loopwatch", "completion", "bash"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "complete -o bashdefault -F _shtab_loopwatch loopwatch" in done.stdout
