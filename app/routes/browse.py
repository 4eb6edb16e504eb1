"""Home, agencies, FOIA requests and productions, each with its ``.json`` twin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from app.deps import SessionDep, SettingsDep
from app.models import Agency, Document, FoiaRequest
from app.render import render
from app.routes.documents import content_disposition
from app.routes.releases import exemption_chart, exemption_stats_json, release_change_json
from app.routes.versions import withheld_json
from app.services.browse import (
    MAX_LISTING_PAGE,
    AgencySummary,
    ProductionSummary,
    list_agencies,
    show_agency,
    show_home,
    show_production,
    show_request,
)
from app.services.bundles import bundle_size, production_bundle, stream_bundle
from app.services.documents import exemption_label
from app.services.releases import (
    exemption_stats_by_production,
    exemption_stats_by_year,
    release_history,
)
from app.services.versions import production_withheld, request_withheld
from app.urls import (
    agency_path,
    document_path,
    production_download_path,
    production_path,
    request_path,
)

router = APIRouter()

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def agency_json(agency: Agency) -> dict[str, Any]:
    return {
        "slug": agency.slug,
        "name": agency.name,
        "abbreviation": agency.abbreviation,
        "url": agency_path(agency.slug),
    }


def _agency_summary_json(summary: AgencySummary) -> dict[str, Any]:
    parent = summary.agency.parent
    return {
        **agency_json(summary.agency),
        "parent": agency_json(parent) if parent else None,
        "productions": summary.productions,
        "documents": summary.documents,
    }


def _request_json(request: FoiaRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "tracking_number": request.tracking_number,
        "url": request_path(request.id),
        "subject": request.subject,
        "requester": request.requester,
        "filed_date": request.filed_date.isoformat() if request.filed_date else None,
        "court_case": request.court_case,
    }


def production_summary_json(summary: ProductionSummary) -> dict[str, Any]:
    production = summary.production
    return {
        "id": production.id,
        "title": production.title,
        "url": production_path(production.id),
        "release_date": production.release_date.isoformat() if production.release_date else None,
        "published_at": production.published_at.isoformat() if production.published_at else None,
        "description": production.description,
        "source_url": production.source_url,
        "agency": agency_json(production.agency),
        "request": _request_json(production.request) if production.request else None,
        "documents": summary.documents,
        "pages": summary.pages,
    }


def _document_row_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "title": document.title,
        "url": document_path(document.id, document.slug),
        "page_count": document.page_count,
        "document_date": document.document_date.isoformat() if document.document_date else None,
        "document_type": document.document_type,
        "bates_start": document.bates_start,
        "bates_end": document.bates_end,
    }


# "/" and "/.json" render the home page; "/.json" exists because every HTML page advertises
# its twin at its own path plus ".json". "/index.json" is the documented name.
@router.get("/", include_in_schema=False)
@router.get("/.json", include_in_schema=False)
@router.get("/index.json")
def show_home_page(request: Request, session: SessionDep) -> Response:
    """The search box, totals and the latest published productions."""
    home = show_home(session)
    payload = {
        "totals": {"documents": home.documents, "pages": home.pages},
        "productions": home.productions,
        "latest_productions": [production_summary_json(s) for s in home.latest],
    }
    return render(request, "home.html", {"home": home, **payload}, payload)


@router.get("/agencies", include_in_schema=False)
@router.get("/agencies.json")
def list_agencies_page(request: Request, session: SessionDep) -> Response:
    """Agencies with published productions, departments first and their components under them."""
    agencies = list_agencies(session)
    payload = {"agencies": [_agency_summary_json(s) for s in agencies]}
    return render(request, "agencies.html", {"agencies": agencies}, payload)


@router.get("/agencies/{slug}", include_in_schema=False)
@router.get("/agencies/{slug}.json")
def show_agency_page(
    request: Request, slug: Annotated[str, Path(max_length=120)], session: SessionDep
) -> Response:
    """One agency with its sub-agencies, FOIA requests and productions."""
    view = show_agency(session, slug)
    payload = {
        "agency": {
            **agency_json(view.agency),
            "parent": agency_json(view.parent) if view.parent else None,
        },
        "children": [_agency_summary_json(s) for s in view.children],
        "requests": [
            {**_request_json(r.request), "productions": r.productions} for r in view.requests
        ],
        "productions": [production_summary_json(s) for s in view.productions],
    }
    stats = exemption_stats_by_year(session, [s.production for s in view.productions])
    payload["exemption_stats"] = exemption_stats_json(stats)  # issue 11
    context = {
        "view": view,
        "stats": stats,
        "chart": exemption_chart(stats),
        "exemption_label": exemption_label,
    }
    return render(request, "agency.html", context, payload)


@router.get("/requests/{request_id}", include_in_schema=False)
@router.get("/requests/{request_id}.json")
def show_request_page(request: Request, request_id: Id, session: SessionDep) -> Response:
    """One FOIA request and its published productions."""
    view = show_request(session, request_id)
    # Issue 11: what each release withheld, added and re-released, and the exemptions.
    withheld = request_withheld(session, view.request)
    productions = [s.production for s in view.productions]
    history = release_history(session, productions)
    stats = exemption_stats_by_production(session, productions)
    payload = {
        "request": {**_request_json(view.request), "agency": agency_json(view.request.agency)},
        "productions": [production_summary_json(s) for s in view.productions],
        "withheld": withheld_json(withheld),
        "release_history": [release_change_json(h) for h in history],
        "exemption_stats": exemption_stats_json(stats),
    }
    context = {
        "view": view,
        "withheld": withheld,
        "history": history,
        "stats": stats,
        "chart": exemption_chart(stats),
        "exemption_label": exemption_label,
    }
    return render(request, "request.html", context, payload)


@router.get("/productions/{production_id}", include_in_schema=False)
@router.get("/productions/{production_id}.json")
def show_production_page(
    request: Request,
    production_id: Id,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_LISTING_PAGE)] = 1,
) -> Response:
    """A production: its public documents, and how many files are not shown and why."""
    view = show_production(session, production_id, page=page)
    listing = view.listing
    size = bundle_size(session, production_id)
    download = {
        "url": production_download_path(production_id),
        "documents": size.documents,
        "bytes": size.bytes,
    }
    payload = {
        "production": production_summary_json(view.summary),
        "download": download if size.documents else None,
        "documents": [_document_row_json(d) for d in view.documents],
        "paging": {
            "page": listing.page,
            "per_page": listing.per_page,
            "total": listing.total,
            "pages": listing.pages,
        },
        "unavailable": [
            {"state": g.state, "label": g.label, "count": g.count, "reasons": g.reasons}
            for g in view.unavailable
        ],
    }
    withheld = production_withheld(session, view.summary.production)  # issue 11
    payload["withheld"] = withheld_json(withheld)
    context = {
        "view": view,
        "download": payload["download"],
        "withheld": withheld,
        "exemption_label": exemption_label,
    }
    return render(request, "production.html", context, payload)


@router.get(
    "/productions/{production_id}/download.zip",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "The production's public originals, in its order, and manifest.csv",
        }
    },
)
def download_production(production_id: Id, session: SessionDep, settings: SettingsDep) -> Response:
    """Every public original of a published production in one ZIP, with a manifest."""
    bundle = production_bundle(session, production_id)
    return StreamingResponse(
        stream_bundle(settings, bundle),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition("attachment", bundle.filename),
            # A takedown or a newly published document must reach caches within the hour.
            "Cache-Control": "public, max-age=3600",
        },
    )
