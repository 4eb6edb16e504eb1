"""Shapes of JSON answers that are built as plain dicts, for the OpenAPI document only.

The search twin and oEmbed are rendered from dicts (one handler, two renderings), so FastAPI
cannot infer their shape; these models describe it, and ``tests/test_api_fuzz.py`` checks
every answer against them. Extra keys are allowed, as the JSON promise says keys are only
ever added.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class SearchPage(BaseModel):
    number: int
    url: str
    snippet: str = Field(description="HTML: the page text around the match, hits in <mark>.")
    bates: str | None
    thumbnail_url: str
    reader_url: str
    version_group: int | None = Field(
        default=None, description="The page's version group across releases, if any."
    )
    also_in_other_releases: int = Field(
        default=0, description="Versions of this page in other documents that match too."
    )


class SearchDocumentFields(BaseModel):
    id: int
    url: str
    title: str
    slug: str
    agencies: list[str]
    productions: list[str]
    document_date: str | None = Field(description="YYYY-MM-DD")
    release_date: str | None = Field(description="YYYY-MM-DD")
    document_type: str | None
    page_count: int | None


class SearchFolded(BaseModel):
    id: int
    title: str
    url: str


class SearchDocument(BaseModel):
    id: int
    title: str
    url: str
    agencies: list[str]
    productions: list[str]
    pages: list[SearchPage] = Field(description="The best matching pages of the document.")
    document: SearchDocumentFields
    matching_pages: int
    search_inside_url: str
    also_released_as: list[SearchFolded] = Field(
        default_factory=list,
        description="Documents whose matching pages are all versions of this one's.",
    )


class SearchQueryEcho(BaseModel):
    q: str
    page: int
    per_page: int
    sort: str
    document: int | None
    filters: dict[str, list[str]]
    date_from: str | None
    date_to: str | None
    released_from: str | None
    released_to: str | None


class FacetValueCount(BaseModel):
    value: str
    label: str
    count: int
    selected: bool


class FacetCount(BaseModel):
    title: str
    values: list[FacetValueCount]


class ActiveFilterLink(BaseModel):
    name: str
    value: str
    label: str
    remove_url: str


class SearchLinks(BaseModel):
    self_url: str = Field(alias="self")
    prev: str | None
    next: str | None
    atom: str | None
    clear_filters: str


class SearchAnswer(BaseModel):
    """``/search.json``: documents grouped with their matching pages, and facet counts."""

    query: SearchQueryEcho
    total_documents: int
    total_result_pages: int
    total_matching_pages: int | None
    documents: list[SearchDocument]
    facets: dict[str, FacetCount]
    filters: list[ActiveFilterLink]
    links: SearchLinks


class OEmbedAnswer(BaseModel):
    """An oEmbed 1.0 ``rich`` response (https://oembed.com/#section2.3)."""

    version: str
    type: str
    provider_name: str
    provider_url: str
    title: str
    author_name: str | None
    url: str
    html: str = Field(description="An <iframe> of the page's embed view.")
    width: int
    height: int
    thumbnail_url: str
    thumbnail_width: int
    thumbnail_height: int
    cache_age: int
