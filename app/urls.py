"""Permalinks. Documents resolve by id; the slug is cosmetic and redirects when it is wrong.

Every URL the site hands out is built here, so that a link printed in a court filing in 2031
still has one place that promises its shape. Shapes are only ever added, never changed.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

ImageSize = Literal["thumb", "image"]


def document_path(document_id: int, slug: str) -> str:
    return f"/documents/{document_id}-{slug}"


def page_path(document_id: int, slug: str, number: int) -> str:
    return f"{document_path(document_id, slug)}/pages/{number}"


def page_image_path(document_id: int, slug: str, number: int, size: ImageSize) -> str:
    return f"{page_path(document_id, slug, number)}/{size}.webp"


def page_embed_path(document_id: int, slug: str, number: int) -> str:
    return f"{page_path(document_id, slug, number)}/embed"


def original_download_path(document_id: int, slug: str) -> str:
    return f"{document_path(document_id, slug)}/original"


def text_download_path(document_id: int, slug: str) -> str:
    return f"{document_path(document_id, slug)}.txt"


def bates_path(bates_number: str) -> str:
    # Bates numbers carry spaces and sometimes slashes ("2019-ICLI-00003 022454").
    return f"/bates/{quote(bates_number, safe='')}"


def agency_path(slug: str) -> str:
    return f"/agencies/{slug}"


def request_path(request_id: int) -> str:
    return f"/requests/{request_id}"


def production_path(production_id: int) -> str:
    return f"/productions/{production_id}"


def production_download_path(production_id: int) -> str:
    """The ZIP of a production's public originals, with its manifest."""
    return f"/productions/{production_id}/download.zip"


def page_ref(document_id: int, number: int) -> str:
    """How the compare view names a page: document id and page number, ``12-3``."""
    return f"{document_id}-{number}"


def compare_path(left: str, right: str) -> str:
    """Two versions of a page side by side (``left`` and ``right`` as :func:`page_ref`)."""
    return f"/compare/{left}...{right}"


def absolute_url(base_url: str, path: str) -> str:
    """``path`` on the public site (``settings.base_url``), for canonical links and embeds."""
    return base_url.rstrip("/") + path
