"""``loopwatch demo``: a simulated S3 self-loop hidden in everyday CloudTrail traffic, found
by replay — the offline twin of ``make demo`` (``loopwatch up --simulate s3-self-loop``).

The loop is the built-in ``s3-self-loop`` topology; the background is the simulator's own
management-event noise (``loopwatch.topology.noise``: AssumeRole, Decrypt, Describe*, … by
users, roles and services) in the same files and minutes, so the replay has to pick the loop
out of traffic that looks like a real trail's. Nothing third-party ships with the package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TextIO

from loopwatch.render.terminal import text_style, wrap_line
from loopwatch.replay import replay
from loopwatch.report import Report
from loopwatch.topology import SimulationResult, resolve_topology, write_simulation

DEMO_TOPOLOGY = "s3-self-loop"
DEMO_NOISE = 3000
"""Background records: several times the loop's own, as in a real account's trail."""


def build_demo(out_dir: Path, noise: int = DEMO_NOISE) -> SimulationResult:
    """Write the demo's log files into ``out_dir``: the loop with ``noise`` records mixed in."""
    return write_simulation(resolve_topology(DEMO_TOPOLOGY), out_dir, noise=noise)


def demo_report() -> tuple[Report, SimulationResult]:
    with tempfile.TemporaryDirectory(prefix="loopwatch-demo-") as tmp:
        simulated = build_demo(Path(tmp))
        return replay([tmp]), simulated


def run_demo(out: TextIO) -> int:
    """Print the demo replay; 0 when the hidden loop was caught, 1 if not."""
    report, simulated = demo_report()
    style = text_style(out)
    intro = (
        f"Replaying {simulated.records:,} CloudTrail records in {len(simulated.files)} log files:"
        f" {simulated.noise:,} of everyday management traffic, with a simulated S3 self-loop"
        f" ({simulated.records - simulated.noise:,} records) hidden among them..."
    )
    out.write("\n".join(wrap_line(intro, style.width)) + "\n\n")
    out.write(report.to_text(width=style.width, color=style.color) + "\n")
    caught = any(loop.status == "active" for loop in report.loops)
    if caught:
        out.write("\nThe loop was caught by its 3rd traversal. Try: loopwatch replay --help\n")
    return 0 if caught else 1
