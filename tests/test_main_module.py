"""``python -m loopwatch`` is the ``loopwatch`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loopwatch import __version__
from loopwatch.topology import resolve_topology, write_simulation


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    version = run_module("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"loopwatch {__version__}"
    write_simulation(resolve_topology("s3-self-loop"), tmp_path)
    found = run_module("replay", "--format", "dot", str(tmp_path))
    assert found.returncode == 1, found.stderr  # an active loop: exit 1 (DESIGN §7)
    assert found.stdout.startswith("digraph loopwatch {") and "closing write" in found.stdout
    usage = run_module("replay", "--format", "yaml", str(tmp_path))
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
