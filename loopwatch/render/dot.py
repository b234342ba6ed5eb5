"""The replay report as one Graphviz ``digraph``: a cluster per loop, the closing write styled.

    digraph loopwatch {
      subgraph "cluster_0" { label="ACTIVE loop-…"; "0:arn:aws:s3:::uploads" [label=…]; … }
    }

Node ids are prefixed with their loop's index, so a resource on two loops is drawn in each
cluster (Graphviz puts a node in one cluster only). Every id and label is a quoted string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopwatch.events import arns
from loopwatch.render import palette
from loopwatch.render.svg import CLOSING_LABEL
from loopwatch.render.view import LoopView, read_document, service_label


def render_dot(document: Mapping[str, Any]) -> str:
    """The DOT source for a replay JSON document (DESIGN §7)."""
    doc = read_document(document)
    lines = [
        "digraph loopwatch {",
        '  graph [fontname="Helvetica", rankdir=LR, labelloc=t,'
        f" label={quote(_title(doc.loops))}];",
        '  node [fontname="Helvetica", shape=box, style="rounded,filled"];',
        '  edge [fontname="Helvetica"];',
    ]
    for index, loop in enumerate(doc.loops):
        lines += _cluster(index, loop)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(loops: tuple[LoopView, ...]) -> str:
    active = sum(1 for loop in loops if loop.status == "active")
    return f"loopwatch: {len(loops)} loop{'' if len(loops) == 1 else 's'} ({active} active)"


def _cluster(index: int, loop: LoopView) -> list[str]:
    confirmed = {None: "", True: ", confirmed", False: ", unconfirmed"}[loop.confirmed]
    label = f"{loop.status.upper()} {loop.id}{confirmed}"
    colour = palette.status_colour(loop.status)
    out = [
        f"  subgraph {quote(f'cluster_{index}')} {{",
        f"    label={quote(label)}; color={quote(colour)}; penwidth=2;",
    ]
    for node in loop.cycle:
        fill, stroke = (
            (palette.FUNCTION_FILL, palette.FUNCTION_STROKE)
            if arns.is_function(node)
            else (palette.RESOURCE_FILL, palette.RESOURCE_STROKE)
        )
        words, name = service_label(node)
        out.append(
            f"    {quote(_id(index, node))} [label={quote(words + chr(10) + name)},"
            f" tooltip={quote(node)}, fillcolor={quote(fill)}, color={quote(stroke)}];"
        )
    for hop in loop.hops():
        edge = f"    {quote(_id(index, hop.source))} -> {quote(_id(index, hop.target))}"
        if hop.closing:
            c = quote(palette.CLOSING)
            edge += (
                f" [label={quote(CLOSING_LABEL)}, color={c}, fontcolor={c}, style=dashed,"
                ' penwidth=2.5, class="closing"]'
            )
        else:
            edge += f" [color={quote(palette.HOP)}]"
        out.append(edge + ";")
    out.append("  }")
    return out


def _id(index: int, node: str) -> str:
    return f"{index}:{node}"


def quote(value: str) -> str:
    """A DOT double-quoted string: backslash and quote escaped, a newline as a line break."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'
