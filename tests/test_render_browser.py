"""``replay --format html`` of a simulated S3 self-loop, opened in a real headless Chromium.

The DOM after rendering must show every node of the cycle (by ``data-node`` and by its label),
and the screenshot must show the page's colours, not a blank window. The screenshot is left
in pytest's ``tmp_path`` to look at.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loopwatch.cli import main
from loopwatch.render import palette
from loopwatch.render.view import service_label
from loopwatch.testing.browser import chromium_binary, dump_dom, screenshot, texts_by
from loopwatch.testing.png import read_png

pytestmark = pytest.mark.skipif(
    chromium_binary() is None,
    reason="no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)",
)


def test_report_page_shows_the_cycle_in_chromium(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    logs = tmp_path / "logs"
    assert main(["simulate", "s3-self-loop", "--out", str(logs)]) == 0
    capsysbinary.readouterr()
    assert main(["replay", "--format", "json", str(logs)]) == 1
    (loop,) = orjson.loads(capsysbinary.readouterr().out)["loops"]
    assert main(["replay", "--format", "html", str(logs)]) == 1
    page = tmp_path / "report.html"
    page.write_bytes(capsysbinary.readouterr().out)
    url = page.as_uri()

    dom = dump_dom(url, tmp_path / "profile")
    nodes = texts_by(dom, "data-node")
    assert set(nodes) == set(loop["cycle"])
    for node in loop["cycle"]:
        words, name = service_label(node)
        assert words in nodes[node] and name in nodes[node]  # the visible label tspans
    assert {service_label(n) for n in loop["cycle"]} == {
        ("S3 bucket", "uploads"),
        ("Lambda", "thumbnailer"),
    }
    closing = texts_by(dom, "data-closing")
    assert "closing write" in closing["true"]
    assert "closing write" not in closing.get("false", [])

    png = screenshot(url, tmp_path / "report.png", tmp_path / "profile")
    image = read_png(png)
    assert (image.width, image.height) == (1200, 900)
    # The ACTIVE badge is a filled box of the status colour; the closing write is drawn in
    # its own colour (antialiased, hence the tolerance).
    assert loop["status"] == "active"
    assert image.count_near(palette.ACTIVE, tolerance=8) > 500
    assert image.count_near(palette.CLOSING, tolerance=24) > 50
