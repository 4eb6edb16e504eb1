"""PDF metadata: the info dictionary (through pypdfium2) and XMP (through pikepdf).

Values are cleaned to short single-line strings and dates normalised to ISO 8601. The info
dictionary wins where both have a value, XMP fills the gaps. Hostile files can carry anything
here, so every value is length-capped and a failure to read XMP only loses XMP.
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium

from ingest.classify import normalise_pdf_date

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 500
_INFO_KEYS = {
    "Title": "title",
    "Author": "author",
    "Subject": "subject",
    "Keywords": "keywords",
    "Creator": "creator",
    "Producer": "producer",
    "CreationDate": "created",
    "ModDate": "modified",
}
_XMP_KEYS = {
    "dc:title": "title",
    "dc:creator": "author",
    "dc:description": "subject",
    "pdf:Keywords": "keywords",
    "xmp:CreatorTool": "creator",
    "pdf:Producer": "producer",
    "xmp:CreateDate": "created",
    "xmp:ModifyDate": "modified",
}
_DATE_FIELDS = {"created", "modified"}


def _clean(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | set):
        value = "; ".join(str(v) for v in value)
    text = " ".join(str(value).replace("\x00", "").split())
    return text[:MAX_VALUE_CHARS] or None


def _info(pdf_path: Path, password: str | None) -> dict[str, str]:
    pdf = pdfium.PdfDocument(pdf_path, password=password)
    try:
        raw = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    out: dict[str, str] = {}
    for key, field in _INFO_KEYS.items():
        value = _clean(raw.get(key))
        if value:
            out[field] = value
    return out


def _may_hold_xmp(pdf_path: Path) -> bool:
    """Whether the file's bytes name a ``/Metadata`` stream, or could hide one.

    XMP hangs from the catalog's ``/Metadata`` key. Dictionary keys are never encrypted or
    compressed except inside object streams (``/ObjStm``), so a file naming neither has no
    XMP, and pikepdf need not parse its whole cross-reference table (most of the per-document
    cost on short documents) to say so.
    """
    try:
        with (
            pdf_path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            return data.find(b"/Metadata") >= 0 or data.find(b"/ObjStm") >= 0
    except (OSError, ValueError):  # unreadable or empty: let pikepdf give the reason
        return True


def _xmp(pdf_path: Path, password: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not _may_hold_xmp(pdf_path):
        return out
    try:
        with pikepdf.open(pdf_path, password=password or "") as pdf:
            meta = pdf.open_metadata()
            for key, field in _XMP_KEYS.items():
                try:
                    value = _clean(meta.get(key))
                except (ValueError, KeyError, TypeError):  # malformed XMP values
                    continue
                if value:
                    out[field] = value
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        log.info("no XMP read from %s: %s", pdf_path.name, exc)
    return out


def read_pdf_metadata(pdf_path: Path, *, password: str | None = None) -> dict[str, str]:
    """Title, author, subject, keywords, creator, producer, created, modified (ISO dates)."""
    merged = {**_xmp(pdf_path, password), **_info(pdf_path, password)}
    for field in _DATE_FIELDS & merged.keys():
        normalised = normalise_pdf_date(merged[field])
        if normalised:
            merged[field] = normalised
        else:
            del merged[field]
    return merged


def useful_title(metadata: dict[str, str]) -> str | None:
    """The metadata title when it reads like a title, not a tool's placeholder."""
    title = metadata.get("title")
    if not title:
        return None
    lowered = title.lower()
    placeholders = ("untitled", "microsoft word", "document1", ".doc", ".pdf", ".tif", "scan")
    if len(title) < 4 or any(p in lowered for p in placeholders):
        return None
    return title
