"""HTML/SVG and DOT renderings of the replay document, and the wrapped, coloured text report."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwatch.cli import main
from loopwatch.render import cycle_svg, render_dot, render_html
from loopwatch.render.terminal import PLAIN_WIDTH, printable, text_style, wrap_line
from loopwatch.render.view import read_document
from loopwatch.replay import replay
from loopwatch.testing.browser import texts_by
from loopwatch.topology import resolve_topology, write_simulation

ACCT = "111122223333"
BUCKET = "arn:aws:s3:::landing"
PARSER = f"arn:aws:lambda:us-east-1:{ACCT}:function:parser"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCT}:parsed"
ARCHIVER = f"arn:aws:lambda:us-east-1:{ACCT}:function:archiver"


def loop(cycle: list[str], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "loop-1",
        "status": "active",
        "cycle": cycle,
        "functions": [n for n in cycle if ":function:" in n],
        "first_seen": "2026-10-05T14:00:00Z",
        "detected_at": "2026-10-05T14:00:03Z",
        "traversals": 3,
        "gain": 1.0,
        "explanation": "why",
        "fix": "fix",
    }
    return base | extra


def document(*loops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    records = {"read": 10, "used": 5, "skipped": 5, "duplicates": 0, "malformed": 0}
    return {"records": records, "errors": [], "loops": list(loops), "runaway": []} | extra


def closing_hops(svg: str) -> list[tuple[str, str]]:
    return re.findall(r'class="hop closing" data-from="([^"]+)" data-to="([^"]+)"', svg)


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


# --- the picture of one cycle -------------------------------------------------------------


def test_closing_write_is_the_hop_from_the_last_function_back_to_the_first_resource() -> None:
    (view,) = read_document(document(loop([BUCKET, PARSER, QUEUE, ARCHIVER]))).loops
    svg = cycle_svg(view)
    assert closing_hops(svg) == [(ARCHIVER, BUCKET)]
    hops = re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', svg)
    assert hops == [(BUCKET, PARSER), (PARSER, QUEUE), (QUEUE, ARCHIVER), (ARCHIVER, BUCKET)]
    assert svg.count("closing write") == 1


def test_a_rotated_cycle_still_closes_on_its_first_resource() -> None:
    (view,) = read_document(document(loop([ARCHIVER, BUCKET, PARSER, QUEUE]))).loops
    assert closing_hops(cycle_svg(view)) == [(ARCHIVER, BUCKET)]


def test_function_only_cycles_close_back_to_their_first_node() -> None:
    (pair, alone) = read_document(
        document(loop([PARSER, ARCHIVER]), loop([PARSER], id="loop-2"))
    ).loops
    assert closing_hops(cycle_svg(pair)) == [(ARCHIVER, PARSER)]
    assert closing_hops(cycle_svg(alone)) == [(PARSER, PARSER)]


def test_nodes_are_labelled_by_service_and_name() -> None:
    (view,) = read_document(document(loop([BUCKET, PARSER, QUEUE, ARCHIVER]))).loops
    labels = texts_by(cycle_svg(view), "data-node")
    # Each node: its ARN (the tooltip), an icon, then the label's two lines.
    assert {node: pieces[2:] for node, pieces in labels.items()} == {
        BUCKET: ["S3 bucket", "landing"],
        PARSER: ["Lambda", "parser"],
        QUEUE: ["SQS queue", "parsed"],
        ARCHIVER: ["Lambda", "archiver"],
    }
    assert labels[BUCKET][:2] == [BUCKET, "S3"] and labels[PARSER][:2] == [PARSER, "λ"]


# --- the page ------------------------------------------------------------------------------


def test_text_from_records_is_escaped_everywhere() -> None:
    evil = 'arn:aws:s3:::x"><script>alert(1)</script>'
    page = render_html(
        document(
            loop(
                [evil, PARSER],
                explanation="<img src=x onerror=alert(1)>",
                fix="a & b",
                unknown=["<b>bold</b>"],
                confirmed=False,
            ),
            errors=[{"source": "<s>.json", "reason": "</dd><script>"}],
        )
    )
    tags = elements(page)
    assert not [t for t, _ in tags if t in ("script", "img", "b", "s")]
    assert [a["data-node"] for t, a in tags if "data-node" in a] == [evil, PARSER]
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "a &amp; b" in page


def test_page_is_self_contained() -> None:
    page = render_html(document(loop([BUCKET, PARSER, QUEUE, ARCHIVER])))
    tags = elements(page)
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    assert not [a for _, a in tags if "src" in a or "href" in a]
    # The only URL is the SVG namespace, which is never fetched.
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    csp = [a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and (csp[0] or "").startswith("default-src 'none'")


def test_confirmation_unknowns_and_throttle_state_are_shown_when_present() -> None:
    throttle = {
        "mode": "enforce",
        "outcomes": [{"function": PARSER, "result": "throttled", "previous": 5}],
    }
    unconfirmed = loop(
        [BUCKET, PARSER],
        status="latent",
        confirmed=False,
        unknown=["the notification configuration of bucket landing"],
    )
    page = render_html(
        document(
            unconfirmed, loop([QUEUE, ARCHIVER], id="loop-2", confirmed=True, throttle=throttle)
        )
    )
    facts = texts_by(page, "class")
    confirmed = facts["fact-confirmed"]
    throttles = facts["fact-throttle"]
    assert confirmed[0] == "no" and "the notification configuration of bucket landing" in confirmed
    assert confirmed[-1] == "yes"
    assert throttles == [
        "not acted on",
        "mode: enforce",
        "outcomes: Lambda parser: result throttled, previous 5",
    ]
    statuses = [a["data-status"] for t, a in elements(page) if t == "article"]
    assert statuses == ["latent", "active"]


def test_a_document_without_the_new_fields_says_so() -> None:
    page = render_html(document(loop([BUCKET, PARSER])))
    facts = texts_by(page, "class")
    assert facts["fact-confirmed"] == ["not stated"] and facts["fact-throttle"] == ["not acted on"]


def test_no_loop_page() -> None:
    page = render_html(document())
    assert "No loop found." in page and "<svg" not in page


# --- DOT -------------------------------------------------------------------------------------


def test_dot_has_a_cluster_per_loop_and_a_styled_closing_edge() -> None:
    dot = render_dot(
        document(loop([BUCKET, PARSER]), loop([BUCKET, PARSER, QUEUE, ARCHIVER], id="loop-2"))
    )
    assert dot.startswith("digraph loopwatch {") and dot.rstrip().endswith("}")
    assert re.findall(r'subgraph "(cluster_\d+)"', dot) == ["cluster_0", "cluster_1"]
    closing = [line for line in dot.splitlines() if "closing write" in line]
    assert [line.split(" [")[0].strip() for line in closing] == [
        f'"0:{PARSER}" -> "0:{BUCKET}"',
        f'"1:{ARCHIVER}" -> "1:{BUCKET}"',
    ]
    assert all("style=dashed" in line for line in closing)
    assert f'"1:{QUEUE}" [label="SQS queue\\nparsed"' in dot


def test_dot_quotes_what_it_must() -> None:
    dot = render_dot(document(loop(['arn:aws:s3:::a"b\\c', PARSER], id='x"y')))
    assert '"0:arn:aws:s3:::a\\"b\\\\c"' in dot and 'label="ACTIVE x\\"y"' in dot
    # Every quote left is a delimiter: strip escapes, then quotes pair up on each line.
    assert all(
        line.replace("\\\\", "").replace('\\"', "").count('"') % 2 == 0 for line in dot.splitlines()
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_graphviz_reads_the_dot(tmp_path: Path) -> None:
    dot = render_dot(document(loop(['arn:aws:s3:::a"b\\c', PARSER]), loop([PARSER], id="l2")))
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert b"closing write" in done.stdout


def test_replay_command_writes_html_and_dot(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    write_simulation(resolve_topology("multi-hop-s3-sqs"), tmp_path)
    assert main(["replay", "--format", "json", str(tmp_path)]) == 1
    (found,) = orjson.loads(capsysbinary.readouterr().out)["loops"]
    assert main(["replay", "--format", "html", str(tmp_path)]) == 1
    page = capsysbinary.readouterr().out.decode()
    assert set(texts_by(page, "data-node")) == set(found["cycle"])
    assert main(["replay", "--format", "dot", str(tmp_path)]) == 1
    dot = capsysbinary.readouterr().out.decode()
    assert dot.count("subgraph") == 1 and all(f'"0:{node}"' in dot for node in found["cycle"])


# --- the text report -------------------------------------------------------------------------


def test_text_report_wraps_under_the_field(tmp_path: Path) -> None:
    write_simulation(resolve_topology("multi-hop-s3-sqs"), tmp_path)
    report = replay([str(tmp_path)])
    text = report.to_text()
    lines = text.splitlines()
    assert all(len(line) <= PLAIN_WIDTH for line in lines)
    why = next(i for i, line in enumerate(lines) if line.startswith("  why       "))
    fix = next(i for i, line in enumerate(lines) if line.startswith("  fix       "))
    assert fix - why > 1  # the explanation took more than one line
    assert all(line.startswith(" " * 12) and line[12] != " " for line in lines[why + 1 : fix])
    # Nothing lost or reordered by wrapping: the words are those of the explanation.
    assert " ".join(line[12:] for line in lines[why:fix]) == report.loops[0].explanation
    assert "\x1b[" not in text
    narrow = report.to_text(width=60, color=True).splitlines()
    (heading,) = [line for line in narrow if "bucket landing →" in line]
    assert heading.startswith("\x1b[1;31mACTIVE\x1b[0m  bucket landing")
    assert max(len(line) for line in narrow if "\x1b" not in line) <= 60


def test_wrapping_never_breaks_an_arn() -> None:
    arn = "arn:aws:lambda:us-east-1:111122223333:function:a-function-with-a-long-name-indeed"
    lines = wrap_line(f"  why       {arn} then more words here", 40)
    assert lines[0] == f"  why       {arn}" and lines[1] == " " * 12 + "then more words here"
    assert wrap_line("  caught    2026-10-05T14:00:03Z", 40) == ["  caught    2026-10-05T14:00:03Z"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_for_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "72")
    assert (text_style(io.StringIO()).width, text_style(io.StringIO()).color) == (100, False)
    assert (text_style(FakeTerminal()).width, text_style(FakeTerminal()).color) == (72, True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert text_style(FakeTerminal()).color is False


# What a terminal obeys: C0, DEL, C1, and the bidirectional overrides and isolates.
OBEYED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(
    st.text() | st.lists(st.sampled_from(["a", "é", "→", "\x1b", "\x9b", "\n", "\\"])).map("".join)
)
def test_printable_leaves_nothing_a_terminal_obeys_and_changes_nothing_else(text: str) -> None:
    shown = printable(text)
    assert not OBEYED.search(shown)
    if not OBEYED.search(text):
        assert shown == text  # names in any script are left as they are
    # Each control becomes its escape, whose characters are all printable ASCII.
    assert len(shown) - len(text) == sum(len(printable(c)) - 1 for c in text if OBEYED.match(c))
    kept = printable(text, keep="\n")
    assert kept.count("\n") == text.count("\n") and kept.replace("\n", "\\n") == shown


def test_printable_shows_each_control_as_its_escape() -> None:
    assert printable("a\x1b]0;t\x07\x1b[2J\x9b\x7f\u202e\t\n\r") == (
        r"a\x1b]0;t\x07\x1b[2J\x9b\x7f\u202e\t\n\r"
    )
