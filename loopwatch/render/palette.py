"""Colours shared by the HTML page, its SVG pictures and the DOT graph.

One place, so a status looks the same everywhere and a test can look for these exact
colours in a screenshot.
"""

from __future__ import annotations

ACTIVE = "#c92a2a"  # red: the loop is running hot now
LATENT = "#f59f00"  # yellow: the cycle exists, not (yet) running hot
OTHER_STATUS = "#868e96"  # resolved, or a status this renderer does not know
CLOSING = "#d6336c"  # the write that closes the trigger
HOP = "#495057"
FUNCTION_FILL, FUNCTION_STROKE = "#fff4e6", "#e8590c"
RESOURCE_FILL, RESOURCE_STROKE = "#e7f5ff", "#1971c2"
TEXT = "#212529"


def status_colour(status: str) -> str:
    return {"active": ACTIVE, "latent": LATENT}.get(status, OTHER_STATUS)
