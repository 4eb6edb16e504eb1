"""Full-text search over pages, grouped by document, or inside one document.

Two Meilisearch calls per search, both multi-searches:

1. the documents: ``distinct`` on the document id with page/hitsPerPage paging, which gives
   exact document and facet counts (offset/limit only estimates them); plus, for each facet
   with a selection, the same query without that facet's own filter and without hits, so that
   its other values keep their counts and stay selectable (OR within a facet);
2. the best matching pages of each shown document, one query per document;
3. only when a shown page has versions in other releases (issue 11), how many pages of each
   of those version groups match: the versions of one page are then folded into one hit
   ("also in 2 other releases").

Inside one document the hits are already pages, so the second call is not needed. Visibility
(``published = true``) is always a filter element of its own (``app.services.filters``).
Snippets come back with private markers, which ``app.highlight`` escapes and turns into
``<mark>``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from markupsafe import Markup

from app.config import Settings
from app.errors import InvalidInputError, UnavailableError
from app.highlight import POST, PRE, highlight_html
from app.meili import MeiliClient, MeiliError, MeiliUnavailableError
from app.services.filters import (
    VISIBLE,
    DateRange,
    Facet,
    FilterExpression,
    build_filter,
    facets_for,
    parse_selections,
    split_label,
)
from app.urls import document_path, page_image_path, page_path

MAX_QUERY_LENGTH = 500
MAX_PER_PAGE = 50
MAX_RESULT_PAGE = 200
DEFAULT_PER_PAGE = 10
DEFAULT_PAGES_PER_PAGE = 20  # inside one document: more, shorter hits
PAGES_PER_DOCUMENT = 3
CROP_WORDS = 30
# Facet values shown before "more"; the index keeps the 200 most frequent per facet.
FACET_VALUES_SHOWN = 10

# Sort orders a person can choose: the parameter value, its label and Meilisearch's sort.
SORTS: dict[str, tuple[str, list[str]]] = {
    "relevance": ("Best match", []),
    "date_desc": ("Document date, newest first", ["document_date:desc"]),
    "date_asc": ("Document date, oldest first", ["document_date:asc"]),
    "released_desc": ("Release date, newest first", ["release_date:desc"]),
    "released_asc": ("Release date, oldest first", ["release_date:asc"]),
    "added_desc": ("Newest in the archive", ["published_at:desc"]),
    "page": ("Page order", ["page:asc"]),
}
DOCUMENT_ONLY_SORTS = frozenset({"page"})

# A document's title and file name are copied onto each of its pages, so that a document
# is found by its title; but a page *matches* only through its own text or Bates number, or,
# for a query of several words, its seam: its last words with the next page's first, where
# words that run onto the next page are found together (ingest/continuity.py). A single
# word never crosses a page, and would only find the page before the one it is on.
_PAGE_FIELDS: dict[str, Any] = {"attributesToSearchOn": ["text", "bates"]}
_PAGE_FIELDS_WITH_SEAM: dict[str, Any] = {"attributesToSearchOn": ["text", "bates", "seam"]}
_QUERY_WORD_RE = re.compile(r"(?<![-\w])\w+")


def _page_fields(query: SearchQuery) -> dict[str, Any]:
    words = _QUERY_WORD_RE.findall(query.q)
    return _PAGE_FIELDS_WITH_SEAM if len(words) >= 2 else _PAGE_FIELDS


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_GROUPED_ATTRIBUTES = [
    "document_id",
    "document_slug",
    "document_title",
    "agency_names",
    "production_titles",
    "document_date",
    "release_date",
    "document_type",
    "page_count",
    "published_at",
]


@dataclass(frozen=True)
class SearchQuery:
    """A validated search: words, filters, sort and the page of results wanted."""

    q: str = ""
    page: int = 1
    per_page: int | None = None  # None: the default of the scope
    sort: str = "relevance"
    document: int | None = None  # search inside this document only
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    released_from: dt.date | None = None
    released_to: dt.date | None = None

    @property
    def facets(self) -> tuple[Facet, ...]:
        return facets_for(self.document is not None)

    @property
    def hits_per_page(self) -> int:
        if self.per_page is not None:
            return self.per_page
        return DEFAULT_PAGES_PER_PAGE if self.document is not None else DEFAULT_PER_PAGE

    @property
    def ranges(self) -> list[DateRange]:
        out = []
        if self.date_from or self.date_to:
            out.append(DateRange("document_date", self.date_from, self.date_to))
        if self.released_from or self.released_to:
            out.append(DateRange("release_date", self.released_from, self.released_to))
        return out

    @property
    def is_empty(self) -> bool:
        """Nothing asked yet: no words, no filter, no document."""
        return not (self.q or self.filters or self.ranges or self.document is not None)

    def validated(self) -> SearchQuery:
        """This query with its text trimmed, or ``InvalidInputError`` naming what to fix."""
        if len(self.q) > MAX_QUERY_LENGTH:
            raise InvalidInputError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
        if not 1 <= self.page <= MAX_RESULT_PAGE:
            raise InvalidInputError(f"page must be between 1 and {MAX_RESULT_PAGE}")
        if self.per_page is not None and not 1 <= self.per_page <= MAX_PER_PAGE:
            raise InvalidInputError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if self.sort not in SORTS:
            raise InvalidInputError(f"sort must be one of {', '.join(SORTS)}")
        if self.sort in DOCUMENT_ONLY_SORTS and self.document is None:
            raise InvalidInputError(f"sort={self.sort} only applies inside one document")
        for start, end, name in (
            (self.date_from, self.date_to, "date"),
            (self.released_from, self.released_to, "released"),
        ):
            if start and end and start > end:
                raise InvalidInputError(f"{name}_from is after {name}_to")
        # Filters are re-parsed so that a query built in code obeys the same allow-list.
        filters = parse_selections(self.filters, self.facets)
        return replace(self, q=self.q.strip(), filters=filters)

    def without(self, name: str, value: str) -> SearchQuery:
        """This query with one filter (a facet value or a date bound) removed, from page 1."""
        filters = {
            key: kept
            for key, values in self.filters.items()
            if (kept := tuple(v for v in values if key != name or v != value))
        }
        return replace(
            self,
            page=1,
            filters=filters,
            date_from=None if name == "date_from" else self.date_from,
            date_to=None if name == "date_to" else self.date_to,
            released_from=None if name == "released_from" else self.released_from,
            released_to=None if name == "released_to" else self.released_to,
        )

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string that asks for this search (with ``changes``), defaults left out."""
        query = replace(self, **changes) if changes else self
        out: list[tuple[str, str]] = []
        if query.q:
            out.append(("q", query.q))
        if query.document is not None:
            out.append(("document", str(query.document)))
        for name, values in query.filters.items():
            out.extend((name, v) for v in values)
        for name in ("date_from", "date_to", "released_from", "released_to"):
            day = getattr(query, name)
            if day is not None:
                out.append((name, day.isoformat()))
        if query.sort != "relevance":
            out.append(("sort", query.sort))
        if query.per_page is not None:
            out.append(("per_page", str(query.per_page)))
        if query.page != 1:
            out.append(("page", str(query.page)))
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "page": self.page,
            "per_page": self.hits_per_page,
            "sort": self.sort,
            "document": self.document,
            "filters": {name: list(values) for name, values in self.filters.items()},
            "date_from": _iso(self.date_from),
            "date_to": _iso(self.date_to),
            "released_from": _iso(self.released_from),
            "released_to": _iso(self.released_to),
        }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _parse_day(name: str, raw: str | None) -> dt.date | None:
    if raw is None or not raw.strip():
        return None  # an untouched date input submits an empty value
    value = raw.strip()
    if not _DAY.match(value):
        raise InvalidInputError(f"{name} must be a date like 2021-03-09, not {raw!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} {value!r} is not a real date") from exc


