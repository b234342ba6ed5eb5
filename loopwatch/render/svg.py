"""One loop drawn as its cycle: hand-written SVG, no script, nothing fetched.

Nodes sit on a circle, clockwise from the top in traversal order; each hop is a curve that
bulges outwards (so the two hops of a two-node loop do not overlap), and the closing write is
dashed, in its own colour, and labelled. A one-node cycle (a function invoking itself) is a
loop over the node.

    <svg class="loop-cycle" data-loop="<id>">
      <g class="hop [closing]" data-from="<arn>" data-to="<arn>">…</g>
      <g class="node node-<kind>" data-node="<arn>">…</g>
"""

from __future__ import annotations

import math

from loopwatch.events import arns
from loopwatch.render import palette
from loopwatch.render.markup import attr as _a
from loopwatch.render.markup import text as _t
from loopwatch.render.view import Hop, LoopView, service_label

WIDTH, HEIGHT = 800, 480
NODE_R = 30
CLOSING_LABEL = "closing write"
NAME_CHARS = 28
_ICONS = {
    arns.FUNCTION: "λ",
    arns.BUCKET: "S3",
    arns.QUEUE: "SQS",
    arns.TOPIC: "SNS",
    arns.TABLE: "DDB",
    arns.STREAM: "KDS",
    arns.EVENT_BUS: "EB",
    arns.STATE_MACHINE: "SFN",
}

Point = tuple[float, float]


def cycle_svg(loop: LoopView) -> str:
    """The loop's cycle as an ``<svg>`` element (inline in HTML, or a file on its own)."""
    positions = _layout(len(loop.cycle))
    where = dict(zip(loop.cycle, positions, strict=True))
    parts = [
        f'<svg class="loop-cycle" data-loop="{_a(loop.id)}" xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img"'
        f' aria-label="{_a(_caption(loop))}" font-family="system-ui, sans-serif">',
        f"<title>{_t(_caption(loop))}</title>",
    ]
    hops = loop.hops()
    if len(loop.cycle) == 1:
        parts.append(_self_hop(hops[0], where[hops[0].source]))
    else:
        parts += [_hop(h, where[h.source], where[h.target], len(loop.cycle)) for h in hops]
    parts += [_node(node, where[node]) for node in loop.cycle]
    parts.append("</svg>")
    return "\n".join(parts)


def _caption(loop: LoopView) -> str:
    names = [" ".join(service_label(n)) for n in (*loop.cycle, *loop.cycle[:1])]
    return "Loop: " + " → ".join(names)


def _layout(n: int) -> list[Point]:
    cx, cy = WIDTH / 2, HEIGHT / 2
    if n == 1:
        return [(cx, cy + 40)]
    radius = 130.0 if n == 2 else 160.0
    return [
        (
            cx + radius * math.cos(-math.pi / 2 + 2 * math.pi * i / n),
            cy + radius * math.sin(-math.pi / 2 + 2 * math.pi * i / n),
        )
        for i in range(n)
    ]


def _node(node: str, at: Point) -> str:
    x, y = at
    kind = arns.kind(node)
    fill, stroke = (
        (palette.FUNCTION_FILL, palette.FUNCTION_STROKE)
        if kind == arns.FUNCTION
        else (palette.RESOURCE_FILL, palette.RESOURCE_STROKE)
    )
    words, name = service_label(node)
    shown = name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
    # The label goes radially outwards from the picture's centre, away from the arrows.
    dx, dy = x - WIDTH / 2, y - HEIGHT / 2
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = (dx / norm, dy / norm) if (dx or dy) else (0.0, 1.0)
    lx, ly = x + ux * (NODE_R + 12), y + uy * (NODE_R + 12)
    anchor = "middle" if abs(ux) < 0.35 else ("start" if ux > 0 else "end")
    # Two lines (17 px apart): above a top node, below a bottom one, centred beside a side one.
    top = ly - 17 if uy < -0.35 else (ly + 14 if uy > 0.35 else ly - 4)
    return (
        f'<g class="node node-{_a(kind)}" data-node="{_a(node)}" data-kind="{_a(kind)}">'
        f"<title>{_t(node)}</title>"
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{NODE_R}" fill="{fill}" stroke="{stroke}"'
        f' stroke-width="2.5"/>'
        f'<text class="icon" x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" font-size="15"'
        f' font-weight="700" fill="{stroke}">{_t(_ICONS.get(kind, "?"))}</text>'
        f'<text class="label" x="{lx:.1f}" y="{top:.1f}" text-anchor="{anchor}" font-size="14"'
        f' fill="{palette.TEXT}">'
        f'<tspan class="service" x="{lx:.1f}" dy="0" fill="#495057">{_t(words)}</tspan>'
        f'<tspan class="name" x="{lx:.1f}" dy="17" font-weight="600">{_t(shown)}</tspan>'
        f"</text></g>"
    )


