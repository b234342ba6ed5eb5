"""Shell completion for ``loopwatch``, generated from its own argparse parser (shtab).

    loopwatch completion bash  ──► a bash script: eval it, or source it from ~/.bashrc
    loopwatch completion zsh   ──► a #compdef file for a folder on $fpath

Generated, not written by hand, so a new command or option completes the day it is added.
Arguments that name files (SOURCE, --out FILE, a topology) complete file names; the rest
complete their choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

SHELLS = ("bash", "zsh")
# Destinations whose values are paths on this machine.
_PATHS = {"sources", "out", "topology", "simulate"}


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell`` (bash or zsh)."""
    import shtab

    if shell not in SHELLS:
        raise ValueError(f"no completion for {shell!r}: choose one of {', '.join(SHELLS)}")
    for action in _actions(parser):
        if action.dest in _PATHS:
            # shtab reads this attribute off the action; argparse.Action does not declare it.
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    text: str = shtab.complete(parser, shell=shell)
    return text if text.endswith("\n") else text + "\n"


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
