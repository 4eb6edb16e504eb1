"""The login session: a signed cookie (Starlette's SessionMiddleware, keyed by the secret key).

The cookie holds the user id, a CSRF token and a fingerprint of the account's password hash:
changing the password (or disabling the account) ends every session made before, even though
the cookie itself is stateless. It is HttpOnly and SameSite=Lax always, and Secure everywhere
but local development (where the site is served over plain http).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection

from app.auth.models import User
from app.config import Environment, Settings

SESSION_COOKIE = "readingroom_session"
SESSION_MAX_AGE = 14 * 24 * 3600
USER_KEY = "uid"
FINGERPRINT_KEY = "pwf"
CSRF_KEY = "csrf"


def add_session_middleware(app: FastAPI, settings: Settings) -> None:
    """Install the signed session cookie on ``app``."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.environment is not Environment.DEVELOPMENT,
    )


def _session(connection: HTTPConnection) -> dict[str, Any]:
    # The middleware is installed by create_app; a bare app without it has no sessions.
    if "session" not in connection.scope:
        return {}
    session: dict[str, Any] = connection.session
    return session


def _fingerprint(settings: Settings, user: User) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:24]


def start_session(connection: HTTPConnection, settings: Settings, user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF token), so nothing carries over from before."""
    session = _session(connection)
    session.clear()
    session[USER_KEY] = user.id
    session[FINGERPRINT_KEY] = _fingerprint(settings, user)
    session[CSRF_KEY] = secrets.token_urlsafe(32)


def end_session(connection: HTTPConnection) -> None:
    """Log out: the cookie is cleared."""
    _session(connection).clear()


def session_user_id(connection: HTTPConnection) -> int | None:
    """The user id the session claims (check it with ``session_matches`` once loaded)."""
    value = _session(connection).get(USER_KEY)
    return value if isinstance(value, int) else None


def session_matches(connection: HTTPConnection, settings: Settings, user: User) -> bool:
    """Whether the session was made with the account's current password."""
    claimed = _session(connection).get(FINGERPRINT_KEY)
    return isinstance(claimed, str) and hmac.compare_digest(claimed, _fingerprint(settings, user))


def session_csrf_token(connection: HTTPConnection) -> str:
    """The session's CSRF token, made on first use (an anonymous visitor gets one to log in)."""
    session = _session(connection)
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token
