"""Accounts, logins, tokens and uploads for the tests of accounts, uploads and moderation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fastapi.routing
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.auth.accounts import create_user, get_user_by_email
from app.auth.models import Role
from app.auth.tokens import create_token
from app.config import Settings
from app.db import session_scope

PASSWORD = "correct horse battery staple"
FINAL_STATES = {"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"}


def make_user(
    settings: Settings, email: str, role: Role = Role.VOLUNTEER, *, trusted: bool = False
) -> int:
    with session_scope(settings) as session:
        return create_user(session, email, PASSWORD, role=role, trusted=trusted).id


def make_token(settings: Settings, email: str, name: str = "script") -> str:
    with session_scope(settings) as session:
        return create_token(session, get_user_by_email(session, email), name).secret


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    field = BeautifulSoup(html, "html.parser").find("input", attrs={"name": "csrf_token"})
    assert field is not None, "the page has no form with a CSRF token"
    return str(field["value"])


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token for later posts."""
    token = csrf_of(client.get("/accounts/login").text)
    answer = client.post(
        "/accounts/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/accounts").text)


def new_client(web: TestClient) -> TestClient:
    """Another browser on the same running app (its own cookies; the lifespan is shared)."""
    return TestClient(web.app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_production_api(
    client: TestClient, token: str, title: str = "Interim Release 1", **fields: Any
) -> int:
    body = {"agency": "ICE", "title": title, **fields}
    answer = client.post("/api/productions", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    production_id: int = answer.json()["id"]
    return production_id


def upload_api(
    client: TestClient, token: str, production_id: int, *paths: Path, **headers: str
) -> dict[str, Any]:
    files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    answer = client.post(
        f"/api/productions/{production_id}/files",
        files=files,
        headers={**bearer(token), **headers},
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def wait_processed(
    client: TestClient, token: str, production_id: int, timeout: float = 120
) -> dict[str, Any]:
    """Poll the production until every document reached a final state (the app's pool runs
    the jobs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/api/productions/{production_id}", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        production: dict[str, Any] = answer.json()
        if production["documents"] and all(
            d["state"] in FINAL_STATES for d in production["documents"]
        ):
            return production
        if time.monotonic() > deadline:
            raise AssertionError(f"processing did not finish: {production['documents']}")
        time.sleep(0.25)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every FastAPI route of ``app``, included routers' routes too."""
    # Since FastAPI 0.13x included routers stay nested in ``app.routes``; this walks them.
    contexts: Iterable[Any] = getattr(fastapi.routing, "iter_route_contexts", list)(app.routes)
    found: list[tuple[str, str]] = []
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute):
            found.extend((method, str(context.path)) for method in sorted(context.methods or ()))
    return found


def app_write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """The routes of ``app`` whose method changes something."""
    return [(m, p) for m, p in app_routes(app) if m in WRITE_METHODS]


def route_url(path: str, value: int = 1) -> str:
    """A concrete URL for a route path: every parameter becomes ``value``."""
    return _PATH_PARAMETER.sub(str(value), path)
