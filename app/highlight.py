"""Safe highlighting: Meilisearch returns page text raw, so markers, not tags, come back.

We ask Meilisearch to wrap matches in private-use characters that cannot occur in escaped text,
HTML-escape the whole snippet, and only then turn the markers into ``<mark>`` tags. A page that
contains ``<script>`` is therefore always shown as text.
"""

from __future__ import annotations

from markupsafe import Markup, escape

PRE = "\ue000"
POST = "\ue001"
_PRIVATE = str.maketrans("", "", PRE + POST)


def strip_markers(text: str) -> str:
    return text.translate(_PRIVATE)


def highlight_html(marked: str) -> Markup:
    """Escape ``marked`` and turn the private markers into ``<mark>`` elements."""
    # Markers that lost their partner to cropping are closed or dropped, never left dangling.
    escaped = str(escape(marked))
    out: list[str] = []
    open_mark = False
    for char in escaped:
        if char == PRE and not open_mark:
            out.append("<mark>")
            open_mark = True
        elif char == POST and open_mark:
            out.append("</mark>")
            open_mark = False
        elif char not in (PRE, POST):
            out.append(char)
    if open_mark:
        out.append("</mark>")
    return Markup("".join(out))  # noqa: S704 - built from escaped text and our own tags only
