"""``readingroom backup`` and ``readingroom restore``: the database and the originals, portable.

A backup is a folder::

    manifest.json                   format, schema revision, row counts, every file's sha256
    database/<table>.jsonl.gz       one JSON header line (columns, value kinds), then one row a line
    originals/ab/cd/<sha256>        each document's original, hard-linked when on one filesystem
    words/<path under files/>       OCR word boxes the pages point at (they cannot be rebuilt
                                    without running OCR again; every other derived file can)

Why a JSON dump through SQLAlchemy rather than ``pg_dump`` or a copy of the SQLite file: one
format restores into either engine (move from the embedded SQLite to PostgreSQL, or take a
production copy to a laptop), it needs no PostgreSQL client matching the server's version,
and the schema is not in it: restore creates the schema with the migrations at the backup's
revision, loads the rows, then migrates to head, so an old backup restores into new code. The
archive's rows are small next to its originals, so a text dump costs little.

The snapshot is consistent: on SQLite it is read from a copy made with SQLite's online backup
API (a single point in time, while ``serve`` and ``ingest`` keep writing); on PostgreSQL, from
one ``REPEATABLE READ`` read-only transaction. Originals are immutable and written before any
row names them, so every original the snapshot names is already complete on disk.

The search index is not backed up: it is derived. ``restore`` rebuilds it from the database
with the code ``readingroom reindex`` uses.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    create_engine,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine

from app import migrate
from app.config import Settings
from app.db import engine_for, session_scope
from app.meili import open_search_engine
from ingest.blobstore import file_sha256, get_blobstore
from ingest.index import rebuild
from ingest.storage import original_path

FORMAT = 1
VERSION_TABLE = "alembic_version"
INSERT_BATCH = 500


class BackupError(Exception):
    """A backup could not be written or read, or a restore was refused; the message says why."""


@dataclass
class Manifest:
    """What a backup holds, with checksums to verify it before anything is restored."""

    format: int
    created_at: str
    engine: str
    revision: str
    rows: dict[str, int]
    tables: dict[str, str]  # table -> sha256 of its dump file
    originals: dict[str, int]  # sha256 -> size in bytes
    words: dict[str, str] = field(default_factory=dict)  # path under files/ -> sha256
    missing: list[str] = field(default_factory=list)  # originals the database named but lacked

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise BackupError(f"{path} is not a readingroom backup manifest: {exc}") from exc
        if manifest.format != FORMAT:
            raise BackupError(f"backup format {manifest.format} is not {FORMAT}: use a newer code")
        return manifest


@dataclass(frozen=True)
class RestoreResult:
    rows: int
    originals: int
    pages_indexed: int


# --- values -----------------------------------------------------------------------------------


def _kind(column_type: TypeEngine[Any]) -> str:
    # DateTime before Date: neither subclasses the other, but both must be told apart from str.
    if isinstance(column_type, DateTime):
        return "datetime"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, LargeBinary):
        return "bytes"
    return "plain"


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        # SQLite hands back naive datetimes; the application writes them in UTC.
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    return value


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


# --- backup -----------------------------------------------------------------------------------


@contextmanager
def _snapshot(settings: Settings) -> Iterator[Connection]:
    """A connection that sees the database at one point in time."""
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        database = make_url(url).database
        if not database or not Path(database).exists():
            raise BackupError(f"there is no database at {database}")
        with tempfile.TemporaryDirectory(prefix="readingroom-backup-") as scratch:
            copy = Path(scratch) / "snapshot.sqlite3"
            source = sqlite3.connect(database, timeout=30)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            engine = create_engine(f"sqlite:///{copy}")
            try:
                with engine.connect() as connection:
                    yield connection
            finally:
                engine.dispose()
        return
    engine = engine_for(url)
    with engine.connect() as connection:
        connection = connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        with connection.begin():
            yield connection


def _revision(connection: Connection) -> str:
    revision = None
    if inspect(connection).has_table(VERSION_TABLE):
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if not revision:
        raise BackupError("the database has no schema revision: run `readingroom migrate`")
    return str(revision)


def _dump_table(connection: Connection, table: Table, path: Path) -> int:
    columns = [c.name for c in table.columns]
    kinds = [_kind(c.type) for c in table.columns]
    order = list(table.primary_key.columns) or list(table.columns)
    rows = 0
    # mtime=0: the same rows give the same bytes, so the checksum names the content.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(json.dumps({"columns": columns, "kinds": kinds}).encode() + b"\n")
        result = connection.execution_options(yield_per=1000).execute(
            select(table).order_by(*order)
        )
        for row in result:
            values = [_encode(k, v) for k, v in zip(kinds, row, strict=True)]
            out.write(json.dumps(values, ensure_ascii=False).encode() + b"\n")
            rows += 1
    return rows


def _link_or_copy(source: Path, dest: Path, sha256: str, *, link: bool = True) -> None:
    """Place a verified copy of ``source`` at ``dest``.

    With ``link``, a hard link when possible (no bytes copied): only for originals, which are
    read-only and never rewritten, so the backup and the archive may share them safely.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    linked = False
    if link:
        with contextlib.suppress(OSError):  # another filesystem, or links not allowed there
            os.link(source, dest)
            linked = True
    if not linked:
        shutil.copyfile(source, dest)
    if file_sha256(dest) != sha256:
        dest.unlink()
        raise BackupError(f"{source} does not hash to {sha256}: the original is damaged")


