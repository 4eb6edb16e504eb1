"""The Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from app import migrate
from app.config import Settings
from app.db import engine_for


def test_upgrade_head_then_check_reports_no_difference(settings: Settings) -> None:
    # An empty database: every migration runs; a second run is a no-op.
    migrate.upgrade(settings)
    migrate.upgrade(settings)
    migrate.check(settings)
    tables = set(inspect(engine_for(settings.sqlalchemy_url)).get_table_names())
    assert {"agencies", "foia_requests", "productions", "documents", "pages", "jobs"} <= tables
