"""Burning redactions into a PDF: the public copy in which boxed text is gone from the file.

Each page with boxes is drawn (annotations included) at :data:`BURN_DPI`, the boxes painted
black on the drawing, and the page's content replaced by that image: every text object,
path, image and annotation of the page is removed, so nothing under a box survives in the
file. So that the page stays searchable and its words can be highlighted, the words that
are not under a box are laid over the image again as invisible text (as OCRmyPDF lays its
text layer over a scan). Pages without boxes are copied as they are.

pdfium writes the edited pages; the file is then rewritten by qpdf (pikepdf), which keeps only
the objects still reachable from the document: the removed content streams, which still
held the text, are not carried over. :func:`verify_burned` reads the result back and raises
if any redacted value can still be extracted.
"""

from __future__ import annotations

import ctypes
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import pikepdf
import PIL.Image
import PIL.ImageDraw
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.extract.text import clean_text

BURN_DPI = 150
MAX_BURN_PIXELS = 30_000_000  # a hostile page size must not allocate gigabytes
# A word is dropped from the text layer when this share of its box is under a redaction.
WORD_COVERED = 0.3

Box = Sequence[float]  # x0, y0, x1, y1 as fractions of the upright page, origin top left
Word = tuple[str, float, float, float, float]  # text and its box, the same frame


class BurnError(Exception):
    """The redacted copy could not be made, or still holds a redacted value."""


def _covered(word: Word, boxes: Sequence[Box]) -> bool:
    """True when the boxes together cover :data:`WORD_COVERED` of the word's box (a value
    found character by character may come as several boxes over one word)."""
    _, x0, y0, x1, y1 = word
    area = max(1e-9, (x1 - x0) * (y1 - y0))
    inside = sum(
        max(0.0, min(x1, bx1) - max(x0, bx0)) * max(0.0, min(y1, by1) - max(y0, by0))
        for bx0, by0, bx1, by1 in boxes
    )
    return inside >= WORD_COVERED * area


def _clear(page: pdfium.PdfPage) -> None:
    for index in reversed(range(pdfium_c.FPDFPage_CountObjects(page.raw))):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, index)
        if pdfium_c.FPDFPage_RemoveObject(page.raw, obj):
            pdfium_c.FPDFPageObj_Destroy(obj)
    for index in reversed(range(pdfium_c.FPDFPage_GetAnnotCount(page.raw))):
        pdfium_c.FPDFPage_RemoveAnnot(page.raw, index)


def _draw(page: pdfium.PdfPage, boxes: Sequence[Box]) -> PIL.Image.Image:
    width, height = page.get_size()
    if page.get_rotation() % 180 == 90:
        width, height = height, width
    scale = min(BURN_DPI / 72, (MAX_BURN_PIXELS / max(1.0, width * height)) ** 0.5)
    drawn = page.render(scale=scale, may_draw_forms=True, draw_annots=True).to_pil()
    image: PIL.Image.Image = drawn.convert("RGB")
    draw = PIL.ImageDraw.Draw(image)
    w, h = image.size
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0 * w - 1, y0 * h - 1, x1 * w + 1, y1 * h + 1), fill="black")
    return image


def _lay_text(
    pdf: pdfium.PdfDocument, page: pdfium.PdfPage, words: Sequence[Word], size: tuple[float, float]
) -> None:
    width, height = size
    font = pdfium_c.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
    for text, x0, y0, x1, y1 in words:
        if not text.strip():
            continue
        font_size = max(1.0, (y1 - y0) * height)
        obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, ctypes.c_float(font_size))
        # A trailing space: text extraction then keeps the words apart, whatever their gaps.
        encoded = (text + " \x00").encode("utf-16-le")
        buffer = ctypes.create_string_buffer(encoded, len(encoded))
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
        pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
        # Helvetica averages about half an em per character: stretch the word to its box.
        stretch = max(0.05, (x1 - x0) * width / max(1.0, 0.5 * font_size * len(text)))
        pdfium_c.FPDFPageObj_Transform(
            obj, stretch, 0, 0, 1, x0 * width, (1 - y1) * height + 0.2 * font_size
        )
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)


def burn_in(
    source: Path,
    target: Path,
    boxes: Mapping[int, Sequence[Box]],
    words: Mapping[int, Sequence[Word]],
    *,
    password: str | None = None,
) -> None:
    """Write ``source`` to ``target`` with the boxes of each page number burned in.

    ``words`` are each burned page's words (text layer or OCR), laid back as invisible text
    unless a box covers them. Raises :class:`BurnError` when the PDF cannot be read.
    """
    try:
        pdf = pdfium.PdfDocument(source, password=password)
    except (pdfium.PdfiumError, OSError) as exc:
        raise BurnError(f"cannot open {source.name}: {exc}") from exc
    try:
        for number, page_boxes in sorted(boxes.items()):
            if not 1 <= number <= len(pdf):
                raise BurnError(f"{source.name} has no page {number}")
            page = pdf[number - 1]
            try:
                image = _draw(page, page_boxes)
                width, height = page.get_size()
                if page.get_rotation() % 180 == 90:
                    width, height = height, width
                _clear(page)
                page.set_rotation(0)
                page.set_mediabox(0, 0, width, height)
                page.set_cropbox(0, 0, width, height)
                picture = pdfium.PdfImage.new(pdf)
                picture.set_bitmap(pdfium.PdfBitmap.from_pil(image))
                picture.set_matrix(pdfium.PdfMatrix().scale(width, height))
                page.insert_obj(picture)
                kept = [w for w in words.get(number, ()) if not _covered(w, page_boxes)]
                _lay_text(pdf, page, kept, (width, height))
                page.gen_content()
            finally:
                page.close()
        buffer = io.BytesIO()
        pdf.save(buffer)
    except pdfium.PdfiumError as exc:
        raise BurnError(f"cannot burn redactions into {source.name}: {exc}") from exc
    finally:
        pdf.close()
    buffer.seek(0)
    # qpdf writes only what the document still references: the old content streams go.
    with pikepdf.open(buffer) as rewritten:
        rewritten.remove_unreferenced_resources()
        rewritten.save(
            target, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate
        )


def page_texts(path: Path, numbers: Sequence[int]) -> dict[int, str]:
    """The text layer of the given pages, as the pipeline reads it."""
    pdf = pdfium.PdfDocument(path)
    try:
        texts = {}
        for number in numbers:
            page = pdf[number - 1]
            textpage = page.get_textpage()
            try:
                texts[number] = clean_text(textpage.get_text_bounded())
            finally:
                textpage.close()
                page.close()
        return texts
    finally:
        pdf.close()


def verify_burned(path: Path, secrets: Sequence[str]) -> None:
    """Raise :class:`BurnError` if any secret is still in the file: in the text of any page
    (pdfium), or in any decompressed stream of it (qpdf), white space ignored."""
    wanted = {"".join(s.split()).lower() for s in secrets if s.strip()}
    if not wanted:
        return
    pdf = pdfium.PdfDocument(path)
    try:
        texts = page_texts(path, list(range(1, len(pdf) + 1)))
    finally:
        pdf.close()
    compact = "".join("".join(texts.values()).split()).lower()
    streams = []
    with pikepdf.open(path) as document:
        for obj in document.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    streams.append(obj.read_bytes().decode("latin-1"))
                except pikepdf.PdfError:
                    continue
    raw = "".join("".join(streams).split()).lower()
    for secret in wanted:
        if secret in compact or secret in raw:
            raise BurnError("a redacted value can still be read from the redacted copy")
