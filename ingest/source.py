"""From a stored original to a PDF that pdfium can read, whatever was uploaded.

PDFs are opened as they are (repaired into the derived folder when damaged); TIFF, PNG and
JPEG scans are converted without loss into ``derived/<sha256>/<version>/document.pdf``. The
original is never touched: what this module writes is derived and can be rebuilt. Derived files
are kept per machine: a worker that lacks the original fetches it from the shared store, and
one that lacks the converted or repaired copy makes its own.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from ingest import PIPELINE_VERSION
from ingest.blobstore import ensure_local_original
from ingest.convert import images_to_pdf
from ingest.errors import EMPTY_REASON, BrokenFileError, UnsupportedFileError
from ingest.pdfopen import OpenedPdf, open_pdf
from ingest.sniff import MEDIA_TYPES, Kind, sniff
from ingest.storage import derived_dir

IMAGE_KINDS = frozenset({Kind.TIFF, Kind.PNG, Kind.JPEG})


@dataclass(frozen=True)
class Source:
    kind: Kind
    media_type: str
    pdf: OpenedPdf


def readable_pdf_path(settings: Settings, sha256: str, *, password: str | None = None) -> Path:
    """The local PDF to render pages from: the converted/repaired copy if any, else the original.

    On a machine that has not prepared this document yet (another worker planned it), the
    original is fetched and the copy rebuilt here; a sound PDF is its own readable copy.
    """
    derived = derived_dir(settings.files_dir, sha256, PIPELINE_VERSION) / "document.pdf"
    if derived.exists():
        return derived
    return prepare_source(settings, sha256, password=password).pdf.path


def prepare_source(settings: Settings, sha256: str, *, password: str | None = None) -> Source:
    """Sniff the original and give back an opened PDF; raise an ``IngestError`` if impossible.

    Raises ``OSError`` (``BlobNotFoundError`` among them) when the original cannot be read.
    """
    original = ensure_local_original(settings, sha256)
    if original.stat().st_size == 0:
        raise BrokenFileError(EMPTY_REASON)
    kind = sniff(original)
    media_type = MEDIA_TYPES[kind]
    if kind in IMAGE_KINDS or kind is Kind.PDF:
        return Source(kind, media_type, _open_readable(settings, sha256, original, kind, password))
    if kind is Kind.ZIP:
        raise UnsupportedFileError(
            "this ZIP archive could not be unpacked at intake; upload the files inside it"
        )
    with original.open("rb") as handle:
        head = handle.read(8)
    raise UnsupportedFileError(
        "this file is not a PDF, TIFF, PNG, JPEG or ZIP (its first bytes are "
        f"{head.hex(' ')}); convert it to PDF and upload it again"
    )


def _open_readable(
    settings: Settings, sha256: str, original: Path, kind: Kind, password: str | None
) -> OpenedPdf:
    derived = derived_dir(settings.files_dir, sha256, PIPELINE_VERSION)
    derived.mkdir(parents=True, exist_ok=True)
    readable = derived / "document.pdf"
    # A folder per call: several workers of one machine may prepare the same document at once,
    # and each rename into ``readable`` is atomic, so none of them reads half a file.
    work = Path(tempfile.mkdtemp(dir=derived, prefix="work-"))
    try:
        if kind is Kind.PDF:
            opened = open_pdf(original, work, password=password, max_pages=settings.max_pages)
        else:
            if not readable.exists():
                images_to_pdf(original, readable)
            opened = open_pdf(readable, work, max_pages=settings.max_pages)
        if opened.repaired:
            # Keep the repaired copy where page images and later runs will look for it.
            shutil.move(opened.path, readable)
            opened = OpenedPdf(readable, opened.page_count, True, opened.password)
        return opened
    finally:
        shutil.rmtree(work, ignore_errors=True)
