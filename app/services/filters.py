"""Meilisearch filter expressions, built only from an allow-list of fields with escaped values.

A filter is a small language, and concatenating a visitor's text into it would let
``ice" OR published = false OR x = "`` rewrite the query (``AND`` binds tighter than ``OR``).
So: a value only ever goes into a field named here, always between double quotes, with ``\\``
escaped first and then ``"``. The filter goes to Meilisearch as an array (AND of its elements;
an inner array is an OR), with the visibility rule as an element of its own that no value can
reach.

Facets come in two scopes. Over grouped results (one hit per document) every facet is a
document-level field, because under ``distinct`` Meilisearch counts a value only on the one page
that represents each document. Inside one document the hits are pages, so exemptions and
redactions are filtered and counted per page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.errors import InvalidInputError

VISIBLE = "published = true"

MAX_VALUE_LENGTH = 200
MAX_VALUES_PER_FACET = 20
# Page labels and ids are stored as "<value>|<label>" (see ingest.index._document_fields).
LABEL_SEPARATOR = "|"

FilterExpression = list[str | list[str]]


class ValueKind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"


def quote(value: str) -> str:
    """``value`` as a Meilisearch filter string literal: ``\\`` escaped first, then ``"``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(attribute: str, value: str) -> str:
    """The condition ``attribute = "value"``; ``attribute`` must come from this module."""
    return f"{attribute} = {quote(value)}"


def exemption_label(code: str) -> str:
    """``b7C`` as printed on released pages: ``(b)(7)(C)``."""
    if len(code) >= 2 and code[0] in "bB" and code[1].isdigit():
        return f"(b)({code[1]})" + (f"({code[2:].upper()})" if code[2:] else "")
    return code


def _type_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _redacted_label(value: str) -> str:
    return "With redactions" if value == "true" else "Without redactions"


def _versions_label(value: str) -> str:
    return "Released differently elsewhere" if value == "true" else "Not released differently"


@dataclass(frozen=True)
class Facet:
    """One multi-select facet: a query parameter bound to one index field."""

    name: str  # the query parameter, e.g. ``agency``
    title: str  # the heading a person reads
    attribute: str  # the index field filtered on
    kind: ValueKind = ValueKind.TEXT
    # The field whose distribution gives counts; for labelled facets it holds "value|label".
    counted: str | None = None
    label: Callable[[str], str] | None = None
    min_int: int = 0
    max_int: int = 2**53

    @property
    def distribution_attribute(self) -> str:
        return self.counted or self.attribute

    @property
    def labelled(self) -> bool:
        return self.counted is not None

    def parse(self, raw: str) -> str:
        """The canonical form of one submitted value, or ``InvalidInputError``."""
        value = raw.strip()
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidInputError(
                f"a {self.name} value is longer than {MAX_VALUE_LENGTH} characters"
            )
        if self.kind is ValueKind.INTEGER:
            if not value.isascii() or not value.isdigit():
                raise InvalidInputError(f"{self.name} must be a whole number, not {raw!r}")
            number = int(value)
            if not self.min_int <= number <= self.max_int:
                raise InvalidInputError(f"{self.name} {number} is out of range")
            return str(number)
        if self.kind is ValueKind.BOOLEAN:
            lowered = value.lower()
            if lowered not in {"true", "false"}:
                raise InvalidInputError(f"{self.name} must be true or false, not {raw!r}")
            return lowered
        return value

    def display(self, value: str, stored_label: str | None = None) -> str:
        """What a person reads for ``value``."""
        if stored_label:
            return stored_label
        return self.label(value) if self.label else value


_AGENCY = Facet("agency", "Agency", "agency_slugs", counted="agency_labels")
_REQUEST = Facet("request", "FOIA request", "request_numbers")
_PRODUCTION = Facet(
    "production",
    "Production",
    "production_ids",
    ValueKind.INTEGER,
    counted="production_labels",
    min_int=1,
)
_YEAR = Facet("year", "Year of the document", "document_year", ValueKind.INTEGER, max_int=9999)
_TYPE = Facet("type", "Document type", "document_type", label=_type_label)