def create_backup(settings: Settings, dest: Path) -> Manifest:
    """Write a consistent backup of the database and the originals into ``dest`` (new or empty).

    Raises ``BackupError`` when ``dest`` holds files, the database cannot be read, or an
    original no longer matches its hash. An original missing from storage is listed in the
    manifest's ``missing`` rather than stopping the backup of everything else.
    """
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new folder")
    (dest / "database").mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    tables: dict[str, str] = {}
    with _snapshot(settings) as connection:
        revision = _revision(connection)
        metadata = MetaData()
        metadata.reflect(connection)
        for table in metadata.sorted_tables:
            if table.name == VERSION_TABLE:
                continue
            path = dest / "database" / f"{table.name}.jsonl.gz"
            rows[table.name] = _dump_table(connection, table, path)
            tables[table.name] = file_sha256(path)
        documents = metadata.tables["documents"]
        pages = metadata.tables["pages"]
        hashes = sorted(set(connection.execute(select(documents.c.sha256)).scalars()))
        words_paths = sorted(
            set(
                connection.execute(
                    select(pages.c.words_path).where(pages.c.words_path.is_not(None))
                ).scalars()
            )
        )
    manifest = Manifest(
        format=FORMAT,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
        engine=make_url(settings.sqlalchemy_url).get_backend_name(),
        revision=revision,
        rows=rows,
        tables=tables,
        originals={},
    )
    store = get_blobstore(settings) if settings.storage_url else None
    for sha256 in hashes:
        local = original_path(settings.files_dir, sha256)
        if not local.is_file() and store is not None and store.exists(sha256):
            store.fetch(sha256, local)  # the local folder is a cache of the shared store
        if not local.is_file():
            manifest.missing.append(sha256)
            continue
        _link_or_copy(local, original_path(dest, sha256), sha256)
        manifest.originals[sha256] = local.stat().st_size
    for relative in words_paths:
        source = (settings.files_dir / relative).resolve()
        # Paths come from the database: never read outside the file store because of them.
        if not source.is_relative_to(settings.files_dir.resolve()) or not source.is_file():
            continue
        digest = file_sha256(source)
        _link_or_copy(source, dest / "words" / relative, digest, link=False)
        manifest.words[relative] = digest
    manifest.write(dest / "manifest.json")
    return manifest


# --- restore ----------------------------------------------------------------------------------


def _verify(src: Path, manifest: Manifest) -> None:
    for table, digest in manifest.tables.items():
        path = src / "database" / f"{table}.jsonl.gz"
        if not path.is_file() or file_sha256(path) != digest:
            raise BackupError(f"{path} is missing or damaged (its sha256 is not the manifest's)")


# Tables whose rows a migration makes (the one row of the page versions' lock, issue 11): a
# freshly migrated database holds them and is still empty, and a restore replaces them.
SEEDED_BY_MIGRATIONS = frozenset({"versions_lock"})


def _has_data(settings: Settings) -> bool:
    originals = settings.files_dir / "originals"
    if originals.exists() and any(p.is_file() for p in originals.rglob("*")):
        return True
    engine = engine_for(settings.sqlalchemy_url)
    metadata = MetaData()
    with engine.connect() as connection:
        metadata.reflect(connection)
        return any(
            connection.execute(select(func.count()).select_from(table)).scalar()
            for table in metadata.tables.values()
            if table.name != VERSION_TABLE and table.name not in SEEDED_BY_MIGRATIONS
        )


