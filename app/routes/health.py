"""``/healthz``: is the site able to serve? 200 when both components answer, else 503."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import SearchDep, SessionDep
from app.services.health import check_health

router = APIRouter()


@router.get("/healthz")
def show_health(session: SessionDep, client: SearchDep) -> JSONResponse:
    health = check_health(session, client)
    return JSONResponse(
        {
            "status": "ok" if health.ok else "degraded",
            "database": {"ok": health.database, "detail": health.database_detail},
            "search": {"ok": health.search, "detail": health.search_detail},
        },
        status_code=200 if health.ok else 503,
    )