def parse_search_query(
    *,
    q: str = "",
    page: int = 1,
    per_page: int | None = None,
    sort: str = "",
    document: str = "",
    filters: Mapping[str, Sequence[str]] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    released_from: str | None = None,
    released_to: str | None = None,
) -> SearchQuery:
    """A validated ``SearchQuery`` from the strings of a query string or a form."""
    document_id: int | None = None
    if document.strip():
        if not document.strip().isascii() or not document.strip().isdigit():
            raise InvalidInputError(f"document must be a document number, not {document!r}")
        document_id = int(document.strip())
    raw_filters = filters or {}
    query = SearchQuery(
        q=q,
        page=page,
        per_page=per_page,
        sort=sort.strip() or "relevance",
        document=document_id,
        filters={name: tuple(values) for name, values in raw_filters.items()},
        date_from=_parse_day("date_from", date_from),
        date_to=_parse_day("date_to", date_to),
        released_from=_parse_day("released_from", released_from),
        released_to=_parse_day("released_to", released_to),
    )
    return query.validated()


@dataclass(frozen=True)
class PageHit:
    number: int
    url: str
    snippet: Markup
    bates: str | None
    thumbnail_url: str = ""
    version_group: int | None = None
    # Versions of this page in other documents that match too, folded into this hit.
    other_releases: int = 0


