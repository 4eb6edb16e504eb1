"""Who is asking: the current user from an API token or the session cookie, and role checks.

``Authorization: Bearer <token>`` wins over the cookie; a bad or revoked token is refused
outright (never silently replaced by the cookie). A request authenticated by the cookie that
changes something must carry the session's CSRF token (``app.auth.csrf``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.csrf import SAFE_METHODS, check_csrf
from app.auth.models import Role, User
from app.auth.sessions import session_matches, session_user_id
from app.auth.tokens import active_token
from app.deps import SessionDep, SettingsDep
from app.errors import AuthenticationRequiredError, PermissionDeniedError

# Declared for OpenAPI ("Authorize" in /api/docs); auto_error=False so that the session cookie
# remains a way in for the browser.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An API token made at /accounts/tokens or with `readingroom user token`.",
)


@dataclass(frozen=True)
class Actor:
    user: User
    via: Literal["session", "token"]
    token_id: int | None = None  # the API token used, when via is "token"


def get_actor(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor | None:
    """The account behind this request, or None for an anonymous visitor."""
    if credentials is not None:
        token = active_token(session, credentials.credentials)
        if token is None:
            raise AuthenticationRequiredError("this API token is unknown, revoked or disabled")
        return Actor(token.user, "token", token.id)
    user_id = session_user_id(request)
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or user.disabled or not session_matches(request, settings, user):
        return None
    return Actor(user, "session")


OptionalActor = Annotated[Actor | None, Depends(get_actor)]


def require_actor(actor: OptionalActor) -> Actor:
    """The authenticated actor, without the CSRF check (streamed uploads check it in-stream)."""
    if actor is None:
        raise AuthenticationRequiredError("log in, or send an API token, to do this")
    return actor


async def require_user(request: Request, actor: Annotated[Actor, Depends(require_actor)]) -> User:
    """The logged-in user; a cookie-authenticated change must also carry the CSRF token."""
    if actor.via == "session" and request.method not in SAFE_METHODS:
        await check_csrf(request)
    return actor.user


def require_role(role: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency: the current user, if their role is ``role`` or above."""

    async def dependency(user: Annotated[User, Depends(require_user)]) -> User:
        if not user.role.at_least(role):
            raise PermissionDeniedError(f"only a {role.value} or above may do this")
        return user

    return dependency


CurrentActor = Annotated[Actor, Depends(require_actor)]
CurrentUser = Annotated[User, Depends(require_user)]
ModeratorUser = Annotated[User, Depends(require_role(Role.MODERATOR))]
CsrfChecked = Depends(check_csrf)
