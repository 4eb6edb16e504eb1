"""The Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from app import migrate
from app.config import Settings
from app.db import engine_for


def test_upgrade_head_then_check_reports_no_difference(any_db_settings: Settings) -> None:
    # any_db_settings has already run `upgrade head`; a second run is a no-op.
    migrate.upgrade(any_db_settings)
    migrate.check(any_db_settings)
    tables = set(inspect(engine_for(any_db_settings.sqlalchemy_url)).get_table_names())
    assert {"agencies", "foia_requests", "productions", "documents", "pages", "jobs"} <= tables
