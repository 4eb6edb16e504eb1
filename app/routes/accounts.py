"""Logging in and out, the account page, and API tokens (made, listed, revoked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from app.auth.accounts import authenticate, get_own_token, list_tokens
from app.auth.deps import CsrfChecked, CurrentUser, OptionalActor
from app.auth.models import ApiToken, User
from app.auth.sessions import end_session, start_session
from app.auth.tokens import create_token, revoke_token
from app.auth.web import render_private, safe_next, see_other
from app.client_address import client_address
from app.deps import SessionDep, SettingsDep
from app.render import render_error
from app.services.audit import record
from app.services.ratelimit import RateLimiter, retry_after, shared_limiter

router = APIRouter(tags=["accounts"])

LOGIN_LIMITER = "login_rate_limiter"  # the attribute of ``app.state`` holding the limiter
# Ten tries a minute per address: a person mistyping is never stopped, a password guesser is.
LOGIN_BURST = 10
LOGIN_PERIOD_SECONDS = 60.0


def _login_limiter(request: Request) -> RateLimiter:
    return shared_limiter(
        request.app.state, LOGIN_LIMITER, lambda: RateLimiter(LOGIN_BURST, LOGIN_PERIOD_SECONDS)
    )


def _token_json(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def user_json(user: User) -> dict[str, object]:
    return {"id": user.id, "email": user.email, "role": user.role.value, "trusted": user.trusted}


@router.get("/accounts/login", include_in_schema=False)
def show_login(
    request: Request, actor: OptionalActor, next_path: Annotated[str, Query(alias="next")] = ""
) -> Response:
    """The login form (a logged-in visitor goes straight on)."""
    target = safe_next(next_path, "/uploads")
    if actor is not None:
        return see_other(target)
    return render_private(request, "accounts/login.html", {"next": target}, {}, user=None)


@router.post("/accounts/login", include_in_schema=False, dependencies=[CsrfChecked])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Check the password; on success a fresh session, on failure the form again (401)."""
    wait = _login_limiter(request).acquire(client_address(request))
    if wait is not None:
        response = render_error(
            request, 429, "rate_limited", "too many login attempts; wait a minute and try again"
        )
        response.headers["Retry-After"] = retry_after(wait)
        return response
    target = safe_next(next_path, "/uploads")
    user = authenticate(session, email, password)
    if user is None:
        context = {"next": target, "email": email, "error": "That email and password do not match."}
        return render_private(
            request, "accounts/login.html", context, {}, user=None, status_code=401
        )
    start_session(request, settings, user)
    return see_other(target)


@router.post("/accounts/logout", include_in_schema=False)
def logout(request: Request, _user: CurrentUser) -> Response:
    """End the session."""
    end_session(request)
    return see_other("/")


@router.get("/accounts", include_in_schema=False)
@router.get("/accounts.json", include_in_schema=False)
def show_account(request: Request, user: CurrentUser) -> Response:
    """Who is logged in, and where to go from here."""
    payload = {"user": user_json(user)}
    return render_private(request, "accounts/account.html", {"user": user}, payload, user=user)


def _tokens_page(
    request: Request, session: SessionDep, user: User, new_secret: str | None, status: int = 200
) -> Response:
    tokens = list_tokens(session, user)
    payload = {"tokens": [_token_json(t) for t in tokens]}
    context = {"tokens": tokens, "new_secret": new_secret}
    return render_private(
        request, "accounts/tokens.html", context, payload, user=user, status_code=status
    )


@router.get("/accounts/tokens", include_in_schema=False)
@router.get("/accounts/tokens.json", include_in_schema=False)
def show_tokens(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The person's API tokens: name, prefix, when made and last used, revoked or not."""
    return _tokens_page(request, session, user, None)


@router.post("/accounts/tokens", include_in_schema=False)
def make_token(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    name: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    """A new token, shown on this response only (it is stored hashed)."""
    new = create_token(session, user, name)
    record(session, user, "token.create", "api_token", new.token.id, name=new.token.name)
    session.commit()
    return _tokens_page(request, session, user, new.secret, status=201)


@router.post("/accounts/tokens/{token_id}/revoke", include_in_schema=False)
def revoke(
    session: SessionDep,
    user: CurrentUser,
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    """Refuse the token from now on."""
    token = get_own_token(session, user, token_id)
    revoke_token(session, token)
    record(session, user, "token.revoke", "api_token", token.id, name=token.name)
    session.commit()
    return see_other("/accounts/tokens")


# Exported for the permission test: the routes a visitor may post to without an account.
PUBLIC_WRITE_ROUTES = frozenset({("POST", "/accounts/login")})

__all__ = ["PUBLIC_WRITE_ROUTES", "router", "user_json"]
