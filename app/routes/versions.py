"""The compare view, and the pieces of the page, document, production and request views
that show versions and what was withheld (each with its ``.json`` twin, same data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.deps import SessionDep, SettingsDep
from app.models import Production
from app.render import render
from app.services.documents import exemption_label
from app.services.pages import image_size
from app.services.versions import (
    Comparison,
    DiffWord,
    DocumentVersionView,
    OtherVersion,
    SideView,
    Withheld,
    compare_pages,
)
from app.urls import (
    compare_path,
    document_path,
    page_image_path,
    page_path,
    production_path,
)

router = APIRouter()


def production_json(production: Production) -> dict[str, Any]:
    return {
        "id": production.id,
        "title": production.title,
        "url": production_path(production.id),
        "release_date": production.release_date.isoformat() if production.release_date else None,
    }


def other_version_json(version: OtherVersion, here: str) -> dict[str, Any]:
    doc, page = version.document, version.page
    return {
        "document": {"id": doc.id, "title": doc.title, "url": document_path(doc.id, doc.slug)},
        "page": page.number,
        "url": page_path(doc.id, doc.slug, page.number),
        "compare_url": compare_path(here, version.ref),
        "bates": page.bates_number,
        "productions": [production_json(p) for p in version.productions],
        "similarity": version.similarity,
        "words_only_here": version.only_here,
        "words_only_there": version.only_there,
        "redaction_count": page.redaction_count,
        "exemptions": list(page.exemptions or []),
    }


def document_version_json(version: DocumentVersionView) -> dict[str, Any]:
    doc = version.document
    return {
        "id": doc.id,
        "title": doc.title,
        "url": document_path(doc.id, doc.slug),
        "relation": version.relation,
        "label": version.label,
        "shared_pages": version.shared_pages,
        "pages_in_order": version.ordered_pages,
        "page_count": doc.page_count,
    }


def withheld_json(withheld: Withheld) -> dict[str, Any]:
    return {
        "withheld_pages": withheld.withheld_pages,
        "by_exemption": [
            {"code": code, "label": exemption_label(code) if code != "none" else None, "pages": n}
            for code, n in sorted(withheld.by_exemption.items())
        ],
        "slip_sheets": [
            {
                "document": {"id": s.document.id, "title": s.document.title},
                "url": page_path(s.document.id, s.document.slug, s.page_number),
                "bates": s.bates,
                "exemptions": s.exemptions,
                "pages": s.pages,
            }
            for s in withheld.slip_sheets
        ],
        "bates_gaps": [
            {
                "series": g.gap.series,
                "first": g.gap.first,
                "last": g.gap.last,
                "pages": g.gap.pages,
                "label": g.gap.label,
                "in_other_releases": g.elsewhere,
                "never_released": [
                    {"first": n.first, "last": n.last, "pages": n.pages, "label": n.label}
                    for n in g.never
                ],
            }
            for g in withheld.gaps
        ],
        "pages_in_no_release": withheld.missing_pages,
    }


def _word_json(word: DiffWord | str) -> Any:
    if isinstance(word, str):
        return word
    box = word.box
    return {
        "text": word.text,
        "reason": word.reason,
        "explanation": word.explanation,
        "box": [box.x0, box.y0, box.x1, box.y1] if box else None,
    }


def _side_json(side: SideView) -> dict[str, Any]:
    doc, page = side.ref.document, side.ref.page
    width, height = image_size(page.width, page.height, "image")
    if side.rotation % 180 == 90:
        width, height = height, width
    return {
        "document": {"id": doc.id, "title": doc.title, "url": document_path(doc.id, doc.slug)},
        "page": page.number,
        "url": page_path(doc.id, doc.slug, page.number),
        "bates": page.bates_number,
        "productions": [production_json(p) for p in side.productions],
        "exemptions": list(page.exemptions or []),
        "redaction_count": page.redaction_count,
        "redaction_boxes": [list(b) for b in side.redactions],
        "image": {
            "url": page_image_path(doc.id, doc.slug, page.number, "image"),
            "width": width,
            "height": height,
        },
        "words": side.words,
        "differing_words": [_word_json(m) for m in side.marks],
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "a": _side_json(comparison.a),
        "b": _side_json(comparison.b),
        "similarity": round(comparison.similarity, 4),
        "same_layout": comparison.same_layout,
        "counts": comparison.counts,
        "aligned": [
            {"kind": r.kind, "a": [_word_json(w) for w in r.a], "b": [_word_json(w) for w in r.b]}
            for r in comparison.runs
        ],
    }


@router.get("/compare/{left}...{right}", include_in_schema=False)
@router.get("/compare/{left}...{right}.json")
def show_compare(
    request: Request, left: str, right: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """Two versions of a page side by side: pages are ``document-page`` (``12-3...45-3``)."""
    comparison = compare_pages(settings, session, left, right)
    return render(
        request,
        "compare.html",
        {"c": comparison, "exemption_label": exemption_label},
        comparison_json(comparison),
    )
