"""The image OCR reads for a PDF page: the scan at its own resolution, or a 300 DPI render.

Re-rendering a scan at a resolution other than its own resamples every pixel: a 200 DPI scan
drawn at 300 DPI reached tesseract blurred and interpolated, and lost words that the scan
itself gave (docs/ocr.md). A page that is a scan is therefore rendered at the scan's own
resolution, so pdfium maps its pixels one to one (stamps and boxes drawn over it still
appear); only scans far from tesseract's working range are resampled: below 200 DPI (fax,
144-150 DPI copier output) up to 300, where small print gains from the larger letters, and
above 400 DPI down to 300, which reads as well in a fraction of the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pypdfium2 as pdfium

from ingest.extract.layout import scan_layout
from ingest.render import RenderError, render_open_page

OCR_DPI = 300  # tesseract is trained on ~300 DPI text; lower resolutions lose small print
MIN_NATIVE_DPI = 200
MAX_NATIVE_DPI = 400


@dataclass(frozen=True)
class PageImage:
    """A page as OCR sees it: grey, upright as a viewer shows it, and its resolution."""

    image: PIL.Image.Image
    dpi: float
    scan_dpi: float | None  # the scan's own resolution, None for a page that is no scan


def ocr_dpi(scan_dpi: float | None) -> float:
    """The resolution to render at for OCR, given the page's scan resolution (if any)."""
    if scan_dpi is None or not MIN_NATIVE_DPI <= scan_dpi <= MAX_NATIVE_DPI:
        return OCR_DPI
    return scan_dpi


def page_image(pdf_path: Path, page_index: int, *, password: str | None = None) -> PageImage:
    """Render page ``page_index`` (0-based) of ``pdf_path`` for OCR; raises RenderError."""
    try:
        pdf = pdfium.PdfDocument(pdf_path, password=password)
    except (pdfium.PdfiumError, OSError) as exc:
        raise RenderError(f"cannot open {pdf_path.name}: {exc}") from exc
    try:
        if not 0 <= page_index < len(pdf):
            raise RenderError(f"page {page_index} out of range (document has {len(pdf)} pages)")
        try:
            page = pdf[page_index]
        except pdfium.PdfiumError as exc:
            raise RenderError(f"cannot read page {page_index} of {pdf_path.name}: {exc}") from exc
        try:
            try:
                scan_dpi = scan_layout(page).scan_dpi
            except pdfium.PdfiumError:
                scan_dpi = None  # the render below says whether the page can be read at all
            dpi = ocr_dpi(scan_dpi)
            image = render_open_page(
                page, dpi=dpi, grey=True, what=f"page {page_index} of {pdf_path.name}"
            )
        finally:
            page.close()
    finally:
        pdf.close()
    return PageImage(image, dpi, scan_dpi)
