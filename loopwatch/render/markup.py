"""Escaping for HTML and SVG: every string shown comes from input records or the document."""

from __future__ import annotations

from html import escape


def text(value: str) -> str:
    """Element content."""
    return escape(value, quote=False)


def attr(value: str) -> str:
    """A double-quoted attribute value."""
    return escape(value, quote=True)
