"""From a stored original to a PDF that pdfium can read, whatever was uploaded.

PDFs are opened as they are (repaired into the derived folder when damaged); TIFF, PNG and
JPEG scans are converted without loss into ``derived/<sha256>/<version>/document.pdf``. The
original is never touched: what this module writes is derived and can be rebuilt.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ingest import PIPELINE_VERSION
from ingest.convert import images_to_pdf
from ingest.errors import EMPTY_REASON, BrokenFileError, UnsupportedFileError
from ingest.pdfopen import OpenedPdf, open_pdf
from ingest.sniff import MEDIA_TYPES, Kind, sniff
from ingest.storage import derived_dir, original_path

IMAGE_KINDS = frozenset({Kind.TIFF, Kind.PNG, Kind.JPEG})


@dataclass(frozen=True)
class Source:
    kind: Kind
    media_type: str
    pdf: OpenedPdf


def readable_pdf_path(files_dir: Path, sha256: str) -> Path:
    """The PDF to render pages from: the converted/repaired copy if any, else the original."""
    derived = derived_dir(files_dir, sha256, PIPELINE_VERSION) / "document.pdf"
    return derived if derived.exists() else original_path(files_dir, sha256)


def prepare_source(files_dir: Path, sha256: str, *, password: str | None = None) -> Source:
    """Sniff the original and give back an opened PDF; raise an ``IngestError`` if impossible."""
    original = original_path(files_dir, sha256)
    if original.stat().st_size == 0:
        raise BrokenFileError(EMPTY_REASON)
    kind = sniff(original)
    media_type = MEDIA_TYPES[kind]
    derived = derived_dir(files_dir, sha256, PIPELINE_VERSION)
    derived.mkdir(parents=True, exist_ok=True)
    work = derived / "work"
    if kind in IMAGE_KINDS:
        converted = derived / "document.pdf"
        if not converted.exists():
            images_to_pdf(original, converted)
        return Source(kind, media_type, open_pdf(converted, work))
    if kind is Kind.PDF:
        opened = open_pdf(original, work, password=password)
        if opened.repaired:
            # Keep the repaired copy where page images and later runs will look for it.
            repaired = derived / "document.pdf"
            shutil.move(opened.path, repaired)
            opened = OpenedPdf(repaired, opened.page_count, True, opened.password)
        shutil.rmtree(work, ignore_errors=True)
        return Source(kind, media_type, opened)
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
