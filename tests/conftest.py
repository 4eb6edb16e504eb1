"""Shared fixtures: real Meilisearch, real SQLite and (when reachable) real PostgreSQL.

- One managed Meilisearch serves the whole run; each test gets its own index prefix and its
  indexes are deleted afterwards.
- Each test gets a fresh data folder (so a fresh SQLite database).
- PostgreSQL tests use ``READINGROOM_TEST_POSTGRES_URL`` (``make test`` creates that database
  when a server answers on 127.0.0.1:5432); each test gets a schema of its own, dropped after.
- Property tests (hypothesis) run derandomized by default, so that CI judges the code and not
  the draw; ``make reliability`` explores with fresh random examples and more of them
  (``READINGROOM_HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from app import migrate
from app.config import Settings
from app.main import create_app
from app.meili import MeiliClient
from app.meili.managed import Endpoint, ManagedMeilisearch
from tests.meili_helpers import drop_indexes

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=300, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("READINGROOM_HYPOTHESIS_PROFILE", "ci"))

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
POSTGRES_URL = os.environ.get("READINGROOM_TEST_POSTGRES_URL")
NO_POSTGRES = (
    "READINGROOM_TEST_POSTGRES_URL is not set: `make test` sets it when PostgreSQL answers "
    "on 127.0.0.1:5432"
)


@pytest.fixture(scope="session")
def meili_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    data_dir = tmp_path_factory.mktemp("meili-session")
    managed = ManagedMeilisearch(Settings(data_dir=data_dir))
    endpoint = managed.acquire()
    yield endpoint
    managed.release()


@pytest.fixture
def meili(meili_endpoint: Endpoint) -> Iterator[MeiliClient]:
    client = MeiliClient(meili_endpoint.url, meili_endpoint.key)
    yield client
    client.close()


@pytest.fixture
def index_prefix(meili: MeiliClient) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    yield prefix
    drop_indexes(meili, prefix)


def _postgres_schema_url(schema: str) -> str:
    assert POSTGRES_URL is not None
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(schema)
    finally:
        from app.db import engine_for

        engine_for(_postgres_schema_url(schema)).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, meili_endpoint: Endpoint, index_prefix: str) -> Settings:
    """Settings of a fresh installation: its own data folder, database and index prefix."""
    return Settings(
        data_dir=tmp_path / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=index_prefix,
    )


@pytest.fixture
def any_db_settings(settings: Settings, database_url: str) -> Settings:
    """``settings`` on each database backend in turn, schema migrated."""
    configured = settings.model_copy(update={"database_url": database_url})
    migrate.upgrade(configured)
    return configured


@pytest.fixture
def migrated_settings(settings: Settings) -> Settings:
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def web(migrated_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated_settings)) as client:
        yield client
