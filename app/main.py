"""The FastAPI application: wiring only. Services do the work; errors map to HTTP here."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api_errors import ERROR_RESPONSES
from app.auth.sessions import add_session_middleware
from app.config import Settings, get_settings
from app.db import session_factory
from app.errors import AuthenticationRequiredError, ReadingroomError
from app.meili import MeiliError, SearchEngine, open_search_engine
from app.render import STATIC_DIR, render_error, wants_json
from app.routes import (
    accounts,
    browse,
    documents,
    embed,
    feeds,
    findings,
    health,
    moderation,
    search,
    site,
    uploads,
    versions,
)
from app.security_headers import SecurityHeadersMiddleware, add_security_headers, serves_https
from ingest.dispatch import CeleryDispatcher, LocalPool
from ingest.index import ensure_indexes

log = logging.getLogger(__name__)

WATCHDOG_SECONDS = 5.0


def _watchdog(engine: SearchEngine, stop: threading.Event) -> None:
    # A crashed managed Meilisearch is restarted on the same port, so clients keep their URL.
    while not stop.wait(WATCHDOG_SECONDS):
        try:
            engine.ensure_running()
        except Exception:
            log.exception("could not restart the managed Meilisearch")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_search_engine(settings) as engine:
            try:
                ensure_indexes(engine.client, settings)
            except MeiliError as exc:
                log.warning("search index settings not applied yet: %s", exc)
            app.state.search_engine = engine
            stop = threading.Event()
            watchdog = threading.Thread(target=_watchdog, args=(engine, stop), daemon=True)
            watchdog.start()
            pool: LocalPool | None = None
            if settings.broker_url:
                app.state.dispatcher = CeleryDispatcher(settings)
            else:
                # Embedded mode: uploads are processed by a worker thread of this process,
                # from the same durable queue `readingroom worker` would read.
                pool = LocalPool(settings, engine.client)
                pool.start()
                app.state.dispatcher = pool
            try:
                yield
            finally:
                if pool is not None:
                    pool.stop()
                stop.set()
                watchdog.join(timeout=10)

    app = FastAPI(
        title="readingroom",
        version=__version__,
        description="Search records released under the Freedom of Information Act.",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory(settings)

    @app.exception_handler(ReadingroomError)
    async def _domain_error(request: Request, exc: ReadingroomError) -> Response:
        return render_error(request, exc.status_code, exc.code, exc.message)

    @app.exception_handler(AuthenticationRequiredError)
    async def _login_required(request: Request, exc: AuthenticationRequiredError) -> Response:
        # A person following a link to a private page is sent to log in, then back; scripts
        # (the API, .json twins, any request with a token) and form posts get the 401.
        is_page = not wants_json(request) and not request.url.path.startswith("/api/")
        if request.method == "GET" and is_page and "authorization" not in request.headers:
            return RedirectResponse(
                f"/accounts/login?{urlencode({'next': request.url.path})}", status_code=303
            )
        response = render_error(request, exc.status_code, exc.code, exc.message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="readingroom"'
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()
        )
        return render_error(request, 400, "invalid_input", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return render_error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception) -> Response:
        # A bug: Starlette logs the traceback after this answer is sent. The answer leaves
        # from its outermost middleware, past SecurityHeadersMiddleware, so it gets its
        # headers here.
        response = render_error(
            request,
            500,
            "internal_error",
            "Something went wrong on our side and it has been logged. Please try again later.",
        )
        add_security_headers(response.headers, request.url.path, hsts=serves_https(settings))
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    app.include_router(health.router)
    # Browse serves "/" and "/index.json" (home, totals, latest productions).
    app.include_router(browse.router)
    app.include_router(search.router)
    app.include_router(documents.router)
    app.include_router(embed.router)
    app.include_router(site.router)
    app.include_router(feeds.router)
    app.include_router(accounts.router)
    app.include_router(uploads.router)
    app.include_router(moderation.router)
    app.include_router(findings.router)
    app.include_router(versions.router)  # issue 11: releases compared
    # Outermost: the session cookie is read before any route or other middleware runs.
    add_session_middleware(app, settings)
    return app