def _hop(hop: Hop, p: Point, q: Point, n: int) -> str:
    (px, py), (qx, qy) = p, q
    chord = math.hypot(qx - px, qy - py) or 1.0
    # Clockwise on screen (y down), (dy, -dx) points away from the centre; bulge by twice the
    # sagitta so the curve's middle lies on the layout circle.
    nx, ny = (qy - py) / chord, -(qx - px) / chord
    radius = math.hypot(px - WIDTH / 2, py - HEIGHT / 2)
    bulge = 2 * radius * (1 - math.cos(math.pi / n))
    mx, my = (px + qx) / 2, (py + qy) / 2
    c = (mx + nx * bulge, my + ny * bulge)
    start = _towards(p, c, NODE_R + 3)
    tip = _towards(q, c, NODE_R + 3)
    path = f"M{start[0]:.1f},{start[1]:.1f} Q{c[0]:.1f},{c[1]:.1f} {tip[0]:.1f},{tip[1]:.1f}"
    middle = (
        0.25 * start[0] + 0.5 * c[0] + 0.25 * tip[0],
        0.25 * start[1] + 0.5 * c[1] + 0.25 * tip[1],
    )
    return _hop_group(hop, path, _head(tip, c), middle, (nx, ny))


def _self_hop(hop: Hop, at: Point) -> str:
    x, y = at
    start, tip = (x - 14, y - NODE_R - 1), (x + 14, y - NODE_R - 3)
    c2 = (x + 70, y - NODE_R - 110)
    path = (
        f"M{start[0]:.1f},{start[1]:.1f} C{x - 70:.1f},{y - NODE_R - 110:.1f}"
        f" {c2[0]:.1f},{c2[1]:.1f} {tip[0]:.1f},{tip[1]:.1f}"
    )
    return _hop_group(hop, path, _head(tip, c2), (x, y - NODE_R - 84), (0.0, -1.0))


def _hop_group(hop: Hop, path: str, head: str, middle: Point, outwards: Point) -> str:
    colour = palette.CLOSING if hop.closing else palette.HOP
    dash = ' stroke-dasharray="9 6"' if hop.closing else ""
    width = 3 if hop.closing else 2
    out = [
        f'<g class="hop{" closing" if hop.closing else ""}" data-from="{_a(hop.source)}"'
        f' data-to="{_a(hop.target)}" data-closing="{"true" if hop.closing else "false"}">',
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>',
        f'<polygon points="{head}" fill="{colour}"/>',
    ]
    if hop.closing:
        ox, oy = outwards
        lx, ly = middle[0] + ox * 16, middle[1] + oy * 16 + 5
        anchor = "middle" if abs(ox) < 0.35 else ("start" if ox > 0 else "end")
        out.append(
            f'<text class="closing-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}"'
            f' font-size="14" font-weight="700" fill="{colour}">{CLOSING_LABEL}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _towards(frm: Point, to: Point, distance: float) -> Point:
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    norm = math.hypot(dx, dy) or 1.0
    return frm[0] + dx / norm * distance, frm[1] + dy / norm * distance


def _head(tip: Point, control: Point, length: float = 12.0, half: float = 6.0) -> str:
    """An arrowhead at ``tip``, pointing along the curve's tangent there (from its control)."""
    dx, dy = tip[0] - control[0], tip[1] - control[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = tip[0] - ux * length, tip[1] - uy * length
    return (
        f"{tip[0]:.1f},{tip[1]:.1f} {bx - uy * half:.1f},{by + ux * half:.1f}"
        f" {bx + uy * half:.1f},{by - ux * half:.1f}"
    )
