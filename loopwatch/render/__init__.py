"""Pictures of the replay report, rendered from its JSON document (DESIGN §7).

    Report.to_json() ──► read_document ──► render_html (page: SVG per loop + its facts)
                                      └──► render_dot  (Graphviz digraph, a cluster per loop)

Rendering from the document, not from the engine's types, keeps the pictures true to what
``--format json`` says and lets the worker serve the same page.
"""

from loopwatch.render.dot import render_dot
from loopwatch.render.html import render_html
from loopwatch.render.svg import cycle_svg

__all__ = ["cycle_svg", "render_dot", "render_html"]
