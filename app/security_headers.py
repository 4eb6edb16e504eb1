"""The security headers of every response, and who may frame which page: one place for both.

- ``Content-Security-Policy``: scripts, styles, fonts and fetches come from this site only;
  images from this site or ``data:`` URLs. No inline script anywhere (templates load their
  JavaScript from ``/static``), so an injected ``<script>`` or ``onerror=`` would not run even if
  escaping ever failed. Style *attributes* stay allowed (``style-src-attr``) because the
  reader positions its highlight boxes with them; ``<style>`` elements do not.
- Framing: only the embed views (``…/pages/N/embed`` and its ``.json`` twin) may be framed, by
  any site (that is what they are for). Everything else says ``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY`` (for browsers without CSP level 2), so nobody can overlay our pages
  to trick a reader or a volunteer into clicking (clickjacking).
- A route that sets its own policy keeps it (downloads of originals say ``sandbox``, so a PDF
  or HTML file served from here cannot run script as this site); the middleware only adds the
  directives that policy does not name.
- One exception: the API's Swagger UI page (``/api/docs``) may load FastAPI's script and styles
  from the jsDelivr CDN and run its inline start-up script; it shows no user content.
- ``Strict-Transport-Security`` only when the public URL of the site is https: sent over plain
  http it would be ignored, and on a development machine it would pin localhost to https.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

EMBEDDABLE = re.compile(r"^/documents/[^/]+/pages/[^/]+/embed(?:\.json)?$")

BASE_POLICY: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("style-src-attr", "'unsafe-inline'"),
    ("img-src", "'self' data:"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
)
# The API's Swagger UI page (FastAPI's ``/api/docs``) loads its script and styles from the
# jsDelivr CDN and starts with an inline script. It shows no user content, so that page alone
# may run them; every other page keeps the strict policy.
DOCS_PATHS = frozenset({"/api/docs", "/api/docs/oauth2-redirect"})
_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY: dict[str, str] = {
    "script-src": f"'self' {_CDN} 'unsafe-inline'",
    "style-src": f"'self' {_CDN} 'unsafe-inline'",
    "img-src": "'self' data: https://fastapi.tiangolo.com",
}
FRAMEABLE_BY_ANYONE = "*"
FRAMEABLE_BY_NOBODY = "'none'"

PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()"
)
HSTS_VALUE = "max-age=31536000"

FIXED_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
)


def is_embeddable(path: str) -> bool:
    """Whether other sites may frame the response for ``path``."""
    return bool(EMBEDDABLE.match(path))


def content_security_policy(path: str, existing: str | None = None) -> str:
    """The policy for ``path``: the route's own ``existing`` policy, completed by ours."""
    directives = [part.strip() for part in (existing or "").split(";") if part.strip()]
    named = {part.split()[0].lower() for part in directives}
    frame_ancestors = FRAMEABLE_BY_ANYONE if is_embeddable(path) else FRAMEABLE_BY_NOBODY
    relaxed = DOCS_POLICY if path in DOCS_PATHS else {}
    for name, value in (*BASE_POLICY, ("frame-ancestors", frame_ancestors)):
        if name not in named:
            directives.append(f"{name} {relaxed.get(name, value)}")
    return "; ".join(directives)


def serves_https(settings: Settings) -> bool:
    """Whether the public URL of the site is https (then browsers may be told to insist)."""
    return urlsplit(settings.base_url).scheme == "https"


def add_security_headers(headers: MutableHeaders, path: str, *, hsts: bool) -> None:
    """Set the security headers of a response to ``path`` (``hsts``: the site is https)."""
    headers["Content-Security-Policy"] = content_security_policy(
        path, headers.get("content-security-policy")
    )
    for name, value in FIXED_HEADERS:
        headers.setdefault(name, value)
    if is_embeddable(path):
        # A route cannot forbid framing of a view whose purpose is to be framed.
        del headers["X-Frame-Options"]
    else:
        headers["X-Frame-Options"] = "DENY"
    if hsts:
        headers.setdefault("Strict-Transport-Security", HSTS_VALUE)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hsts = serves_https(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), path, hsts=self.hsts)
            await send(message)

        await self.app(scope, receive, send_with_headers)
