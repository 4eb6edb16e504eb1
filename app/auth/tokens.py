"""API tokens for scripts: ``rr_<random>``, shown once, stored as a sha256, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.auth.models import ApiToken, User

TOKEN_PREFIX = "rr_"  # noqa: S105  (a marker that makes leaked tokens easy to scan for)
SHOWN_PREFIX_LENGTH = 10  # "rr_" and 7 random characters: enough to tell tokens apart
# Writing last_used_at on every request would turn every API read into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is shown to its owner now and never again."""

    token: ApiToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, user: User, name: str) -> NewToken:
    """Make a token for ``user``; flushes, the caller commits."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip()[:100] or "token",
        token_hash=_digest(secret),
        prefix=secret[:SHOWN_PREFIX_LENGTH],
    )
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def active_token(session: Session, secret: str) -> ApiToken | None:
    """The active token of an enabled account (loaded with it), or None; records the use."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalars(
        select(ApiToken)
        .where(ApiToken.token_hash == _digest(secret))
        .options(joinedload(ApiToken.user))
    ).first()
    if token is None or token.revoked_at is not None or token.user.disabled:
        return None
    now = dt.datetime.now(dt.UTC)
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite drops the zone
        last = last.replace(tzinfo=dt.UTC)
    if last is None or now - last > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return token


def revoke_token(session: Session, token: ApiToken) -> None:
    """Refuse ``token`` from now on (kept, so the owner still sees it existed); flushes."""
    if token.revoked_at is None:
        token.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()