@dataclass(frozen=True)
class FoldedDocument:
    """A matching document whose matching pages are all versions of pages shown above."""

    id: int
    title: str
    url: str


@dataclass(frozen=True)
class DocumentHit:
    id: int
    title: str
    url: str
    agencies: list[str]
    productions: list[str]
    pages: list[PageHit] = field(default_factory=list)
    slug: str = ""
    document_date: dt.date | None = None
    release_date: dt.date | None = None
    document_type: str | None = None
    page_count: int | None = None
    matching_pages: int = 0
    published_at: dt.datetime | None = None
    also_released_as: list[FoldedDocument] = field(default_factory=list)


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class FacetCounts:
    name: str
    title: str
    values: list[FacetValue]

    @property
    def shown(self) -> list[FacetValue]:
        """The values listed first: the most frequent, plus every selected one."""
        head = self.values[:FACET_VALUES_SHOWN]
        return head + [v for v in self.values[FACET_VALUES_SHOWN:] if v.selected]

    @property
    def more(self) -> list[FacetValue]:
        return [v for v in self.values[FACET_VALUES_SHOWN:] if not v.selected]


@dataclass(frozen=True)
class ActiveFilter:
    """One filter in force, as a person reads it ("Agency: ICE")."""

    name: str
    value: str
    label: str


@dataclass(frozen=True)
class SearchResults:
    query: SearchQuery
    total_documents: int
    total_pages: int  # pages of results
    documents: list[DocumentHit]
    facets: list[FacetCounts] = field(default_factory=list)
    active_filters: list[ActiveFilter] = field(default_factory=list)
    total_matching_pages: int | None = None  # inside one document: matching pages
    searched: bool = False


def _from_timestamp(value: Any) -> dt.date | None:
    if not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC).date()


def _highlight_options() -> dict[str, Any]:
    return {
        "attributesToCrop": ["text", "seam"],
        "cropLength": CROP_WORDS,
        "attributesToHighlight": ["text", "seam"],
        "highlightPreTag": PRE,
        "highlightPostTag": POST,
    }


def _base_request(settings: Settings, query: SearchQuery) -> dict[str, Any]:
    body: dict[str, Any] = {
        "indexUid": settings.pages_index,
        "q": query.q,
        # Every word must match: a reporter's extra word narrows, never silently widens.
        "matchingStrategy": "all",
    }
    sort = SORTS[query.sort][1]
    if sort:
        body["sort"] = sort
    elif query.document is not None and not query.q:
        body["sort"] = ["page:asc"]  # nothing to rank by: read the document in order
    return body


def _filter(query: SearchQuery, skip_facet: str | None = None) -> FilterExpression:
    return build_filter(
        query.facets,
        query.filters,
        ranges=query.ranges,
        document_id=query.document,
        skip_facet=skip_facet,
    )


