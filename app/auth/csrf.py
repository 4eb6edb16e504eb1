"""CSRF protection for forms: a per-session token that every state-changing form carries.

A request authenticated by the session cookie (which the browser attaches on its own) must
prove it came from one of our pages: the token is in a hidden ``csrf_token`` field or in an
``X-CSRF-Token`` header (the upload script). Requests authenticated by an API token are exempt:
a browser never attaches that header by itself. The cookie is also SameSite=Lax, so this is
the second of two locks.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from app.auth.sessions import CSRF_KEY
from app.errors import PermissionDeniedError

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def check_csrf_value(request: Request, supplied: str | None) -> None:
    """Raise ``PermissionDeniedError`` unless ``supplied`` is this session's token."""
    expected = request.session.get(CSRF_KEY) if "session" in request.scope else None
    if (
        not isinstance(expected, str)
        or not supplied
        or not hmac.compare_digest(expected.encode(), supplied.encode())
    ):
        raise PermissionDeniedError(
            "this form has expired or did not come from this site: reload the page and try again"
        )


async def check_csrf(request: Request) -> None:
    """Check the token of a form or script request (header first, else the form field).

    Forms here are small (urlencoded); a streamed multipart upload checks its token itself,
    from the header or the first field, without reading the files (see app.upload_stream).
    """
    if request.method in SAFE_METHODS:
        return
    supplied = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if supplied is None and content_type.startswith(_FORM_TYPES):
        form = await request.form(max_files=0, max_fields=100)
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    check_csrf_value(request, supplied)
