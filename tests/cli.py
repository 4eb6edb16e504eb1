"""Running the `readingroom` command in-process against a test's settings."""

from __future__ import annotations

from click.testing import CliRunner, Result

from app.cli import main
from app.config import Settings, get_settings


def cli_env(settings: Settings) -> dict[str, str]:
    """The READINGROOM_* variables that reproduce ``settings`` for a command."""
    env = {
        "READINGROOM_DATA_DIR": str(settings.data_dir),
        "READINGROOM_INDEX_PREFIX": settings.index_prefix,
    }
    if settings.meili_url:
        env["READINGROOM_MEILI_URL"] = settings.meili_url
    if settings.meili_key:
        env["READINGROOM_MEILI_KEY"] = settings.meili_key.get_secret_value()
    if settings.database_url:
        env["READINGROOM_DATABASE_URL"] = settings.database_url
    return env


def run_cli(settings: Settings, *args: str) -> Result:
    """Invoke ``readingroom ARGS`` with ``settings`` (the cached settings are reset around it)."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, list(args), env=cli_env(settings))
    finally:
        get_settings.cache_clear()
