"""A small progress bar on stderr, shown only to a person watching a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

# Below this much input a replay is over before a bar would be worth drawing.
WORTH_SHOWING_BYTES = 20 * 1024 * 1024


class Progress:
    """Draws ``label [#####-----] 48% 12.0/25.0 MB`` in place; silent when not a terminal."""

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        force: bool = False,
        *,
        worth: int = WORTH_SHOWING_BYTES,
        unit: str = "MB",
    ):
        """``worth``: the least total worth a bar; ``unit``: "MB" (amounts are bytes) or a
        noun counted as it is (e.g. "messages")."""
        self._stream = stream if stream is not None else sys.stderr
        self._total = max(total, 1)
        self._label = label
        self._done = 0
        self._shown = -1
        self._unit = unit
        self.enabled = force or (self._stream.isatty() and total >= worth)

    def advance(self, amount: int) -> None:
        self._done += amount
        if not self.enabled:
            return
        percent = min(100, self._done * 100 // self._total)
        if percent == self._shown:
            return
        self._shown = percent
        self._draw()

    def note(self, line: str) -> None:
        """Write ``line`` above the bar (the bar is drawn again under it)."""
        if self.enabled and self._shown >= 0:
            self._stream.write("\r\033[K")
        self._stream.write(line + "\n")
        if self.enabled and self._shown >= 0:
            self._draw()
        self._stream.flush()

    def _draw(self) -> None:
        filled = self._shown * 30 // 100
        if self._unit == "MB":
            amount = f"{self._done / 1e6:.1f}/{self._total / 1e6:.1f} MB"
        else:
            amount = f"{self._done:,}/{self._total:,} {self._unit}"
        self._stream.write(
            f"\r{self._label} [{'#' * filled}{'-' * (30 - filled)}] {self._shown:3d}% {amount}"
        )
        self._stream.flush()

    def close(self) -> None:
        if self.enabled and self._shown >= 0:
            self._stream.write("\n")
            self._stream.flush()