# Over grouped results: every field is constant across a document's pages.
DOCUMENT_FACETS: tuple[Facet, ...] = (
    _AGENCY,
    _REQUEST,
    _PRODUCTION,
    _YEAR,
    _TYPE,
    Facet("exemption", "Exemptions claimed", "document_exemptions", label=exemption_label),
    Facet(
        "redacted",
        "Redactions",
        "document_has_redactions",
        ValueKind.BOOLEAN,
        label=_redacted_label,
    ),
    # Issue 11: a version of some page in another release hides or shows other words.
    Facet(
        "released_differently",
        "Versions",
        "document_released_differently",
        ValueKind.BOOLEAN,
        label=_versions_label,
    ),
)

# Inside one document: the hits are pages, so these count and filter pages.
PAGE_FACETS: tuple[Facet, ...] = (
    Facet("exemption", "Exemptions on the page", "exemptions", label=exemption_label),
    Facet("redacted", "Redactions", "has_redactions", ValueKind.BOOLEAN, label=_redacted_label),
    Facet(
        "released_differently",
        "Versions",
        "released_differently",
        ValueKind.BOOLEAN,
        label=_versions_label,
    ),
)

FACET_NAMES: tuple[str, ...] = tuple(f.name for f in DOCUMENT_FACETS)


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days on a date field stored as a UTC-midnight timestamp."""

    attribute: str  # ``document_date`` or ``release_date``
    start: dt.date | None = None
    end: dt.date | None = None

    def conditions(self) -> list[str]:
        # Integers we computed ourselves: nothing a visitor typed reaches the expression.
        out = []
        if self.start is not None:
            out.append(f"{self.attribute} >= {day_timestamp(self.start)}")
        if self.end is not None:
            out.append(f"{self.attribute} <= {day_timestamp(self.end)}")
        return out


DATE_ATTRIBUTES = frozenset({"document_date", "release_date"})


def day_timestamp(day: dt.date) -> int:
    """The timestamp the index stores for ``day`` (midnight UTC)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def facets_for(scope_document: bool) -> tuple[Facet, ...]:
    """The facets of grouped results, or of the pages inside one document."""
    return PAGE_FACETS if scope_document else DOCUMENT_FACETS


def parse_selections(
    raw: Mapping[str, Sequence[str]], facets: Sequence[Facet]
) -> dict[str, tuple[str, ...]]:
    """Submitted facet values, validated and de-duplicated, keyed by facet name in order.

    Unknown facet names are refused; empty values (an untouched form field) are ignored.
    """
    known = {f.name: f for f in facets}
    submitted = {name for name, values in raw.items() if any(v.strip() for v in values)}
    unknown = sorted(submitted - set(known))
    if unknown:
        raise InvalidInputError(f"cannot filter on {', '.join(unknown)} here")
    selections: dict[str, tuple[str, ...]] = {}
    for facet in facets:
        values: list[str] = []
        for item in raw.get(facet.name, ()):
            if not item.strip():
                continue
            value = facet.parse(item)
            if value.casefold() not in {v.casefold() for v in values}:
                values.append(value)
        if len(values) > MAX_VALUES_PER_FACET:
            raise InvalidInputError(
                f"at most {MAX_VALUES_PER_FACET} {facet.name} values can be combined"
            )
        if values:
            selections[facet.name] = tuple(values)
    return selections


def build_filter(
    facets: Sequence[Facet],
    selections: Mapping[str, Sequence[str]],
    *,
    ranges: Sequence[DateRange] = (),
    document_id: int | None = None,
    skip_facet: str | None = None,
) -> FilterExpression:
    """The filter array: visibility first, then OR within a facet and AND across facets.

    ``skip_facet`` leaves one facet's own selection out, which is how the counts of a
    multi-select facet are computed (its other values stay selectable).
    """
    expression: FilterExpression = [VISIBLE]
    if document_id is not None:
        expression.append(f"document_id = {int(document_id)}")
    for facet in facets:
        values = selections.get(facet.name, ())
        if facet.name == skip_facet or not values:
            continue
        expression.append([equals(facet.attribute, v) for v in values])
    for date_range in ranges:
        if date_range.attribute not in DATE_ATTRIBUTES:
            raise ValueError(f"{date_range.attribute} is not a date field of the index")
        expression.extend(date_range.conditions())
    return expression


def split_label(facet: Facet, key: str) -> tuple[str, str | None]:
    """A distribution key as (filter value, stored label) for labelled facets."""
    if facet.labelled and LABEL_SEPARATOR in key:
        value, label = key.split(LABEL_SEPARATOR, 1)
        return value, label
    return key, None
