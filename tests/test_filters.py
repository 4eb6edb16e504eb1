"""Filter expressions: allow-listed fields, quoted and escaped values, visibility on its own.

The property test sends what ``build_filter`` makes to a real Meilisearch: whatever the value,
the filter is accepted and matches the record holding that value and nothing else, not even
an unpublished record with the same value.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import InvalidInputError
from app.meili import MeiliClient
from app.services.filters import (
    DOCUMENT_FACETS,
    PAGE_FACETS,
    VISIBLE,
    DateRange,
    build_filter,
    equals,
    exemption_label,
    parse_selections,
    quote,
)
from ingest.index import apply_index_settings

AGENCY = next(f for f in DOCUMENT_FACETS if f.name == "agency")


def test_values_are_quoted_with_backslash_escaped_before_quotes() -> None:
    assert quote("ice") == '"ice"'
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\") == '"a\\\\"'
    # Escaping the quote first would leave its backslash unescaped: a\" -> a\\\" not a\\".
    assert quote('a\\"') == '"a\\\\\\""'
    assert equals("agency_slugs", 'x" OR published = false') == (
        'agency_slugs = "x\\" OR published = false"'
    )


def test_filter_is_an_array_with_visibility_first_or_within_and_across() -> None:
    selections = parse_selections(
        {"agency": ["ice", "cbp", "ICE", " "], "exemption": ["b6"], "year": ["2021"]},
        DOCUMENT_FACETS,
    )
    assert selections == {"agency": ("ice", "cbp"), "year": ("2021",), "exemption": ("b6",)}
    expression = build_filter(
        DOCUMENT_FACETS,
        selections,
        ranges=[DateRange("document_date", None, None), DateRange("release_date", None, None)],
        document_id=None,
    )
    assert expression == [
        VISIBLE,
        ['agency_slugs = "ice"', 'agency_slugs = "cbp"'],
        ['document_year = "2021"'],
        ['document_exemptions = "b6"'],
    ]
    assert build_filter(DOCUMENT_FACETS, selections, skip_facet="agency")[1] == [
        'document_year = "2021"'
    ]


def test_dates_and_documents_are_integers_we_compute() -> None:
    import datetime as dt

    expression = build_filter(
        PAGE_FACETS,
        {"redacted": ("true",)},
        ranges=[DateRange("document_date", dt.date(2021, 1, 1), dt.date(2021, 1, 31))],
        document_id=7,
    )
    assert expression == [
        VISIBLE,
        "document_id = 7",
        ['has_redactions = "true"'],
        "document_date >= 1609459200",
        "document_date <= 1612051200",
    ]
    with pytest.raises(ValueError, match="not a date field"):
        build_filter(PAGE_FACETS, {}, ranges=[DateRange("published", dt.date(2021, 1, 1))])


def test_only_known_facets_and_well_formed_values_pass() -> None:
    with pytest.raises(InvalidInputError, match="cannot filter on published"):
        parse_selections({"published": ["false"]}, DOCUMENT_FACETS)
    with pytest.raises(InvalidInputError, match="cannot filter on agency"):
        parse_selections({"agency": ["ice"]}, PAGE_FACETS)
    with pytest.raises(InvalidInputError, match="whole number"):
        parse_selections({"production": ["1 OR 1=1"]}, DOCUMENT_FACETS)
    with pytest.raises(InvalidInputError, match="whole number"):
        parse_selections({"production": ["١٢"]}, DOCUMENT_FACETS)  # Arabic-Indic digits
    with pytest.raises(InvalidInputError, match="true or false"):
        parse_selections({"redacted": ["1"]}, DOCUMENT_FACETS)
    assert parse_selections({"redacted": ["TRUE"]}, DOCUMENT_FACETS) == {"redacted": ("true",)}
    assert parse_selections({"production": [" 0012 "]}, DOCUMENT_FACETS) == {"production": ("12",)}


def test_exemption_codes_read_as_printed() -> None:
    assert exemption_label("b6") == "(b)(6)"
    assert exemption_label("b7C") == "(b)(7)(C)"
    assert exemption_label("b7c") == "(b)(7)(C)"
    assert exemption_label("other") == "other"


# --- against the real engine --------------------------------------------------------------------


@pytest.fixture
def pages_index(meili: MeiliClient, index_prefix: str) -> str:
    uid = f"{index_prefix}pages"
    apply_index_settings(meili, uid, f"{index_prefix}documents")  # dropped with the prefix
    return uid


_ids = itertools.count()

# Anything a browser can send: every code point but surrogates, padded or not.
filter_values = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60
).filter(lambda v: v.strip() != "")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=filter_values)
def test_any_value_makes_a_filter_that_matches_exactly_that_value(
    meili: MeiliClient, pages_index: str, raw: str
) -> None:
    value = AGENCY.parse(raw)
    batch = next(_ids)

    def record(suffix: str, agency: str, *, published: bool = True) -> dict[str, object]:
        return {
            "id": f"{batch}-{suffix}",
            "document_id": batch,
            "published": published,
            "agency_slugs": [agency],
            "text": "",
        }

    records = [
        record("target", value),
        record("hidden", value, published=False),  # same value, never public
        record("other", "other"),
        record("longer", value + "x"),
        record("prefixed", "x" + value),
    ]
    meili.wait(meili.add_documents(pages_index, records))
    expression = build_filter(DOCUMENT_FACETS, parse_selections({"agency": [raw]}, DOCUMENT_FACETS))
    answer = meili.search(
        pages_index,
        {"q": "", "filter": [*expression, f"document_id = {batch}"], "limit": 10},
    )
    assert [hit["id"] for hit in answer["hits"]] == [f"{batch}-target"]
