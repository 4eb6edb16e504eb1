"""Small PDFs made by the tests themselves, with known text on known pages; reading a PDF's
text layer with pdfium alone, as a reference that owes nothing to the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas


def make_text_pdf(path: Path, pages: Sequence[str], *, title: str | None = None) -> Path:
    """A born-digital PDF with one string per page, line breaks kept."""
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    if title:
        pdf.setTitle(title)
    for page_text in pages:
        y = 720.0
        for line in page_text.splitlines() or [""]:
            pdf.setFont("Helvetica", 11)
            pdf.drawString(72, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return path


def layer_texts(path: Path | bytes) -> list[str]:
    """Each page's text layer (of a file, or of PDF bytes) as pdfium reads it, nothing of the
    pipeline in between."""
    pdf = pdfium.PdfDocument(path)
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            # get_text_bounded() is what get_text_range() runs with default arguments; calling
            # it directly avoids pypdfium2's UserWarning about that redirect.
            texts.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()
