"""Running Alembic migrations programmatically against the configured database."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from app.config import PROJECT_ROOT, Settings


def alembic_config(settings: Settings) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # `%` must be doubled for ConfigParser; URLs may contain escaped characters.
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema to ``revision``."""
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def check(settings: Settings) -> None:
    """Raise if the models differ from the migrated schema (``alembic check``)."""
    command.check(alembic_config(settings))
