"""A whole production in one download: a ZIP of its public originals and a manifest.

Readers of FOIA archives ask for the whole release at once (FIELD.md: "bulk download of a
whole collection"). The archive holds each public document's original exactly as the agency
released it, in the production's order (Bates, then id), and ``manifest.csv`` last: one row
per document with its title, Bates range, pages, sha256 and permalink, so that every file can
be checked and cited. Unpublished and taken-down documents, and files that could not be
read, are never in it.

The ZIP is written while it is sent, in the response's thread: nothing of it is held in
memory or on disk beyond one chunk. Everything it needs from the database is read before the
first byte, so that the request's session is not needed while it streams. Originals are
stored, not compressed (PDFs and scans are compressed already), with ZIP64 so that a
production of several gigabytes is still one valid archive.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.errors import NotFoundError, UnavailableError
from app.models import Document, Production, ProductionStatus, production_documents
from app.services.browse import public_documents_of
from app.services.documents import original_file, public_documents, safe_filename
from app.slugs import slugify
from app.urls import document_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = (
    "file",
    "document_id",
    "title",
    "bates_start",
    "bates_end",
    "document_date",
    "pages",
    "bytes",
    "sha256",
    "url",
)


@dataclass(frozen=True)
class BundleEntry:
    """One document of the bundle and its name inside the ZIP.

    The document is loaded before streaming starts and only its columns are read afterwards,
    so it needs no session (sessions never expire loaded values here).
    """

    member: str
    document: Document


@dataclass(frozen=True)
class Bundle:
    """A published production's public documents, ready to be streamed as one ZIP."""

    production_id: int
    filename: str  # what the browser saves it as
    entries: tuple[BundleEntry, ...]


@dataclass(frozen=True)
class BundleSize:
    documents: int
    bytes: int


def bundle_size(session: Session, production_id: int) -> BundleSize:
    """How many public documents the production's bundle holds, and their bytes (one query)."""
    count, size = session.execute(
        select(func.count(Document.id), func.coalesce(func.sum(Document.bytes), 0))
        .join(production_documents, production_documents.c.document_id == Document.id)
        .where(production_documents.c.production_id == production_id, public_documents())
    ).one()
    return BundleSize(int(count), int(size))


def production_bundle(session: Session, production_id: int) -> Bundle:
    """The bundle of a published production; ``NotFoundError`` for any other production."""
    production = session.scalars(
        select(Production)
        .where(Production.id == production_id, Production.status == ProductionStatus.PUBLISHED)
        .options(selectinload(Production.agency))
    ).first()
    if production is None:
        raise NotFoundError(f"there is no published production {production_id}")
    documents = session.scalars(public_documents_of(production.id)).all()
    width = max(4, len(str(len(documents))))
    entries = tuple(
        # Numbered in the production's order: two files of the same name stay apart.
        BundleEntry(f"{number:0{width}d}-{safe_filename(d.original_filename, d.slug)}", d)
        for number, d in enumerate(documents, start=1)
    )
    agency = production.agency.abbreviation or production.agency.slug
    filename = f"{slugify(agency)}-{slugify(production.title)}-{production.id}.zip"
    return Bundle(production.id, filename, entries)


def stream_bundle(settings: Settings, bundle: Bundle) -> Iterator[bytes]:
    """The bundle's ZIP, chunk by chunk. An original that cannot be read is left out, and
    the manifest (written last) says so in its row, instead of breaking the download."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        rows: list[dict[str, str]] = []
        for entry in bundle.entries:
            row = _manifest_row(entry, settings.base_url)
            try:
                path = original_file(settings, entry.document).path
                yield from _add_file(archive, sink, path, entry.member)
            except (NotFoundError, UnavailableError, OSError) as exc:
                # The response has started; a missing file must not cut the archive short.
                log.warning("bundle of production %s: %s", bundle.production_id, exc)
                row["file"] = f"(missing: {exc})"
            rows.append(row)
        manifest = io.StringIO()
        writer = csv.DictWriter(manifest, fieldnames=MANIFEST_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr(
            _info(MANIFEST_NAME, dt.datetime.now(dt.UTC)),
            manifest.getvalue().encode("utf-8"),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        yield sink.take()
    yield sink.take()  # the central directory, written when the archive closes


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken out as they come (zipfile needs no seek)."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        # zipfile records each member's offset from here; the stream cannot seek.
        return self._written

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _add_file(archive: zipfile.ZipFile, sink: _Sink, path: Path, member: str) -> Iterator[bytes]:
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    with (
        path.open("rb") as source,
        archive.open(_info(member, modified), "w", force_zip64=True) as target,
    ):
        while chunk := source.read(CHUNK_BYTES):
            target.write(chunk)
            yield sink.take()


def _info(name: str, modified: dt.datetime) -> zipfile.ZipInfo:
    # ZIP dates start in 1980; an original's file time before that is the store's, not its own.
    stamp = max(modified, dt.datetime(1980, 1, 1, tzinfo=dt.UTC))
    info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
    info.external_attr = 0o644 << 16  # a plain readable file once unpacked
    return info


def _manifest_row(entry: BundleEntry, base_url: str) -> dict[str, str]:
    d = entry.document
    return {
        "file": entry.member,
        "document_id": str(d.id),
        "title": d.title,
        "bates_start": d.bates_start or "",
        "bates_end": d.bates_end or "",
        "document_date": d.document_date.isoformat() if d.document_date else "",
        "pages": str(d.page_count or 0),
        "bytes": str(d.bytes or 0),
        "sha256": d.sha256,
        "url": base_url.rstrip("/") + document_path(d.id, d.slug),
    }
