"""Pictures of the replay report, rendered from its JSON document (DESIGN §7).

    Report.to_json() ──► read_document ──► render_html (page: SVG per loop + its facts)
                                      └──► render_dot  (Graphviz digraph, a cluster per loop)

Rendering from the document, not from the engine's types, keeps the pictures true to what
``--format json`` says and lets the worker serve the same page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwatch.render.dot import render_dot
    from loopwatch.render.html import render_html
    from loopwatch.render.svg import cycle_svg

__all__ = ["cycle_svg", "render_dot", "render_html"]


def __getattr__(name: str) -> Any:
    # The pictures are imported when first asked for: every text output escapes through
    # ``render.terminal`` (the CLI's error lines and logs too), which must not pull them in.
    if name == "render_dot":
        from loopwatch.render.dot import render_dot

        return render_dot
    if name == "render_html":
        from loopwatch.render.html import render_html

        return render_html
    if name == "cycle_svg":
        from loopwatch.render.svg import cycle_svg

        return cycle_svg
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