def _clear(settings: Settings) -> None:
    """Empty every table and the originals folder (``restore --force``)."""
    engine = engine_for(settings.sqlalchemy_url)
    metadata = MetaData()
    with engine.begin() as connection:
        metadata.reflect(connection)
        for table in reversed(metadata.sorted_tables):
            if table.name != VERSION_TABLE:
                connection.execute(table.delete())
    shutil.rmtree(settings.files_dir / "originals", ignore_errors=True)


def _current_revision(settings: Settings) -> str | None:
    engine = engine_for(settings.sqlalchemy_url)
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(value) if value else None


def _read_rows(path: Path) -> Iterator[tuple[list[str], list[str], list[Any]]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        header = json.loads(next(lines))
        columns, kinds = header["columns"], header["kinds"]
        for line in lines:
            yield columns, kinds, json.loads(line)


def _load_table(connection: Connection, table: Table, path: Path) -> int:
    known = set(table.columns.keys())
    batch: list[dict[str, Any]] = []
    loaded = 0
    for columns, kinds, values in _read_rows(path):
        row = {
            c: _decode(k, v) for c, k, v in zip(columns, kinds, values, strict=True) if c in known
        }
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            connection.execute(table.insert(), batch)
            loaded += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        loaded += len(batch)
    return loaded


def _reset_sequences(connection: Connection, metadata: MetaData) -> None:
    """Rows came with their ids: move PostgreSQL's id sequences past them."""
    for table in metadata.sorted_tables:
        if "id" not in table.columns or not table.c.id.primary_key:
            continue
        highest = connection.execute(select(func.max(table.c.id))).scalar()
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value, :called)"),
            {"table": table.name, "value": highest or 1, "called": highest is not None},
        )


def _load_database(settings: Settings, src: Path, manifest: Manifest) -> int:
    engine = engine_for(settings.sqlalchemy_url)
    metadata = MetaData()
    total = 0
    with engine.begin() as connection:
        metadata.reflect(connection)
        for table in metadata.sorted_tables:
            if table.name == VERSION_TABLE or table.name not in manifest.tables:
                continue
            if table.name in SEEDED_BY_MIGRATIONS:  # the backup's rows, not the migration's
                connection.execute(table.delete())
            loaded = _load_table(connection, table, src / "database" / f"{table.name}.jsonl.gz")
            if loaded != manifest.rows[table.name]:
                expected = manifest.rows[table.name]
                raise BackupError(f"{table.name}: {loaded} rows read, the manifest says {expected}")
            total += loaded
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection, metadata)
    return total


def _restore_files(settings: Settings, src: Path, manifest: Manifest) -> int:
    store = get_blobstore(settings) if settings.storage_url else None
    for sha256 in manifest.originals:
        target = original_path(settings.files_dir, sha256)
        _link_or_copy(original_path(src, sha256), target, sha256)
        target.chmod(0o444)  # originals are immutable
        if store is not None:
            store.put(sha256, target)
    for relative, digest in manifest.words.items():
        target = (settings.files_dir / relative).resolve()
        if not target.is_relative_to(settings.files_dir.resolve()):
            raise BackupError(f"the manifest names a file outside the store: {relative}")
        _link_or_copy(src / "words" / relative, target, digest, link=False)
    return len(manifest.originals)


def restore_backup(settings: Settings, src: Path, *, force: bool = False) -> RestoreResult:
    """Restore ``src`` into the installation ``settings`` names, then rebuild the index.

    Refuses (``BackupError``) an installation that already holds rows or originals unless
    ``force``, which empties it first. The schema is created at the backup's revision, the
    rows loaded, the originals copied and verified, the schema migrated to head, and the
    search indexes rebuilt from the restored database.
    """
    manifest = Manifest.read(src / "manifest.json")
    _verify(src, manifest)
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    current = _current_revision(settings)
    if current is not None and _has_data(settings):
        if not force:
            raise BackupError(
                f"{settings.resolved_data_dir} already holds an archive: restore into an empty "
                "data folder and database, or pass --force to replace it"
            )
        if current != manifest.revision:
            raise BackupError(
                f"the database is at schema revision {current} and the backup at "
                f"{manifest.revision}: restore into an empty database instead"
            )
        _clear(settings)
    migrate.upgrade(settings, manifest.revision)
    rows = _load_database(settings, src, manifest)
    originals = _restore_files(settings, src, manifest)
    migrate.upgrade(settings)
    with session_scope(settings) as session, open_search_engine(settings) as engine:
        pages = rebuild(engine.client, settings, session)
    return RestoreResult(rows=rows, originals=originals, pages_indexed=pages)
