"""Render one PDF page to a PIL image with pypdfium2, under a pixel cap.

Hostile files declare absurd page sizes (a 35000x35000-pixel page fits in an 11 KB PDF), so
the render scale is lowered until the bitmap stays under ``max_pixels`` *before* anything is
allocated. Every failure surfaces as :class:`RenderError`, so callers deal with one type.
"""

from __future__ import annotations

import math
from pathlib import Path

import PIL.Image
import pypdfium2 as pdfium

MAX_PIXELS = 60_000_000  # ~ a 24x34 inch page at 300 DPI; a grey bitmap of 60 MB at most

_POINTS_PER_INCH = 72


class RenderError(Exception):
    """A page could not be rendered: unreadable file, wrong password, bad page index or size."""


def render_scale(
    width_pt: float, height_pt: float, *, dpi: float = 300, max_pixels: int = MAX_PIXELS
) -> float:
    """Return the pdfium scale for a page of this size: ``dpi`` / 72, lowered to fit the cap.

    The check uses the rounded-up bitmap size, so ``width * height <= max_pixels`` holds for
    the bitmap pdfium actually allocates.
    """
    if width_pt <= 0 or height_pt <= 0 or not math.isfinite(width_pt * height_pt):
        raise RenderError(f"page has no usable size ({width_pt} x {height_pt} pt)")
    if dpi <= 0 or max_pixels <= 0:
        raise ValueError("dpi and max_pixels must be positive")
    scale = min(dpi / _POINTS_PER_INCH, math.sqrt(max_pixels / (width_pt * height_pt)))
    # Rounding up can push the product a hair over the cap; shave until it fits.
    while math.ceil(width_pt * scale) * math.ceil(height_pt * scale) > max_pixels:
        scale *= 0.999
    return scale


def render_page(
    pdf_path: Path,
    page_index: int,
    *,
    dpi: float = 300,
    grey: bool = True,
    max_pixels: int = MAX_PIXELS,
    password: str | None = None,
) -> PIL.Image.Image:
    """Render one page with pypdfium2, lowering the scale so width*height stays under max_pixels.

    The page's own ``/Rotate`` is applied, so the image looks as a viewer shows the page.
    The document is opened and closed here: pypdfium2 objects must not cross threads or
    processes, and callers run this in worker processes. Raises :class:`RenderError`.
    """
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
            return render_open_page(
                page,
                dpi=dpi,
                grey=grey,
                max_pixels=max_pixels,
                what=f"page {page_index} of {pdf_path.name}",
            )
        finally:
            page.close()
    finally:
        pdf.close()


def render_open_page(
    page: pdfium.PdfPage,
    *,
    dpi: float = 300,
    grey: bool = True,
    max_pixels: int = MAX_PIXELS,
    what: str = "the page",
) -> PIL.Image.Image:
    """Render an open page as :func:`render_page` does (pixel cap, ``/Rotate`` applied).

    ``what`` names the page in error messages. Raises :class:`RenderError`.
    """
    try:
        width_pt, height_pt = page.get_size()
        scale = render_scale(width_pt, height_pt, dpi=dpi, max_pixels=max_pixels)
        bitmap = page.render(scale=scale, grayscale=grey)
        # to_pil() shares the pdfium buffer; copy so the image outlives the document.
        image: PIL.Image.Image = bitmap.to_pil().copy()
    except pdfium.PdfiumError as exc:
        raise RenderError(f"cannot render {what}: {exc}") from exc
    if grey and image.mode != "L":
        image = image.convert("L")
    return image
