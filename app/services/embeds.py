"""oEmbed (https://oembed.com): a document or page URL in, an iframe of the embed view out.

Newsrooms paste a page's URL into their CMS; the CMS finds our oEmbed endpoint through the
``<link rel="alternate" type="application/json+oembed">`` of the page and asks it for HTML to
embed. Only this site's own document and page URLs are accepted, and only public pages come
back. The iframe points at ``/documents/{id}-{slug}/pages/{n}/embed``, the one view the site
lets other origins frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from markupsafe import escape
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import InvalidInputError, NotFoundError
from app.services.documents import MAX_PAGE_NUMBER, show_page
from app.services.matching import MAX_QUERY_LENGTH
from app.services.pages import image_size
from app.urls import absolute_url, page_embed_path, page_image_path, page_path

DEFAULT_WIDTH = 600
MIN_SIZE = 100
# Room under the page image for the embed's own chrome (title line, text toggle, link).
CHROME_HEIGHT = 96
CACHE_AGE = 86_400

_PATH = re.compile(r"^/documents/(\d{1,12})(?:-[A-Za-z0-9-]*)?(?:/pages/(\d{1,7})(?:/embed)?)?/?$")


@dataclass(frozen=True)
class EmbedTarget:
    document_id: int
    page: int
    query: str


def parse_embed_url(base_url: str, url: str) -> EmbedTarget:
    """The document and page a URL of this site points at; anything else is refused."""
    parts = urlsplit(url.strip())
    ours = urlsplit(base_url)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise InvalidInputError("url must be an http or https URL of this site")
    # Scheme may differ behind a TLS-terminating proxy; the host may not.
    if parts.netloc and parts.netloc.lower() != ours.netloc.lower():
        raise NotFoundError(f"{url!r} is not a document of this site")
    match = _PATH.match(parts.path)
    if match is None:
        raise NotFoundError(f"{url!r} is not a document or page of this site")
    number = int(match.group(2)) if match.group(2) else 1
    if not 1 <= number <= MAX_PAGE_NUMBER:
        raise NotFoundError(f"{url!r} names no page")
    query = parse_qs(parts.query).get("q", [""])[0][:MAX_QUERY_LENGTH]
    return EmbedTarget(int(match.group(1)), number, query)


def oembed(
    session: Session,
    settings: Settings,
    url: str,
    *,
    maxwidth: int | None = None,
    maxheight: int | None = None,
) -> dict[str, Any]:
    """The oEmbed ``rich`` response for a public document or page URL of this site."""
    target = parse_embed_url(settings.base_url, url)
    view = show_page(session, target.document_id, target.page)
    doc, page = view.document, view.page
    width = max(MIN_SIZE, min(DEFAULT_WIDTH, maxwidth or DEFAULT_WIDTH))
    image_w, image_h = image_size(page.width, page.height, "image")
    height = round(width * image_h / image_w) + CHROME_HEIGHT
    if maxheight:
        height = max(MIN_SIZE, min(height, maxheight))
    src = absolute_url(settings.base_url, page_embed_path(doc.id, doc.slug, page.number))
    if target.query:
        src += "?" + urlencode({"q": target.query})
    title = f"{doc.title}, page {page.number}"
    html = (
        f'<iframe src="{escape(src)}" width="{width}" height="{height}" title="{escape(title)}" '
        'style="border:1px solid #d0d0d0;max-width:100%" loading="lazy"></iframe>'
    )
    thumb_w, thumb_h = image_size(page.width, page.height, "thumb")
    agencies = list(dict.fromkeys(p.agency.name for p in view.productions))
    return {
        "version": "1.0",
        "type": "rich",
        "provider_name": "readingroom",
        "provider_url": absolute_url(settings.base_url, "/"),
        "title": title,
        "author_name": "; ".join(agencies) or None,
        "url": absolute_url(settings.base_url, page_path(doc.id, doc.slug, page.number)),
        "html": html,
        "width": width,
        "height": height,
        "thumbnail_url": absolute_url(
            settings.base_url, page_image_path(doc.id, doc.slug, page.number, "thumb")
        ),
        "thumbnail_width": thumb_w,
        "thumbnail_height": thumb_h,
        "cache_age": CACHE_AGE,
    }
