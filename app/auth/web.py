"""Rendering the private pages (accounts, uploads, moderation): same two renderings as the
public site, plus the CSRF token and the viewer in the template context, and headers that
keep them out of caches and search engines."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from app.auth.models import User
from app.auth.sessions import session_csrf_token
from app.errors import InvalidInputError
from app.render import render

M = TypeVar("M", bound=BaseModel)


def private_headers(response: Response) -> Response:
    # Pages that depend on who is logged in must never be served to someone else by a cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def render_private(
    request: Request,
    template: str,
    context: dict[str, Any],
    payload: dict[str, Any],
    *,
    user: User | None,
    status_code: int = 200,
) -> Response:
    """``render`` for a private page: the viewer and a CSRF token for its forms."""
    full = {**context, "viewer": user, "csrf_token": session_csrf_token(request)}
    return private_headers(render(request, template, full, payload, status_code=status_code))


def safe_next(value: str | None, default: str) -> str:
    """A path on this site to go back to after a form; anything else (another host) is ignored."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value:
        return default
    return value


def see_other(path: str) -> Response:
    """After a form POST: go to ``path`` with a GET (so reloading does not post again)."""
    return private_headers(RedirectResponse(path, status_code=303))


def parse_form(model: type[M], values: dict[str, Any]) -> M:
    """``values`` (a form's fields) as ``model``; a mistake is a readable 400, not a 500."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InvalidInputError(form_errors(exc)) from exc


def form_errors(exc: ValidationError) -> str:
    """Pydantic's complaints as one line a person can act on."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'form'}: {error['msg']}"
        for error in exc.errors()
    )