def grouped_requests(settings: Settings, query: SearchQuery) -> list[dict[str, Any]]:
    """The first call of a search across documents: the hits, then one query per facet
    with a selection, counting that facet's values without its own filter."""
    distributions = [f.distribution_attribute for f in query.facets]
    main = {
        **_base_request(settings, query),
        "filter": _filter(query),
        "distinct": "document_id",
        "page": query.page,
        "hitsPerPage": query.hits_per_page,
        "facets": distributions,
        "attributesToRetrieve": _GROUPED_ATTRIBUTES,
    }
    requests = [main]
    for facet in query.facets:
        if facet.name in query.filters:
            requests.append(
                {
                    **_base_request(settings, query),
                    "filter": _filter(query, skip_facet=facet.name),
                    "distinct": "document_id",
                    "page": 1,
                    "hitsPerPage": 0,
                    "facets": [facet.distribution_attribute],
                }
            )
    return requests


def pages_request(settings: Settings, query: SearchQuery, document_id: int) -> dict[str, Any]:
    """The best matching pages of one shown document (the second call, one per document)."""
    body = {
        "indexUid": settings.pages_index,
        "q": query.q,
        "matchingStrategy": "all",
        "filter": [VISIBLE, f"document_id = {int(document_id)}"],
        # page/hitsPerPage so that the document's count of matching pages is exact.
        "page": 1,
        "hitsPerPage": PAGES_PER_DOCUMENT if query.q else 1,
        "attributesToRetrieve": ["page", "bates", "version_group"],
        **_highlight_options(),
        **_page_fields(query),
    }
    if not query.q:
        body["sort"] = ["page:asc"]
    return body


def versions_request(settings: Settings, query: SearchQuery, groups: set[int]) -> dict[str, Any]:
    """How many pages of each version group match the search: the third call, made only when
    a shown page has versions (issue 11). The index holds public pages only, so the count
    never tells of a release the public cannot see."""
    # Integers of our own making: no visitor's text reaches the expression.
    in_groups = f"version_group IN [{', '.join(str(int(g)) for g in sorted(groups))}]"
    return {
        "indexUid": settings.pages_index,
        "q": query.q,
        "matchingStrategy": "all",
        "filter": [*_filter(query), in_groups],
        "page": 1,
        "hitsPerPage": 0,
        "facets": ["version_group"],
        **_page_fields(query),
    }


def _fold_versions(
    client: MeiliClient, settings: Settings, query: SearchQuery, documents: list[DocumentHit]
) -> list[DocumentHit]:
    """One hit per page however many releases hold it: a page whose version was shown in a
    document above is left out (its count goes on the shown one: "also in 2 other
    releases"), and a document left with no page of its own is listed under the first
    document that shows its pages."""
    groups = {p.version_group for d in documents for p in d.pages if p.version_group is not None}
    if not groups:
        return documents
    [answer] = _multi_search(client, [versions_request(settings, query, groups)])
    counts = (answer.get("facetDistribution") or {}).get("version_group", {})
    shown: dict[int, int] = {}  # version group -> index of the document that shows it
    kept: list[DocumentHit] = []
    folded: dict[int, list[FoldedDocument]] = {}
    for doc in documents:
        pages = []
        holders = []
        for page in doc.pages:
            group = page.version_group
            if group is not None and group in shown and kept[shown[group]].id != doc.id:
                holders.append(shown[group])
                continue
            if group is not None:
                shown.setdefault(group, len(kept))
                # The shown page is one of the group's matching pages; the others are folded.
                others = max(0, int(counts.get(str(group), 1)) - 1)
                page = replace(page, other_releases=others)
            pages.append(page)
        if doc.pages and not pages:
            folded.setdefault(holders[0], []).append(FoldedDocument(doc.id, doc.title, doc.url))
            continue
        kept.append(replace(doc, pages=pages))
    return [
        replace(doc, also_released_as=folded[at]) if at in folded else doc
        for at, doc in enumerate(kept)
    ]


