"""Engines and sessions. Nothing is created at import time: callers pass their settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.errors import InvalidInputError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `serve` read while `ingest` writes; the busy timeout waits out short write locks
    # instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):  # rows, or the values of one (any paramstyle)
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul_characters(
    _conn: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    """Refuse text with a NUL character, on every database: PostgreSQL cannot store one (a
    title, a token name or a login typed with one was a 500 there) while SQLite would keep
    it. No text of the archive needs one: ingest drops them from page text and metadata."""
    if _has_nul(parameters):
        raise InvalidInputError("text may not contain the NUL character (U+0000)")


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite tuned for several processes on one data folder."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(engine, "before_cursor_execute", _refuse_nul_characters)
    return engine


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per database URL per process (engines hold the connection pool)."""
    return make_engine(url)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    return sessionmaker(engine_for(settings.sqlalchemy_url), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
