"""What a file is, judged from its first bytes: agencies rename, truncate and mislabel files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

# Real productions carry junk (mail headers, a stray BOM, printer preambles) before "%PDF-";
# PDF readers look for the header within the first kilobyte, so we do too.
PDF_HEADER_WINDOW = 1024


class Kind(StrEnum):
    """The file formats the ingest front door tells apart."""

    PDF = "pdf"
    ZIP = "zip"
    TIFF = "tiff"
    PNG = "png"
    JPEG = "jpeg"
    UNKNOWN = "unknown"


MEDIA_TYPES: dict[Kind, str] = {
    Kind.PDF: "application/pdf",
    Kind.ZIP: "application/zip",
    Kind.TIFF: "image/tiff",
    Kind.PNG: "image/png",
    Kind.JPEG: "image/jpeg",
    Kind.UNKNOWN: "application/octet-stream",
}

# Signatures that must sit at offset 0. The empty-archive record (PK\x05\x06) is a valid ZIP
# with no members; spanned archives' first part (PK\x07\x08) is deliberately not accepted.
_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"PK\x03\x04", Kind.ZIP),
    (b"PK\x05\x06", Kind.ZIP),
    (b"II*\x00", Kind.TIFF),
    (b"MM\x00*", Kind.TIFF),
    (b"\x89PNG\r\n\x1a\n", Kind.PNG),
    (b"\xff\xd8\xff", Kind.JPEG),
)


def sniff(path: Path) -> Kind:
    """From the bytes, never the extension.

    PDF: "%PDF-" within the first 1024 bytes (real files have junk before the header); ZIP
    "PK\\x03\\x04" (also an empty zip, "PK\\x05\\x06"); TIFF "II*\\0" / "MM\\0*"; PNG; JPEG
    "FF D8 FF". An empty or unrecognised file is ``Kind.UNKNOWN``. Raises ``OSError`` when the
    file cannot be read.
    """
    with path.open("rb") as f:
        head = f.read(PDF_HEADER_WINDOW)
    # Magic at offset 0 beats a "%PDF-" further in: a ZIP whose first member is a PDF stored
    # uncompressed has that PDF's header within its first kilobyte, and is still a ZIP.
    if head.startswith(b"%PDF-"):
        return Kind.PDF
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"%PDF-" in head:
        return Kind.PDF
    return Kind.UNKNOWN
