"""A real headless Chromium, driven from its command line, to look at rendered pages.

    chromium_binary()                       → path, or None (tests skip)
    dump_dom(url, profile)                  → the DOM after the page rendered
    screenshot(url, png, profile)           → a PNG of a 1200x900 window

Each run is bounded by ``timeout`` seconds and runs in its own process group, which is killed
when the run ends, so no renderer or zygote outlives a test. No flag opens a port, and the
background networking, updates and sync that a browser does by itself are switched off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

BINARIES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1200, 900)
_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    """Chromium failed, or did not finish in time."""


def chromium_binary() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def dump_dom(url: str, profile: Path, *, timeout: float = 60.0) -> str:
    return _run(["--dump-dom", url], profile, timeout).decode()


def screenshot(url: str, png: Path, profile: Path, *, timeout: float = 60.0) -> bytes:
    """Write a screenshot of ``url`` to ``png`` and return its bytes."""
    w, h = WINDOW
    _run([f"--screenshot={png}", f"--window-size={w},{h}", url], profile, timeout)
    if not png.exists():
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png.read_bytes()


def _run(args: list[str], profile: Path, timeout: float) -> bytes:
    binary = chromium_binary()
    if binary is None:
        raise BrowserError("no chromium binary on PATH")
    proc = subprocess.Popen(
        [binary, *_FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so its helpers die with it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BrowserError(f"chromium took more than {timeout:g}s") from exc
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited {proc.returncode}: {err.decode()[-2000:]}")
    return out


class _Collector(HTMLParser):
    """Text inside every element that carries ``attribute``, by the attribute's value."""

    def __init__(self, attribute: str) -> None:
        super().__init__(convert_charrefs=True)
        self.attribute = attribute
        self.open: list[tuple[str, str | None]] = []
        self.found: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        value = dict(attrs).get(self.attribute)
        self.open.append((tag, value))
        if value is not None:
            self.found.setdefault(value, [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        value = dict(attrs).get(self.attribute)
        if value is not None:
            self.found.setdefault(value, [])

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        for _, value in self.open:
            if value is not None:
                self.found[value].append(data)


def texts_by(dom: str, attribute: str) -> dict[str, list[str]]:
    """For each value of ``attribute`` in ``dom``, the text pieces inside its element(s)."""
    parser = _Collector(attribute)
    parser.feed(dom)
    parser.close()
    return parser.found
