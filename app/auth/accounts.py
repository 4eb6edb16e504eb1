"""Accounts: create them, check a login, list and revoke a person's API tokens."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiToken, Role, User
from app.auth.passwords import (
    check_password_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from app.errors import InvalidInputError, NotFoundError

# Deliberately loose: one "@", something on each side, no spaces. Delivery proves the rest.
_EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,200}$")


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in (trimmed, lower case)."""
    return email.strip().lower()


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    role: Role = Role.VOLUNTEER,
    trusted: bool = False,
) -> User:
    """A new account; ``InvalidInputError`` for a bad address, a weak password or a taken email."""
    address = normalize_email(email)
    if not _EMAIL.match(address):
        raise InvalidInputError(f"{email!r} is not an email address")
    try:
        check_password_strength(password)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    if session.scalars(select(User).where(User.email == address)).first() is not None:
        raise InvalidInputError(f"there is already an account for {address}")
    user = User(email=address, password_hash=hash_password(password), role=role, trusted=trusted)
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> User:
    """The account with this address, or ``NotFoundError``."""
    user = session.scalars(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFoundError(f"there is no account for {email}")
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The enabled account whose password this is, or None; commits the login time.

    The same answer (None) and about the same time whether the address is unknown, the
    password wrong or the account disabled, so the form tells an attacker nothing.
    """
    user = session.scalars(select(User).where(User.email == normalize_email(email))).first()
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = dt.datetime.now(dt.UTC)
    session.commit()
    return user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The person's API tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def get_own_token(session: Session, user: User, token_id: int) -> ApiToken:
    """One of the person's own tokens; another person's is as missing as a token never made."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFoundError(f"you have no API token {token_id}")
    return token
