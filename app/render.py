"""One handler, two renderings: the same data as HTML (Jinja2) or as its ``.json`` twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from app.config import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "frontend" / "templates"
STATIC_DIR = PROJECT_ROOT / "frontend" / "static"

templates = Jinja2Templates(directory=Path(TEMPLATES_DIR))


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def json_twin_url(request: Request) -> str:
    path = request.url.path
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{path}.json{query}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    payload: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """HTML from ``template`` and ``context``, or ``payload`` as JSON for a ``.json`` URL."""
    if wants_json(request):
        return JSONResponse(payload, status_code=status_code)
    twin = json_twin_url(request)
    response = templates.TemplateResponse(
        request, template, {**context, "json_url": twin}, status_code=status_code
    )
    response.headers["Link"] = f'<{twin}>; rel="alternate"; type="application/json"'
    return response


def render_error(request: Request, status_code: int, code: str, message: str) -> Response:
    """The one error envelope: ``{"error": {"status", "code", "message"}}`` or an HTML page."""
    payload = {"error": {"status": status_code, "code": code, "message": message}}
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse(payload, status_code=status_code)
    html = templates.get_template("error.html").render(
        request=request, status=status_code, code=code, message=message
    )
    return HTMLResponse(html, status_code=status_code)
