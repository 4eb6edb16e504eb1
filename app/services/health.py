"""Health of the two things the site needs: the database and the search engine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.meili import MeiliClient


@dataclass(frozen=True)
class Health:
    database: bool
    search: bool
    database_detail: str
    search_detail: str

    @property
    def ok(self) -> bool:
        return self.database and self.search


def check_health(session: Session, client: MeiliClient) -> Health:
    """Ask each component a trivial question; never raise."""
    try:
        session.execute(text("SELECT 1"))
        database, database_detail = True, session.get_bind().dialect.name
    except SQLAlchemyError as exc:
        database, database_detail = False, type(exc).__name__
    search = client.is_healthy()
    return Health(database, search, database_detail, "available" if search else "unreachable")
