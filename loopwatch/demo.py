"""``loopwatch demo``: a simulated S3 self-loop hidden in real CloudTrail logs, found by replay.

The background is 55 real CloudTrail files (invictus-ir/aws_dataset, MIT, bundled gzipped);
the loop is the built-in ``s3-self-loop`` topology, simulated into the same account and placed
inside the same hour, so the replay has to pick it out of real traffic.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from loopwatch.replay import replay
from loopwatch.report import Report
from loopwatch.topology import SimulationResult, resolve_topology, write_simulation
from loopwatch.topology.writer import background_placement

DEMO_TOPOLOGY = "s3-self-loop"


def background_dir() -> Path:
    """The bundled real CloudTrail logs (gzip), with their licence beside them."""
    return Path(__file__).parent / "examples" / "cloudtrail-invictus"


def build_demo(out_dir: Path, background: Path | None = None) -> SimulationResult:
    """Simulate the demo loop into ``out_dir``, inside the account and time range of the logs."""
    background = background or background_dir()
    account, first, last = background_placement(sorted(background.glob("*.json*")))
    start = first + (last - first) / 2 - timedelta(minutes=1)
    return write_simulation(resolve_topology(DEMO_TOPOLOGY), out_dir, start=start, account=account)


def demo_report() -> tuple[Report, SimulationResult]:
    with tempfile.TemporaryDirectory(prefix="loopwatch-demo-") as tmp:
        simulated = build_demo(Path(tmp))
        return replay([str(background_dir()), tmp]), simulated


def run_demo(out: TextIO) -> int:
    """Print the demo replay; 0 when the hidden loop was caught, 1 if not."""
    report, simulated = demo_report()
    out.write(
        f"Replaying {len(list(background_dir().glob('*.json.gz')))} real CloudTrail log files with a"
        f" simulated S3 self-loop ({simulated.records:,} records) hidden among them...\n\n"
    )
    out.write(report.to_text() + "\n")
    caught = any(loop.status == "active" for loop in report.loops)
    if caught:
        out.write("\nThe loop was caught by its 3rd traversal. Try: loopwatch replay --help\n")
    return 0 if caught else 1
