"""Atom 1.0 feeds (RFC 4287): new productions, all or per agency or request, and any search.

Feeds carry only what the public may see. A production feed lists published productions and
counts only their public documents (published and not taken down); a production with no public
document yet is left out until it has one. A search feed's entries are documents from the
index, which only ever holds public documents. Links are absolute (``settings.base_url``),
since a feed reader has no page to resolve them against.

The XML is built with ``xml.etree``, which escapes text and attributes; characters that XML 1.0
cannot carry at all (form feeds and other controls are common in PDF text) are dropped first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.errors import NotFoundError
from app.meili import MeiliClient
from app.models import (
    Agency,
    Document,
    FoiaRequest,
    Production,
    ProductionStatus,
    production_documents,
)
from app.services.releases import release_change
from app.services.search import SearchQuery, search_pages
from app.urls import absolute_url, agency_path, production_path, request_path

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
FEED_ENTRIES = 50
SEARCH_FEED_ENTRIES = 30
# Feeds need an `updated` even when empty: the epoch says "nothing yet" and never changes.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    id: str  # a permanent IRI: the absolute URL of what the entry is about
    title: str
    url: str
    updated: dt.datetime
    published: dt.datetime | None = None
    summary: str = ""  # plain text
    content_html: str | None = None  # an HTML fragment; escaped again inside the XML
    author: str | None = None
    categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    self_url: str
    html_url: str
    entries: list[FeedEntry]
    subtitle: str | None = None

    @property
    def updated(self) -> dt.datetime:
        return max((e.updated for e in self.entries), default=EPOCH)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; they were written in UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _production_entries(
    session: Session, settings: Settings, where: Sequence[Any]
) -> list[FeedEntry]:
    public = (
        select(
            production_documents.c.production_id.label("production_id"),
            func.count().label("documents"),
            func.coalesce(func.sum(Document.page_count), 0).label("pages"),
            func.max(production_documents.c.added_at).label("latest"),
        )
        .join(Document, Document.id == production_documents.c.document_id)
        .where(Document.published.is_(True), Document.taken_down_at.is_(None))
        .group_by(production_documents.c.production_id)
        .subquery()
    )
    released = func.coalesce(Production.published_at, Production.created_at)
    rows = session.execute(
        select(Production, public.c.documents, public.c.pages, public.c.latest)
        .join(public, public.c.production_id == Production.id)
        .where(Production.status == ProductionStatus.PUBLISHED, *where)
        .options(selectinload(Production.agency), selectinload(Production.request))
        .order_by(released.desc(), Production.id.desc())
        .limit(FEED_ENTRIES)
    ).all()
    entries = []
    for production, documents, pages, latest in rows:
        published = _aware(production.published_at) or _aware(production.created_at) or EPOCH
        updated = max(published, _aware(latest) or published)
        url = absolute_url(settings.base_url, production_path(production.id))
        summary = f"{documents:,} document{'s' if documents != 1 else ''}, {pages:,} pages"
        if production.release_date:
            summary += f", released by the agency on {production.release_date.isoformat()}"
        if production.request:
            summary += f", in response to FOIA request {production.request.tracking_number}"
        summary += "."
        categories = [production.agency.slug]
        # Issue 11: a re-release is news when it shows what an earlier release hid.
        change = release_change(session, production)
        if change.rereleased:
            earlier = ", ".join(p.title for p in change.earlier)
            summary += (
                f" Re-releases {change.rereleased:,} page{'s' if change.rereleased != 1 else ''}"
                f" of earlier releases ({earlier})"
            )
            if change.fewer_redactions:
                summary += f", {change.fewer_redactions:,} of them with fewer redactions"
                categories.append("fewer-redactions")
            summary += "."
        entries.append(
            FeedEntry(
                id=url,
                title=f"{production.agency.name}: {production.title}",
                url=url,
                updated=updated,
                published=published,
                summary=summary,
                author=production.agency.name,
                categories=categories,
            )
        )
    return entries


def productions_feed(session: Session, settings: Settings) -> Feed:
    """Every agency's newly published productions, newest first."""
    return Feed(
        id=absolute_url(settings.base_url, "/feeds/productions.atom"),
        title="New releases on readingroom",
        subtitle="Productions of records released under FOIA, newest first.",
        self_url=absolute_url(settings.base_url, "/feeds/productions.atom"),
        html_url=absolute_url(settings.base_url, "/"),
        entries=_production_entries(session, settings, []),
    )


def agency_feed(session: Session, settings: Settings, slug: str) -> Feed:
    """Productions of one agency and of the agencies under it (DHS includes ICE)."""
    agency = session.scalars(select(Agency).where(Agency.slug == slug.lower())).first()
    if agency is None:
        raise NotFoundError(f"there is no agency {slug!r}")
    ids = {agency.id}
    frontier = {agency.id}
    while frontier:  # the hierarchy is shallow (department, component); walk it all
        children = set(session.scalars(select(Agency.id).where(Agency.parent_id.in_(frontier))))
        frontier = children - ids
        ids |= children
    path = f"/feeds/agencies/{agency.slug}.atom"
    return Feed(
        id=absolute_url(settings.base_url, path),
        title=f"New releases from {agency.name}",
        self_url=absolute_url(settings.base_url, path),
        html_url=absolute_url(settings.base_url, agency_path(agency.slug)),
        entries=_production_entries(session, settings, [Production.agency_id.in_(ids)]),
    )


