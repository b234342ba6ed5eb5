"""Text for a terminal: names escaped, lines wrapped under their field, statuses in colour.

    "  why       bucket uploads triggers function thumb through an S3 notification on …"
    "            …continued under the field, never through an ARN"

Every name in loopwatch's text comes from a record, and whoever made the call chose it: an S3
key or a function name can hold ESC, OSC (``\x1b]0;title\x07`` sets the window title), CSI
(``\x1b[2J`` clears the screen) or their C1 forms (``\x9b``). ``printable`` writes every such
character as its escape (``\x1b``), and every text output goes through it: the replay report,
``--act`` lines, ``loopwatch actions`` and ``release``, ``up`` and ``ship`` lines, error lines
and the logs (``loopwatch.logs``), as the HTML and DOT outputs escape their markup.

Colour only goes to a terminal, and never when ``NO_COLOR`` is set (no-color.org); anything
else (a pipe, a file, a test) gets plain text wrapped at 100 columns.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import textwrap
from dataclasses import dataclass
from typing import TextIO

PLAIN_WIDTH = 100
MIN_TEXT = 20
"""Columns a continuation keeps for text however deep its field is indented."""

# C0 controls, DEL and C1 controls (a terminal obeys each), and the bidirectional overrides and
# isolates, which make a terminal show text in an order other than the one it has.
_CONTROLS = (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@functools.cache
def _escapes(keep: str) -> dict[int, str]:
    return {
        code: _SHORT.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        for code in _CONTROLS
        if chr(code) not in keep
    }


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every control character (C0, DEL, C1) and bidirectional override written
    as its Python escape (``\x1b``, ``\x9b``, ``\n``, ``\u202e``), so that it shows as what it is
    and does nothing to the terminal; but for the characters in ``keep`` (``"\n"`` for a
    traceback's lines). Everything else, non-ASCII names included, is left as it is."""
    return text.translate(_escapes(keep))


_FIELD = re.compile(r"^(\s*\S+ {2,})\S")
_STATUS = re.compile(r"^(ACTIVE|LATENT)(?=  )")
_ANSI = {"ACTIVE": "\x1b[1;31m", "LATENT": "\x1b[1;33m"}
_RESET = "\x1b[0m"


@dataclass(frozen=True, slots=True)
class TextStyle:
    width: int
    color: bool


def text_style(stream: TextIO) -> TextStyle:
    """How to write text to ``stream``: the terminal's width and colour, or plain 100 columns."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        tty = False
    if not tty:
        return TextStyle(PLAIN_WIDTH, color=False)
    width = shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns
    return TextStyle(width, color="NO_COLOR" not in os.environ)


def wrap_line(line: str, width: int) -> list[str]:
    """``line`` in lines of at most ``width`` columns where its words allow (an ARN or a path
    longer than that stays whole, so it can still be copied), continuations indented under
    the field (``"  why       "``) or two columns in when there is no field."""
    if len(line) <= width:
        return [line]
    field = _FIELD.match(line)
    if field:
        head, indent = field.group(1), " " * len(field.group(1))
    else:
        head = line[: len(line) - len(line.lstrip())]
        indent = head + "  "
    wrapper = textwrap.TextWrapper(
        width=max(width, len(indent) + MIN_TEXT),
        initial_indent=head,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(line[len(head) :]) or [line]


def paint_status(line: str) -> str:
    """A loop's heading with its status in colour (ACTIVE red, LATENT yellow)."""
    return _STATUS.sub(lambda m: f"{_ANSI[m.group(1)]}{m.group(1)}{_RESET}", line, count=1)
