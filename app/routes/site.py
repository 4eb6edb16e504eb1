"""``robots.txt`` and ``sitemap.xml`` (an index of sitemaps once there are too many URLs).

The sitemap lists what a search engine should crawl: home, agencies, requests, productions and
public documents. Pages are left out (a document links to each of them, and there can be
millions); so is everything not public, because the listings come from the same services as
the site's own pages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Path
from fastapi.responses import PlainTextResponse, Response

from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError
from app.services.browse import (
    SitemapEntry,
    count_sitemap_documents,
    sitemap_document_entries,
    sitemap_listing_entries,
)
from app.urls import absolute_url

router = APIRouter()

# The sitemaps.org limit is 50,000 URLs per file.
SITEMAP_LIMIT = 50_000
_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_XML = "application/xml"
_CACHE = {"Cache-Control": "public, max-age=3600"}


class XmlResponse(Response):
    """A sitemap; as the response class of a route it documents the media type."""

    media_type = _XML


def _xml(root: ET.Element) -> XmlResponse:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return XmlResponse(body, headers=_CACHE)


def _urlset(base_url: str, entries: Iterable[SitemapEntry]) -> XmlResponse:
    root = ET.Element("urlset", xmlns=_NS)
    for entry in entries:
        url = ET.SubElement(root, "url")
        ET.SubElement(url, "loc").text = absolute_url(base_url, entry.path)
        if entry.lastmod:
            ET.SubElement(url, "lastmod").text = entry.lastmod.isoformat()
    return _xml(root)


@router.get("/robots.txt", response_class=PlainTextResponse)
def show_robots(settings: SettingsDep) -> PlainTextResponse:
    """Everything may be crawled except the API and the search feed."""
    lines = [
        "User-agent: *",
        "Allow: /",
        "Disallow: /api/",
        "Disallow: /search.atom",
        "",
        f"Sitemap: {absolute_url(settings.base_url, '/sitemap.xml')}",
        "",
    ]
    return PlainTextResponse("\n".join(lines), headers=_CACHE)


@router.get("/sitemap.xml", response_class=XmlResponse)
def show_sitemap(session: SessionDep, settings: SettingsDep) -> XmlResponse:
    """One ``urlset`` while it fits in one file, else a ``sitemapindex`` of numbered parts."""
    listings = sitemap_listing_entries(session)
    documents = count_sitemap_documents(session)
    if len(listings) + documents <= SITEMAP_LIMIT:
        entries = listings + sitemap_document_entries(session, offset=0, limit=SITEMAP_LIMIT)
        return _urlset(settings.base_url, entries)
    root = ET.Element("sitemapindex", xmlns=_NS)
    parts = ["/sitemaps/listings.xml"] + [
        f"/sitemaps/documents-{n}.xml" for n in range(1, math.ceil(documents / SITEMAP_LIMIT) + 1)
    ]
    for path in parts:
        ET.SubElement(ET.SubElement(root, "sitemap"), "loc").text = absolute_url(
            settings.base_url, path
        )
    return _xml(root)


@router.get("/sitemaps/listings.xml", response_class=XmlResponse)
def show_listing_sitemap(session: SessionDep, settings: SettingsDep) -> XmlResponse:
    """Home, agencies, requests and productions (the first part of a sitemap index)."""
    return _urlset(settings.base_url, sitemap_listing_entries(session)[:SITEMAP_LIMIT])


@router.get("/sitemaps/documents-{part}.xml", response_class=XmlResponse)
def show_document_sitemap(
    part: Annotated[int, Path(ge=1, le=100_000)], session: SessionDep, settings: SettingsDep
) -> XmlResponse:
    """Public documents ``(part - 1) * 50,000`` onwards, in id order."""
    entries = sitemap_document_entries(
        session, offset=(part - 1) * SITEMAP_LIMIT, limit=SITEMAP_LIMIT
    )
    if not entries:
        raise NotFoundError(f"there is no sitemap part {part}")
    return _urlset(settings.base_url, entries)
