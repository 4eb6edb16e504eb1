"""Small PDFs made by the tests themselves, with known text on known pages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
