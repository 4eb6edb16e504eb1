"""sniff: the kind of a file from its bytes, whatever its name says."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ingest.sniff import MEDIA_TYPES, Kind, sniff
from tests.conftest import CORPUS, needs_corpus


def _image_bytes(fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, fmt, **params)
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", Kind.PDF, id="pdf"),
        pytest.param(b"\xef\xbb\xbf" + b"x" * 1000 + b"%PDF-1.4\n", Kind.PDF, id="pdf-after-junk"),
        pytest.param(b"x" * 1020 + b"%PDF-1.4\n", Kind.UNKNOWN, id="pdf-header-past-1024"),
        pytest.param(_zip_bytes({"a.txt": b"a"}), Kind.ZIP, id="zip"),
        pytest.param(_zip_bytes({}), Kind.ZIP, id="empty-zip"),
        pytest.param(_image_bytes("TIFF"), Kind.TIFF, id="tiff-little-endian"),
        pytest.param(b"MM\x00*\x00\x00\x00\x08", Kind.TIFF, id="tiff-big-endian"),
        pytest.param(_image_bytes("PNG"), Kind.PNG, id="png"),
        pytest.param(_image_bytes("JPEG"), Kind.JPEG, id="jpeg"),
        pytest.param(b"", Kind.UNKNOWN, id="empty"),
        pytest.param(b"Dear requester,\nplease find attached", Kind.UNKNOWN, id="text"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", Kind.UNKNOWN, id="gif"),
    ],
)
def test_sniff_reads_the_bytes(tmp_path: Path, data: bytes, expected: Kind) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    assert sniff(path) is expected


def test_sniff_ignores_the_extension(tmp_path: Path) -> None:
    misnamed_pdf = tmp_path / "scan.jpg"
    misnamed_pdf.write_bytes(b"%PDF-1.5\n")
    misnamed_png = tmp_path / "letter.pdf"
    misnamed_png.write_bytes(_image_bytes("PNG"))
    assert sniff(misnamed_pdf) is Kind.PDF
    assert sniff(misnamed_png) is Kind.PNG


def test_zip_whose_first_member_is_a_stored_pdf_is_a_zip(tmp_path: Path) -> None:
    # The member's "%PDF-" lands inside the first kilobyte; the ZIP magic at offset 0 must win.
    path = tmp_path / "production.zip"
    path.write_bytes(_zip_bytes({"a.pdf": b"%PDF-1.4\n"}, zipfile.ZIP_STORED))
    assert b"%PDF-" in path.read_bytes()[:1024]
    assert sniff(path) is Kind.ZIP


def test_every_kind_has_a_media_type() -> None:
    assert set(MEDIA_TYPES) == set(Kind)
    assert MEDIA_TYPES[Kind.PDF] == "application/pdf"
    assert MEDIA_TYPES[Kind.UNKNOWN] == "application/octet-stream"


@needs_corpus
def test_every_corpus_file_with_bytes_is_a_pdf() -> None:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert rows
    for row in rows:
        expected = Kind.UNKNOWN if row["bytes"] == "0" else Kind.PDF
        assert sniff(CORPUS / row["file"]) is expected, row["file"]