def in_document_requests(settings: Settings, query: SearchQuery) -> list[dict[str, Any]]:
    """The one call of a search inside one document: its pages, plus facet counts."""
    main = {
        **_base_request(settings, query),
        "filter": _filter(query),
        "page": query.page,
        "hitsPerPage": query.hits_per_page,
        "facets": [f.distribution_attribute for f in query.facets],
        "attributesToRetrieve": [*_GROUPED_ATTRIBUTES, "page", "bates"],
        **_highlight_options(),
        **_page_fields(query),
    }
    requests = [main]
    for facet in query.facets:
        if facet.name in query.filters:
            requests.append(
                {
                    **_base_request(settings, query),
                    **_page_fields(query),
                    "filter": _filter(query, skip_facet=facet.name),
                    "page": 1,
                    "hitsPerPage": 0,
                    "facets": [facet.distribution_attribute],
                }
            )
    return requests


def _facet_counts(
    query: SearchQuery, answers: Sequence[dict[str, Any]]
) -> tuple[list[FacetCounts], list[ActiveFilter]]:
    main_distribution: dict[str, dict[str, int]] = answers[0].get("facetDistribution") or {}
    # The answers after the first are the per-facet counts, in the order they were asked.
    own: dict[str, dict[str, int]] = {}
    extra = iter(answers[1:])
    for facet in query.facets:
        if facet.name in query.filters:
            answer = next(extra)
            own[facet.name] = (answer.get("facetDistribution") or {}).get(
                facet.distribution_attribute, {}
            )
    facets: list[FacetCounts] = []
    active: list[ActiveFilter] = []
    for facet in query.facets:
        distribution = own.get(facet.name, main_distribution.get(facet.distribution_attribute, {}))
        selected = query.filters.get(facet.name, ())
        selected_keys = {v.casefold() for v in selected}
        values: dict[str, FacetValue] = {}
        for key, count in distribution.items():
            value, stored = split_label(facet, key)
            if value.casefold() in values:
                continue  # the same value under an older label: keep the first
            values[value.casefold()] = FacetValue(
                value, facet.display(value, stored), int(count), value.casefold() in selected_keys
            )
        for value in selected:
            # A selected value with no match still shows, so that it can be unticked.
            values.setdefault(value.casefold(), FacetValue(value, facet.display(value), 0, True))
        ordered = list(values.values())
        if facet.name == "year":
            ordered.sort(key=lambda v: v.value, reverse=True)
        else:
            ordered.sort(key=lambda v: (-v.count, v.label.casefold()))
        facets.append(FacetCounts(facet.name, facet.title, ordered))
        by_key = {v.value.casefold(): v for v in ordered}
        active.extend(
            ActiveFilter(facet.name, value, f"{facet.title}: {by_key[value.casefold()].label}")
            for value in selected
        )
    return facets, active


def _date_filters(query: SearchQuery) -> list[ActiveFilter]:
    labels = {
        "date_from": "Dated from",
        "date_to": "Dated until",
        "released_from": "Released from",
        "released_to": "Released until",
    }
    out = []
    for name, label in labels.items():
        day: dt.date | None = getattr(query, name)
        if day is not None:
            out.append(ActiveFilter(name, day.isoformat(), f"{label} {day.isoformat()}"))
    return out


def _page_hit(document_id: int, slug: str, hit: dict[str, Any]) -> PageHit:
    number = int(hit["page"])
    group = hit.get("version_group")
    return PageHit(
        number=number,
        url=page_path(document_id, slug, number),
        snippet=highlight_html(_snippet(hit["_formatted"])),
        bates=hit.get("bates"),
        thumbnail_url=page_image_path(document_id, slug, number, "thumb"),
        version_group=int(group) if isinstance(group, int) else None,
    )


def _seam_only(hit: dict[str, Any]) -> bool:
    formatted = hit.get("_formatted") or {}
    return PRE not in str(formatted.get("text") or "") and PRE in str(formatted.get("seam") or "")