def request_feed(session: Session, settings: Settings, request_id: int) -> Feed:
    """Productions released in answer to one FOIA request."""
    foia = session.get(FoiaRequest, request_id)
    if foia is None:
        raise NotFoundError(f"there is no FOIA request {request_id}")
    path = f"/feeds/requests/{foia.id}.atom"
    return Feed(
        id=absolute_url(settings.base_url, path),
        title=f"Releases for FOIA request {foia.tracking_number}",
        subtitle=foia.subject,
        self_url=absolute_url(settings.base_url, path),
        html_url=absolute_url(settings.base_url, request_path(foia.id)),
        entries=_production_entries(session, settings, [Production.request_id == foia.id]),
    )


def search_feed(client: MeiliClient, settings: Settings, query: SearchQuery) -> Feed:
    """Documents matching a search, so that a reporter can follow a query.

    Newest in the archive first, unless the query asks for a date order: an order by
    relevance would bury what is new, which is what a feed is for.
    """
    ordered = replace(
        query,
        sort="added_desc" if query.sort == "relevance" else query.sort,
        per_page=query.per_page or SEARCH_FEED_ENTRIES,
    )
    results = search_pages(client, settings, ordered, allow_empty=True)
    params = query.params(page=1, per_page=None)
    qs = f"?{urlencode(params)}" if params else ""
    described = f"“{query.q}”" if query.q else "every document"
    if results.active_filters:
        described += " (" + "; ".join(f.label for f in results.active_filters) + ")"
    reader_qs = f"?{urlencode({'q': query.q})}" if query.q else ""
    entries = []
    for doc in results.documents:
        url = absolute_url(settings.base_url, doc.url)
        facts = [", ".join(doc.agencies), "; ".join(doc.productions)]
        if doc.document_date:
            facts.append(f"dated {doc.document_date.isoformat()}")
        if doc.page_count:
            facts.append(f"{doc.page_count:,} pages")
        pages = "".join(
            f'<li><a href="{escape(absolute_url(settings.base_url, p.url) + reader_qs)}">'
            f"Page {p.number}</a>: {p.snippet}</li>"
            for p in doc.pages
        )
        updated = doc.published_at or (
            dt.datetime.combine(doc.release_date, dt.time(), dt.UTC) if doc.release_date else EPOCH
        )
        entries.append(
            FeedEntry(
                # The id-only URL: it redirects to the current slug and never changes.
                id=absolute_url(settings.base_url, f"/documents/{doc.id}"),
                title=doc.title,
                url=url + reader_qs,
                updated=updated,
                published=doc.published_at,
                summary=" · ".join(f for f in facts if f),
                content_html=f"<ul>{pages}</ul>" if pages else None,
                author=", ".join(doc.agencies) or None,
                categories=[doc.document_type] if doc.document_type else [],
            )
        )
    return Feed(
        id=absolute_url(settings.base_url, f"/search.atom{qs}"),
        title=f"readingroom search: {described}",
        subtitle="New released documents matching this search.",
        self_url=absolute_url(settings.base_url, f"/search.atom{qs}"),
        html_url=absolute_url(settings.base_url, f"/search{qs}"),
        entries=entries,
    )


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _child(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _text(text)
    return element


def render_atom(feed: Feed) -> bytes:
    """The feed as an Atom 1.0 document (UTF-8, with its XML declaration)."""
    root = ET.Element("feed", {"xmlns": ATOM_NAMESPACE})
    _child(root, "id", feed.id)
    _child(root, "title", feed.title)
    if feed.subtitle:
        _child(root, "subtitle", feed.subtitle)
    _child(root, "updated", _time(feed.updated))
    _child(root, "link", rel="self", type="application/atom+xml", href=feed.self_url)
    _child(root, "link", rel="alternate", type="text/html", href=feed.html_url)
    author = _child(root, "author")
    _child(author, "name", "readingroom")
    _child(root, "generator", "readingroom")
    for entry in feed.entries:
        element = _child(root, "entry")
        _child(element, "id", entry.id)
        _child(element, "title", entry.title)
        _child(element, "link", rel="alternate", type="text/html", href=entry.url)
        _child(element, "updated", _time(entry.updated))
        if entry.published:
            _child(element, "published", _time(entry.published))
        if entry.author:
            _child(_child(element, "author"), "name", entry.author)
        for term in entry.categories:
            _child(element, "category", term=term)
        if entry.summary:
            _child(element, "summary", entry.summary, type="text")
        if entry.content_html:
            _child(element, "content", entry.content_html, type="html")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
