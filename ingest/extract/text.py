"""The fast path: each page's text layer through pypdfium2 (about 600 pages/s here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium


@dataclass(frozen=True)
class LayerPage:
    number: int  # 1-based
    text: str
    width: float  # points
    height: float


def clean_text(text: str) -> str:
    # pdfium marks line ends with \r\n and soft hyphens with U+FFFE; NULs break PostgreSQL text.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "").replace("\x00", "")


def iter_layer_text(
    pdf_path: Path, *, first: int = 1, last: int | None = None, password: str | None = None
) -> Iterator[LayerPage]:
    """Yield the text layer of pages ``first``..``last`` (1-based, inclusive)."""
    pdf = pdfium.PdfDocument(pdf_path, password=password)
    try:
        end = len(pdf) if last is None else min(last, len(pdf))
        for index in range(first - 1, end):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    text = clean_text(textpage.get_text_bounded())
                finally:
                    textpage.close()
                width, height = page.get_size()
            finally:
                page.close()
            yield LayerPage(index + 1, text, width, height)
    finally:
        pdf.close()
