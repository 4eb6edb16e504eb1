"""Backup and restore: the demo production, backed up, restored into a fresh installation (new
data folder, new index prefix, and across SQLite and PostgreSQL), answers every search with
the same documents and pages."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from app import migrate
from app.backup import BackupError, Manifest, create_backup, restore_backup
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili.managed import Endpoint
from app.models import Agency, Page
from ingest.blobstore import file_sha256
from ingest.demo import DEMO, generate_demo_production
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import original_path
from tests.cli import run_cli
from tests.meili_helpers import drop_indexes

pytestmark = pytest.mark.reliability

# One phrase of every demo file (OCR'd scans among them), plus words found in many files.
QUERIES = [f.phrases[0] for f in DEMO.files] + ["FaceTrace", "GLASS HERON", "privacy"]


def _fresh(root: Path, endpoint: Endpoint, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=root,
        meili_url=endpoint.url,
        meili_key=SecretStr(endpoint.key),
        index_prefix=f"t{uuid.uuid4().hex[:12]}_",
        database_url=database_url,
    )


@pytest.fixture(scope="module")
def demo_archive(
    tmp_path_factory: pytest.TempPathFactory, meili_endpoint: Endpoint
) -> Iterator[Settings]:
    """The demo production ingested once for the module (OCR of its scans is the slow part)."""
    root = tmp_path_factory.mktemp("backup-source")
    settings = _fresh(root / "var", meili_endpoint)
    migrate.upgrade(settings)
    paths = generate_demo_production(root / "demo")
    target = IngestTarget(
        agency=DEMO.agency,
        production=DEMO.production,
        request=DEMO.request,
        release_date=DEMO.release_date,
        languages="eng+spa",
    )
    outcomes = ingest_paths(settings, paths, target)
    assert len(outcomes) == len(DEMO.files)
    yield settings
    drop_indexes(meili_endpoint, settings.index_prefix)


@pytest.fixture(scope="module")
def demo_backup(demo_archive: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("backups") / "demo"
    started = time.monotonic()
    result = run_cli(demo_archive, "backup", str(dest))
    assert result.exit_code == 0, result.output
    print(f"\nbackup of the demo production: {time.monotonic() - started:.2f}s")
    return dest


@pytest.fixture
def fresh(tmp_path: Path, meili_endpoint: Endpoint, database_url: str | None) -> Iterator[Settings]:
    """A new installation to restore into, on each database (the backup is from SQLite)."""
    settings = _fresh(tmp_path / "restored", meili_endpoint, database_url)
    yield settings
    drop_indexes(meili_endpoint, settings.index_prefix)


Results = dict[str, tuple[int, list[tuple[int, list[int]]]]]


def _search(settings: Settings) -> Results:
    """For each query: how many documents match, and the documents shown with their pages."""
    results: Results = {}
    with TestClient(create_app(settings)) as web:
        for query in QUERIES:
            answer = web.get("/search.json", params={"q": query})
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            # Sorted: Meilisearch breaks ties between equally relevant documents by the order
            # they were indexed in, which a rebuild does not reproduce (nor needs to).
            results[query] = (
                body["total_documents"],
                sorted((d["id"], [p["number"] for p in d["pages"]]) for d in body["documents"]),
            )
    return results


def _words_files(settings: Settings) -> list[Path]:
    with session_scope(settings) as session:
        paths = session.scalars(select(Page.words_path).where(Page.words_path.is_not(None)))
        return [settings.files_dir / p for p in paths if p]


def test_restore_into_a_fresh_folder_gives_the_same_search_results(
    demo_archive: Settings, demo_backup: Path, fresh: Settings
) -> None:
    before = _search(demo_archive)
    # Every query finds something, or the comparison below would prove little.
    assert all(total > 0 for total, _ in before.values()), before

    manifest = Manifest.read(demo_backup / "manifest.json")
    assert manifest.rows["documents"] == len(DEMO.files)
    assert manifest.rows["pages"] == sum(f.pages for f in DEMO.files)
    assert len(manifest.originals) == len(DEMO.files)
    assert manifest.missing == []
    assert manifest.words, "the OCR word boxes of the scans are kept"
    for sha256 in manifest.originals:
        assert file_sha256(original_path(demo_backup, sha256)) == sha256

    started = time.monotonic()
    restored = run_cli(fresh, "restore", str(demo_backup))
    assert restored.exit_code == 0, restored.output
    print(f"\nrestore with index rebuild: {time.monotonic() - started:.2f}s")
    assert f"{sum(f.pages for f in DEMO.files)} pages indexed" in restored.output
    assert _search(fresh) == before
    words = _words_files(fresh)
    assert words
    assert all(p.is_file() for p in words)
    consistent = run_cli(fresh, "check")
    assert consistent.exit_code == 0, consistent.output

    # A second restore over the restored archive is refused, unless forced.
    refused = run_cli(fresh, "restore", str(demo_backup))
    assert refused.exit_code == 1
    assert "already holds an archive" in refused.output
    forced = run_cli(fresh, "restore", "--force", str(demo_backup))
    assert forced.exit_code == 0, forced.output
    assert _search(fresh) == before


def test_a_damaged_backup_is_refused_before_anything_is_written(
    demo_backup: Path, fresh: Settings, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for item in demo_backup.iterdir():
        target = damaged / item.name
        if item.is_dir():
            target.symlink_to(item, target_is_directory=True)
        else:
            target.write_bytes(item.read_bytes())
    manifest = json.loads((damaged / "manifest.json").read_text())
    manifest["tables"]["documents"] = "0" * 64
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match=r"documents\.jsonl\.gz is missing or damaged"):
        restore_backup(fresh, damaged)
    assert not fresh.files_dir.exists() or not any(fresh.files_dir.rglob("originals/*"))
    # Nor does a backup go into a folder that holds something.
    with pytest.raises(BackupError, match="not empty"):
        create_backup(fresh, demo_backup)


def test_dump_files_are_gzip_json_lines_with_a_header(demo_backup: Path) -> None:
    with gzip.open(demo_backup / "database" / "documents.jsonl.gz", "rt") as lines:
        header = json.loads(next(lines))
        rows = [json.loads(line) for line in lines]
    assert "sha256" in header["columns"]
    assert header["kinds"][header["columns"].index("created_at")] == "datetime"
    assert len(rows) == len(DEMO.files)


@pytest.mark.postgres
def test_backup_moves_between_sqlite_and_postgresql(
    demo_archive: Settings,
    demo_backup: Path,
    postgres_url: str,
    meili_endpoint: Endpoint,
    tmp_path: Path,
) -> None:
    before = _search(demo_archive)
    on_postgres = _fresh(tmp_path / "pg", meili_endpoint, postgres_url)
    back_on_sqlite = _fresh(tmp_path / "sqlite", meili_endpoint)
    try:
        restore_backup(on_postgres, demo_backup)
        assert _search(on_postgres) == before
        # Ids came with the rows: the sequences must have moved past them.
        with session_scope(on_postgres) as session:
            highest = session.scalar(select(func.max(Agency.id)))
            agency = Agency(slug="new", name="New Agency", abbreviation="NEW")
            session.add(agency)
            session.flush()
            assert agency.id == (highest or 0) + 1
        # And back: a backup taken from PostgreSQL restores into SQLite.
        second = tmp_path / "from-postgres"
        manifest = create_backup(on_postgres, second)
        assert manifest.engine == "postgresql"
        assert (
            manifest.rows["agencies"]
            == Manifest.read(demo_backup / "manifest.json").rows["agencies"] + 1
        )
        restore_backup(back_on_sqlite, second)
        assert _search(back_on_sqlite) == before
    finally:
        drop_indexes(meili_endpoint, on_postgres.index_prefix)
        drop_indexes(meili_endpoint, back_on_sqlite.index_prefix)
