"""Every route of the app, checked for who may change things.

The routes are read from the app itself, so a write route added later is checked without
anyone remembering to list it here: anonymous visitors are refused (401, or sent to log in),
a session without the form's CSRF token is refused, moderators' routes refuse volunteers,
and a revoked API token opens nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from app.auth.models import ApiToken, Role
from app.auth.tokens import revoke_token
from app.config import Settings
from app.db import session_scope
from app.routes.accounts import PUBLIC_WRITE_ROUTES
from tests.auth_helpers import (
    bearer,
    create_production_api,
    login,
    make_token,
    make_user,
    new_client,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRIVATE_PREFIXES = ("/accounts", "/uploads", "/moderation", "/api/productions")
CSRF_MESSAGE = "did not come from this site"
_PARAM = re.compile(r"\{[^}]+\}")


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every FastAPI route, including those of included routers."""
    # Since FastAPI 0.13x included routers stay nested in ``app.routes``; this walks them.
    contexts: Iterable[Any] = getattr(fastapi.routing, "iter_route_contexts", list)(app.routes)
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                yield method, str(context.path)


def _write_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in _routes(app) if m in WRITE_METHODS]


def _url(path: str) -> str:
    # Every id-like parameter becomes 1: production 1 and document 1 exist (see ``world``).
    return _PARAM.sub("1", path)


def _send(
    client: TestClient, method: str, path: str, headers: dict[str, str] | None = None
) -> Response:
    url = _url(path)
    answer: Response
    if path.startswith("/api/"):
        answer = client.request(method, url, json={}, headers=headers, follow_redirects=False)
    else:
        answer = client.request(
            method, url, data={"x": "y"}, headers=headers, follow_redirects=False
        )
    return answer


def _refused_anonymously(answer: Response) -> bool:
    if answer.status_code in (401, 403):
        return True
    return answer.status_code == 303 and answer.headers["location"].startswith("/accounts/login")


@pytest.fixture
def world(web: TestClient, migrated_settings: Settings) -> dict[str, str]:
    """A volunteer owning production 1 (with document 1), a moderator, and a revoked token."""
    make_user(migrated_settings, "vol@example.org")
    make_user(migrated_settings, "mod@example.org", Role.MODERATOR)
    token = make_token(migrated_settings, "vol@example.org", "live")
    production_id = create_production_api(web, token)
    assert production_id == 1
    files = {"file": ("a.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")}
    uploaded = web.post("/api/productions/1/files", files=files, headers=bearer(token))
    assert uploaded.json()["files"][0]["document_id"] == 1
    revoked = make_token(migrated_settings, "vol@example.org", "revoked")
    with session_scope(migrated_settings) as session:
        old = session.scalars(select(ApiToken).where(ApiToken.name == "revoked")).one()
        revoke_token(session, old)
    return {"token": token, "revoked": revoked}


def test_the_route_list_is_read_from_the_app(web: TestClient) -> None:
    writes = _write_routes(web.app)  # type: ignore[arg-type]
    assert ("POST", "/api/productions/{production_id}/files") in writes
    assert ("POST", "/moderation/documents/{document_id}/take-down") in writes
    assert len(writes) >= 15


def test_every_write_route_refuses_anonymous_visitors(
    web: TestClient, world: dict[str, str]
) -> None:
    visitor = new_client(web)
    for method, path in _write_routes(web.app):  # type: ignore[arg-type]
        answer = _send(visitor, method, path)
        if (method, path) in PUBLIC_WRITE_ROUTES:
            # Open to visitors by nature (logging in), but still only from our own form.
            assert answer.status_code == 403, (method, path, answer.status_code)
            continue
        assert _refused_anonymously(answer), (method, path, answer.status_code, answer.text)


def test_every_private_page_refuses_anonymous_visitors(
    web: TestClient, world: dict[str, str]
) -> None:
    visitor = new_client(web)
    checked = 0
    for method, path in _routes(web.app):  # type: ignore[arg-type]
        if method != "GET" or not path.startswith(PRIVATE_PREFIXES) or path == "/accounts/login":
            continue
        answer = visitor.get(_url(path), follow_redirects=False)
        assert _refused_anonymously(answer), (path, answer.status_code)
        checked += 1
    assert checked >= 10


def test_every_write_route_needs_the_csrf_token_of_the_session(
    web: TestClient, world: dict[str, str]
) -> None:
    volunteer = new_client(web)
    login(volunteer, "vol@example.org")
    for method, path in _write_routes(web.app):  # type: ignore[arg-type]
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            answer = _send(volunteer, method, path, headers)
            assert answer.status_code == 403, (method, path, headers, answer.status_code)
            assert CSRF_MESSAGE in answer.text, (method, path, answer.text)
    # Still logged in: the refusals changed nothing.
    assert volunteer.get("/accounts.json").status_code == 200


def test_a_forged_token_in_an_upload_form_stores_nothing(
    web: TestClient, world: dict[str, str], migrated_settings: Settings
) -> None:
    volunteer = new_client(web)
    login(volunteer, "vol@example.org")
    files = {"file": ("b.pdf", b"%PDF-1.4 other bytes", "application/pdf")}
    answer = volunteer.post(
        "/uploads/productions/1/files", data={"csrf_token": "forged"}, files=files
    )
    assert answer.status_code == 403
    originals = migrated_settings.files_dir / "originals"
    assert len([p for p in originals.rglob("*") if p.is_file()]) == 1  # world's a.pdf only


def test_moderator_routes_refuse_volunteers(web: TestClient, world: dict[str, str]) -> None:
    volunteer = new_client(web)
    csrf = login(volunteer, "vol@example.org")
    checked = 0
    for method, path in _routes(web.app):  # type: ignore[arg-type]
        if not path.startswith("/moderation"):
            continue
        if method == "GET":
            answer = volunteer.get(_url(path), follow_redirects=False)
        else:
            answer = volunteer.request(
                method,
                _url(path),
                data={"csrf_token": csrf, "reason": "a long enough reason", "title": "x"},
                follow_redirects=False,
            )
        assert answer.status_code == 403, (method, path, answer.status_code)
        checked += 1
    assert checked >= 8
    # The same forms work for a moderator.
    moderator = new_client(web)
    csrf = login(moderator, "mod@example.org")
    answer = moderator.post(
        "/moderation/documents/1/edit",
        data={"csrf_token": csrf, "title": "Renamed"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_a_revoked_token_opens_nothing(web: TestClient, world: dict[str, str]) -> None:
    script = new_client(web)
    assert script.get("/api/productions/1", headers=bearer(world["token"])).status_code == 200
    checked = 0
    for method, path in _routes(web.app):  # type: ignore[arg-type]
        if method not in WRITE_METHODS and not path.startswith(PRIVATE_PREFIXES):
            continue
        if (method, path) in PUBLIC_WRITE_ROUTES or path == "/accounts/login":
            continue
        answer = _send(script, method, path, bearer(world["revoked"]))
        assert answer.status_code == 401, (method, path, answer.status_code)
        checked += 1
    assert checked >= 20


def test_api_tokens_need_no_csrf_token(web: TestClient, world: dict[str, str]) -> None:
    script = new_client(web)
    answer = script.post(
        "/api/productions",
        json={"agency": "CBP", "title": "By script"},
        headers=bearer(world["token"]),
    )
    assert answer.status_code == 201