def _without_echoes(hits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Page hits without the echoes of a seam, and how many were left out.

    A page that matched only through its seam, while the next page matched through its own
    text, holds no more than the next page's first words: the words do not cross the page
    break, and the next page is the one to show.
    """
    own_text = {int(h["page"]) for h in hits if not _seam_only(h)}
    kept = [h for h in hits if not (_seam_only(h) and int(h["page"]) + 1 in own_text)]
    return kept, len(hits) - len(kept)


def _snippet(formatted: dict[str, Any]) -> str:
    """The page text's snippet, or its seam's when only the seam matched (a phrase that runs
    onto the next page)."""
    text = str(formatted.get("text") or "")
    seam = str(formatted.get("seam") or "")
    return seam if PRE not in text and PRE in seam else text


def _document_hit(hit: dict[str, Any], pages: list[PageHit], matching_pages: int) -> DocumentHit:
    doc_id, slug = int(hit["document_id"]), str(hit["document_slug"])
    published = hit.get("published_at")
    return DocumentHit(
        id=doc_id,
        title=str(hit["document_title"]),
        url=document_path(doc_id, slug),
        agencies=list(hit.get("agency_names") or []),
        productions=list(hit.get("production_titles") or []),
        pages=pages,
        slug=slug,
        document_date=_from_timestamp(hit.get("document_date")),
        release_date=_from_timestamp(hit.get("release_date")),
        document_type=hit.get("document_type"),
        page_count=hit.get("page_count"),
        matching_pages=matching_pages,
        published_at=(
            dt.datetime.fromtimestamp(published, dt.UTC)
            if isinstance(published, int | float)
            else None
        ),
    )


def _multi_search(client: MeiliClient, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return client.multi_search(requests)
    except MeiliUnavailableError as exc:
        raise UnavailableError("search is unavailable right now; try again shortly") from exc
    except MeiliError as exc:
        raise InvalidInputError(f"the search could not be run: {exc}") from exc


def search_pages(
    client: MeiliClient, settings: Settings, query: SearchQuery, *, allow_empty: bool = False
) -> SearchResults:
    """Documents matching ``query`` with their best pages and facet counts.

    With ``query.document`` set, the matching pages of that one document instead (paginated).
    An empty query (no words, no filter) asks Meilisearch nothing and returns no results,
    unless ``allow_empty`` (a feed of every new document) lists everything.
    """
    query = query.validated()
    if query.is_empty and not allow_empty:
        return SearchResults(query, 0, 0, [])
    if query.document is not None:
        return _search_in_document(client, settings, query)
    answers = _multi_search(client, grouped_requests(settings, query))
    hits: list[dict[str, Any]] = answers[0]["hits"]
    page_answers = (
        _multi_search(client, [pages_request(settings, query, h["document_id"]) for h in hits])
        if hits
        else []
    )
    documents = []
    for hit, pages in zip(hits, page_answers, strict=True):
        doc_id, slug = int(hit["document_id"]), str(hit["document_slug"])
        page_hits, echoes = _without_echoes(pages["hits"])
        documents.append(
            _document_hit(
                hit,
                [_page_hit(doc_id, slug, p) for p in page_hits],
                int(pages.get("totalHits", len(pages["hits"]))) - echoes,
            )
        )
    documents = _fold_versions(client, settings, query, documents)
    facets, active = _facet_counts(query, answers)
    return SearchResults(
        query,
        int(answers[0].get("totalHits", 0)),
        int(answers[0].get("totalPages", 0)),
        documents,
        facets,
        active + _date_filters(query),
        searched=True,
    )


def _search_in_document(
    client: MeiliClient, settings: Settings, query: SearchQuery
) -> SearchResults:
    answers = _multi_search(client, in_document_requests(settings, query))
    hits, echoes = _without_echoes(answers[0]["hits"])
    total = int(answers[0].get("totalHits", 0)) - echoes
    documents = []
    if hits:
        doc_id, slug = int(hits[0]["document_id"]), str(hits[0]["document_slug"])
        documents.append(_document_hit(hits[0], [_page_hit(doc_id, slug, h) for h in hits], total))
    facets, active = _facet_counts(query, answers)
    return SearchResults(
        query,
        1 if total else 0,
        int(answers[0].get("totalPages", 0)),
        documents,
        facets,
        active + _date_filters(query),
        total_matching_pages=total,
        searched=True,
    )
