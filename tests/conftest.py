"""Shared fixtures: real Meilisearch, and every database test on real SQLite and PostgreSQL.

- One managed Meilisearch serves the whole run (one per pytest-xdist worker); each test gets
  its own index prefix and its indexes are deleted afterwards.
- Each test gets a fresh data folder. ``settings`` (and ``migrated_settings``, ``web`` on top
  of it) is parametrised over the database: every test that uses it runs twice, as
  ``test_x[sqlite]`` (the data folder's own SQLite file) and ``test_x[postgresql]`` (a database
  of its own on the server of ``READINGROOM_TEST_POSTGRES_URL``, dropped after; ``make test``
  sets that URL). ``-m postgres`` selects the PostgreSQL half, ``-m "not postgres"`` the other.
  Tests that touch no database, or bring a server of their own, use ``sqlite_settings``.
- A migrated database is a copy of one migrated once per run (a file copy on SQLite, ``CREATE
  DATABASE ... TEMPLATE`` on PostgreSQL): the migrations themselves are tested in
  tests/test_migrations.py, and running them for each of hundreds of tests would cost minutes.
- What the suite needs (PostgreSQL, Redis, chromium, ``weed``, the corpus) is checked with
  ``require``: missing, it skips the test on a developer's machine and fails it in CI (``CI``
  set), so that CI never passes with part of the suite silently not run.
- Property tests (hypothesis) run derandomized by default, so that CI judges the code and not
  the draw; ``make reliability`` explores with fresh random examples and more of them
  (``READINGROOM_HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import migrate
from app.config import Settings
from app.db import engine_for
from app.main import create_app
from app.meili import MeiliClient
from app.meili.managed import Endpoint, ManagedMeilisearch
from tests.meili_helpers import drop_indexes

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=300, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("READINGROOM_HYPOTHESIS_PROFILE", "ci"))

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
POSTGRES_URL = os.environ.get("READINGROOM_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() not in {"", "0", "false"}
NO_POSTGRES = (
    "READINGROOM_TEST_POSTGRES_URL is not set: `make test` sets it when PostgreSQL answers "
    "on 127.0.0.1:5432"
)
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# For the few tests about PostgreSQL alone (its sessions terminated, say): overrides the
# parameter of ``database_url`` and so of ``settings``.
on_postgresql = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def require(condition: bool, reason: str) -> None:
    """Go on only if ``condition`` holds. Otherwise skip the test with ``reason`` on a
    developer's machine, and fail it in CI (``CI`` set), where everything the suite needs is
    installed and a skip would pass a run in which part of the suite never ran."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: what the suite needs must be there)", pytrace=False)
    pytest.skip(reason)


def corpus_file(name: str) -> Path:
    """A file of the real-PDF corpus, which must be there (see ``require``)."""
    path = CORPUS / name
    require(path.is_file(), f"corpus file missing: {path}")
    return path


@pytest.fixture
def corpus() -> Path:
    """The corpus folder, which must be there (see ``require``)."""
    require((CORPUS / "MANIFEST.tsv").is_file(), f"the corpus is not at {CORPUS}")
    return CORPUS


needs_corpus = pytest.mark.usefixtures("corpus")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's ``--dist loadgroup`` (``make test`` runs two workers): the
    tests that use Redis run on one worker, one after another, since they share its numbered
    databases; the tests of a module that builds an archive once for the module (a
    module-scoped fixture) run on one worker, so that it is built once, not once per worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("redis") or "broker_url" in getattr(item, "fixturenames", ()):
            group = "redis"
        elif _uses_a_module_fixture(item):
            group = item.nodeid.split("::", 1)[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values() if defs)


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


class PostgresServer:
    """The server of ``READINGROOM_TEST_POSTGRES_URL``, where each test gets a database."""

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._admin: Engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )

    def url_of(self, database: str) -> str:
        return self._url.set(database=database).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of ``template``, if given); its name."""
        name = f"{self._url.database}_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        return name

    def answers(self) -> str | None:
        """Why the server cannot be used, or None when it answers."""
        try:
            with self._admin.connect():
                return None
        except OperationalError as exc:
            return f"PostgreSQL at READINGROOM_TEST_POSTGRES_URL does not answer: {exc}"

    def drop(self, database: str) -> None:
        engine_for(self.url_of(database)).dispose()
        with self._admin.connect() as connection:
            # FORCE: a killed worker's session may linger a moment after the process died.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def close(self) -> None:
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require(POSTGRES_URL is not None, NO_POSTGRES)
    assert POSTGRES_URL is not None
    server = PostgresServer(POSTGRES_URL)
    try:
        trouble = server.answers()
        require(trouble is None, trouble or "")
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_template(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A PostgreSQL database migrated to head once for the run, copied by the tests."""
    name = postgres_server.create()
    data_dir = tmp_path_factory.mktemp("migrated-postgres")
    migrate.upgrade(Settings(data_dir=data_dir, database_url=postgres_server.url_of(name)))
    yield name
    postgres_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once for the run, copied by the tests."""
    template = Settings(data_dir=tmp_path_factory.mktemp("migrated-sqlite"))
    migrate.upgrade(template)
    return Path(make_url(template.sqlalchemy_url).database or "")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = postgres_server.create()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop(name)


@contextmanager
def _database(request: pytest.FixtureRequest, migrated: bool) -> Iterator[str | None]:
    """The database of ``request.param``: ``None`` for SQLite (the file in the data folder, as
    in the embedded mode), or the URL of a new PostgreSQL database, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template") if migrated else None
    name = server.create(template)
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database of the test: SQLite, then PostgreSQL."""
    # A test that asks for a migrated database gets a copy of the migrated template at once,
    # rather than an empty database to replace a moment later (see ``migrated_settings``).
    with _database(request, migrated="migrated_settings" in request.fixturenames) as url:
        yield url


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``database_url`` for an archive that a module builds once and shares among its tests
    (one per database): empty, for the module to migrate."""
    with _database(request, migrated=False) as url:
        yield url


@pytest.fixture
def sqlite_settings(tmp_path: Path, meili_endpoint: Endpoint, index_prefix: str) -> Settings:
    """Settings of a fresh installation on SQLite: its own data folder and index prefix. For
    tests that touch no database, or bring a database server of their own."""
    return Settings(
        data_dir=tmp_path / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=index_prefix,
    )


@pytest.fixture
def settings(sqlite_settings: Settings, database_url: str | None) -> Settings:
    """Settings of a fresh installation: its own data folder, index prefix and empty database,
    on SQLite and then on PostgreSQL (``database_url``)."""
    return sqlite_settings.model_copy(update={"database_url": database_url})


@pytest.fixture
def migrated_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """``settings`` with the schema at head: a copy of the database migrated for the run."""
    if settings.database_url is None:
        database = Path(make_url(settings.sqlalchemy_url).database or "")
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), database)
    # On PostgreSQL, ``database_url`` made the database from the migrated template.
    return settings


@pytest.fixture
def web(migrated_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated_settings)) as client:
        yield client
