"""The replay report as one self-contained HTML page: a picture and the facts of each loop.

No script, no font, no stylesheet or image is fetched (a Content-Security-Policy says so to
the browser too), so the page can be mailed, attached to a ticket, or served by the worker at
``/`` as it is. Every string from the document is escaped: ARNs, explanations and reasons
come from input records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopwatch.render import palette
from loopwatch.render.markup import attr as _a
from loopwatch.render.markup import text as _t
from loopwatch.render.svg import cycle_svg
from loopwatch.render.view import (
    DocumentView,
    LoopView,
    read_document,
    service_label,
    throttle_lines,
)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STYLE = f"""
body {{ font-family: system-ui, sans-serif; color: {palette.TEXT}; margin: 24px; background: #fff; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 0 0 12px; font-weight: 600; }}
.summary {{ color: #495057; margin: 0 0 20px; }}
.incident {{ border: 1px solid #dee2e6; border-radius: 8px; padding: 16px; margin: 0 0 20px; }}
.incident-body {{ display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }}
.picture {{ flex: 1 1 520px; margin: 0; min-width: 320px; }}
.picture svg {{ width: 100%; height: auto; max-width: 800px; }}
.facts {{ flex: 1 1 320px; display: grid; grid-template-columns: max-content 1fr; gap: 6px 12px;
  margin: 0; font-size: 14px; line-height: 1.4; }}
.facts dt {{ font-weight: 600; color: #495057; }}
.facts dd {{ margin: 0; overflow-wrap: anywhere; }}
.facts ul {{ margin: 2px 0 0; padding-left: 18px; }}
.status {{ display: inline-block; padding: 3px 12px; border-radius: 4px; font-weight: 700;
  letter-spacing: 0.04em; margin-right: 8px; }}
.status-active {{ background: {palette.ACTIVE}; color: #fff; }}
.status-latent {{ background: {palette.LATENT}; color: {palette.TEXT}; }}
.status-other {{ background: {palette.OTHER_STATUS}; color: #fff; }}
.unconfirmed {{ color: #862e9c; font-weight: 600; }}
section {{ margin: 0 0 20px; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #dee2e6; }}
code {{ font-size: 12px; }}
"""


def render_html(document: Mapping[str, Any]) -> str:
    """The page for a replay JSON document (DESIGN §7), e.g. ``Report.to_json()``."""
    doc = read_document(document)
    body = [_header(doc)]
    body += [_incident(loop) for loop in doc.loops]
    if doc.runaway:
        body.append(_runaway(doc))
    if doc.errors:
        body.append(_errors(doc))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>loopwatch report</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _header(doc: DocumentView) -> str:
    c = doc.records
    counts = ", ".join(
        f"{c[k]:,} {k}" for k in ("used", "skipped", "duplicates", "malformed") if k in c
    )
    read = f"Read {c['read']:,} records" if "read" in c else "Records"
    active = sum(1 for loop in doc.loops if loop.status == "active")
    found = (
        "No loop found."
        if not doc.loops and not doc.runaway
        else f"{_plural(len(doc.loops), 'loop')} ({active} active),"
        f" {_plural(len(doc.runaway), 'runaway function')}."
    )
    return (
        '<header><h1>loopwatch report</h1><p class="summary">'
        f"{_t(read)}{': ' + _t(counts) if counts else ''}. {_t(found)}</p></header>"
    )


def _incident(loop: LoopView) -> str:
    kind = loop.status if loop.status in ("active", "latent") else "other"
    path = " → ".join(" ".join(service_label(n)) for n in (*loop.cycle, *loop.cycle[:1]))
    facts = [
        ("Status", _t(loop.status)),
        ("Confirmed", _confirmed(loop)),
        ("Started", _t(loop.first_seen or "unknown")),
        ("Caught", _t(loop.detected_at or "not active")),
        (
            "Traversals",
            _t("unknown" if loop.traversals is None else f"{loop.traversals:,} in one window"),
        ),
        ("Loop gain", _t("not measurable" if loop.gain is None else f"{loop.gain:.2f}")),
        ("Why", _t(loop.explanation)),
        ("Fix", _t(loop.fix)),
        ("Throttle", "<br>".join(_t(line) for line in throttle_lines(loop.throttle))),
        ("Functions", "<br>".join(f"<code>{_t(f)}</code>" for f in loop.functions)),
        ("Incident", f"<code>{_t(loop.id)}</code>"),
    ]
    rows = "".join(
        f'<dt>{name}</dt><dd class="fact-{name.lower().replace(" ", "-")}">{value}</dd>'
        for name, value in facts
    )
    return (
        f'<article class="incident" id="{_a(loop.id)}" data-incident="{_a(loop.id)}"'
        f' data-status="{_a(loop.status)}">'
        f'<h2><span class="status status-{kind}">{_t(loop.status.upper())}</span>{_t(path)}</h2>'
        f'<div class="incident-body"><figure class="picture">{cycle_svg(loop)}</figure>'
        f'<dl class="facts">{rows}</dl></div></article>'
    )


def _confirmed(loop: LoopView) -> str:
    if loop.confirmed is None:
        return "not stated"
    if loop.confirmed:
        return "yes"
    unknown = "".join(f"<li>{_t(sentence)}</li>" for sentence in loop.unknown)
    return '<span class="unconfirmed">no</span>' + (
        f'<ul class="unknown">{unknown}</ul>' if unknown else ""
    )


def _runaway(doc: DocumentView) -> str:
    rows = "".join(
        f'<tr data-function="{_a(r.function)}"><td>{_t(" ".join(service_label(r.function)))}</td>'
        f"<td>{_t(r.detected_at or '')}</td>"
        f"<td>{_t('' if r.rate_per_min is None else f'{r.rate_per_min:,.0f}/min')}</td>"
        f"<td>{_t('' if r.growth is None else f'{r.growth:.1f}x')}</td>"
        f"<td>{_t({None: 'not stated', True: 'yes', False: 'no'}[r.confirmed])}</td></tr>"
        for r in doc.runaway
    )
    return (
        '<section class="runaway"><h2>Runaway functions</h2><table><tr><th>Function</th>'
        "<th>Detected</th><th>Rate</th><th>Growth</th><th>Confirmed</th></tr>"
        f"{rows}</table></section>"
    )


def _errors(doc: DocumentView) -> str:
    items = "".join(
        f"<li><code>{_t(source)}</code>: {_t(reason)}</li>" for source, reason in doc.errors
    )
    return (
        f'<section class="errors"><h2>{_t(_plural(len(doc.errors), "source problem"))}</h2>'
        f"<ul>{items}</ul></section>"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
