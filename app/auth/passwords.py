"""Password hashing with argon2id (argon2-cffi's defaults, which follow RFC 9106)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000  # hashing a megabyte of "password" is a denial of service

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a wrong address takes as long as a
    wrong password and the login form does not tell which accounts exist. Made on first use:
    at import it cost every command and worker process 0.3 s of CPU (bench ingest --only
    small), most of which never see a login."""
    return _hasher.hash("readingroom-no-such-account")


def check_password_strength(password: str) -> None:
    """Raise ``ValueError`` with a readable reason if ``password`` is not acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, with its salt and parameters, to store."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: no account, still takes the time)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at login)."""
    return _hasher.check_needs_rehash(stored_hash)
