"""Page images and word boxes, derived from the stored PDF on first request and cached on disk.

Both are functions of (sha256, pipeline version, page), so they live under the document's
derived folder and never need invalidating::

    files/derived/<sha256>/<pipeline version>/images/<n>-thumb.webp   (about 200 px wide)
                                             images/<n>-image.webp   (about 1000 px wide)
                                             words/<n>.json          (text-layer pages)

Word boxes share one shape whatever made them: ``{"version": 1, "source": "ocr" | "layer",
"rotation": 0, "words": [[text, x0, y0, x1, y1], ...]}`` with coordinates as fractions (0..1)
of the upright page, origin top left. OCR'd pages carry a file written by the pipeline
(``Page.words_path``); for text-layer pages the boxes come from pdfium's character boxes here.
A non-zero ``rotation`` means the OCR read the page turned that many degrees clockwise, so its
image is drawn turned the same way and the boxes line up.

pdfium is not thread-safe and the web server renders from a thread pool: every pdfium call in
this module holds one process-wide lock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from app.config import Settings
from app.errors import NotFoundError
from app.models import Document, Page
from app.services.findings import paint_masked, public_pdf, public_sha256, visible_words
from app.services.matching import QueryMatcher
from app.services.originals import reading_original
from app.urls import ImageSize
from ingest.hidden_text import upright_fractions
from ingest.source import readable_pdf_path
from ingest.storage import derived_dir

WORDS_VERSION = 1
IMAGE_WIDTHS: dict[ImageSize, int] = {"thumb": 200, "image": 1000}
# A page 1000 px wide stays far below this unless it is absurdly tall; hostile PDFs declare
# pages of 200 inches, so the scale is lowered before pdfium allocates anything.
MAX_IMAGE_PIXELS = 4_000_000
WEBP_QUALITY: dict[ImageSize, int] = {"thumb": 70, "image": 80}
MAX_WORDS = 100_000
DEFAULT_PAGE_SIZE = (612.0, 792.0)  # US letter, in points, for pages whose size is unknown

_PDFIUM_LOCK = threading.Lock()

# Readable PDFs found for documents this process did not find a derived copy for, by
# (files folder, sha256); the newest kept.
PREPARED_CACHE_SIZE = 1024
_PREPARED: OrderedDict[tuple[str, str], Path] = OrderedDict()
_PREPARING: dict[tuple[str, str], threading.Lock] = {}
_PREPARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class WordBox:
    """One word and its box, as fractions of the upright page (origin top left)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class PageWords:
    source: str  # "ocr" or "layer"
    rotation: int  # degrees clockwise the page image is turned so that the words line up
    words: list[WordBox]


def _derived(settings: Settings, document: Document) -> Path:
    # Keyed by the public file: a redacted copy's images and words are never the original's.
    sha256 = public_sha256(settings, document)
    return derived_dir(settings.files_dir, sha256, document.pipeline_version)


def source_pdf(settings: Settings, document: Document) -> Path:
    """The PDF that pages are drawn from: the pipeline's converted or repaired copy, if any.

    A machine that did not process the document (a web server whose workers run elsewhere)
    may have neither that copy nor the original: the original is then fetched from the shared
    store and the copy rebuilt here, once per process and document. ``NotFoundError`` when
    the pages cannot be drawn, ``UnavailableError`` when the store cannot be read now.
    """
    redacted = public_pdf(settings, document)  # issue 12: boxes burned into a public copy
    if redacted is not None:
        return redacted
    converted = _derived(settings, document) / "document.pdf"
    if converted.is_file():
        return converted
    key = (str(settings.files_dir), document.sha256)
    with _PREPARED_LOCK:
        known = _PREPARED.get(key)
        lock = _PREPARING.setdefault(key, threading.Lock())
    if known is not None and known.is_file():
        return known
    # One preparation per document at a time: the first request of a reader screen asks for
    # twenty thumbnails at once, and all but one wait here for the copy the first one makes.
    with lock:
        known = _PREPARED.get(key)
        if known is not None and known.is_file():
            return known
        try:
            with reading_original(document.id):
                path = readable_pdf_path(settings, document.sha256)
            with _PREPARED_LOCK:
                # Remembered because a sound PDF is its own readable copy: nothing on disk
                # says that it was checked, and checking again would start a process.
                _PREPARED[key] = path
                _PREPARED.move_to_end(key)
                while len(_PREPARED) > PREPARED_CACHE_SIZE:
                    _PREPARED.popitem(last=False)
        finally:
            with _PREPARED_LOCK:
                _PREPARING.pop(key, None)
    return path


def image_size(width_pt: float | None, height_pt: float | None, size: ImageSize) -> tuple[int, int]:
    """Pixel size of a page image of ``size`` for a page of this size (as displayed)."""
    width_pt = width_pt if width_pt and width_pt > 0 else DEFAULT_PAGE_SIZE[0]
    height_pt = height_pt if height_pt and height_pt > 0 else DEFAULT_PAGE_SIZE[1]
    scale = min(IMAGE_WIDTHS[size] / width_pt, math.sqrt(MAX_IMAGE_PIXELS / (width_pt * height_pt)))
    return max(1, round(width_pt * scale)), max(1, round(height_pt * scale))


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    # Two workers may render the same page: each writes aside and renames, so a reader never
    # sees half a file and the last rename wins with identical bytes.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _open_pdf(path: Path, document: Document) -> Any:
    try:
        return pdfium.PdfDocument(path)
    except (pdfium.PdfiumError, OSError) as exc:
        raise NotFoundError(f"the pages of document {document.id} cannot be drawn") from exc


def _page_index(pdf: Any, document: Document, number: int) -> int:
    if not 1 <= number <= len(pdf):
        raise NotFoundError(f"document {document.id} has no page {number}")
    return number - 1


def _rotate(image: PIL.Image.Image, degrees: int) -> PIL.Image.Image:
    turns = {
        90: PIL.Image.Transpose.ROTATE_270,  # PIL names counter-clockwise turns
        180: PIL.Image.Transpose.ROTATE_180,
        270: PIL.Image.Transpose.ROTATE_90,
    }
    if degrees in turns:
        return image.transpose(turns[degrees])
    return image.rotate(-degrees, expand=True, fillcolor="white")


def page_image(settings: Settings, document: Document, page: Page, size: ImageSize) -> Path:
    """The cached WebP image of ``page``, drawn from the stored PDF if not yet on disk."""
    target = _derived(settings, document) / "images" / f"{page.number}-{size}.webp"
    if target.is_file():
        return target
    rotation = load_page_words(settings, document, page).rotation if page.words_path else 0
    # Outside the pdfium lock: finding the PDF may mean fetching and converting the original.
    path = source_pdf(settings, document)
    with _PDFIUM_LOCK:
        if target.is_file():  # drawn by another request while this one waited
            return target
        pdf = _open_pdf(path, document)
        try:
            pdf_page = pdf[_page_index(pdf, document, page.number)]
            try:
                width_pt, height_pt = pdf_page.get_size()
                if rotation % 180 == 90:
                    width_pt, height_pt = height_pt, width_pt
                expected = image_size(width_pt, height_pt, size)
                scale = expected[0] / width_pt
                bitmap = pdf_page.render(scale=scale, may_draw_forms=True)
                image = bitmap.to_pil().convert("RGB")
            finally:
                pdf_page.close()
        except pdfium.PdfiumError as exc:
            raise NotFoundError(
                f"page {page.number} of document {document.id} cannot be drawn"
            ) from exc
        finally:
            pdf.close()
    if rotation % 360:
        image = _rotate(image, rotation % 360)
    if rotation % 90 == 0 and image.size != expected:
        # pdfium rounds the bitmap up; the HTML promises exactly ``image_size`` pixels.
        image = image.resize(expected, PIL.Image.Resampling.LANCZOS)
    image = paint_masked(settings, document, page.number, image)  # findings not yet kept
    _write_atomically(
        target, lambda tmp: image.save(tmp, "WEBP", quality=WEBP_QUALITY[size], method=4)
    )
    return target


def _parse_words(data: Any) -> PageWords:
    if not isinstance(data, dict) or data.get("version") != WORDS_VERSION:
        return PageWords("ocr", 0, [])
    rotation = data.get("rotation", 0)
    rotation = int(rotation) % 360 if isinstance(rotation, int | float) else 0
    words: list[WordBox] = []
    raw_words = data.get("words")
    for item in raw_words[:MAX_WORDS] if isinstance(raw_words, list) else []:
        # The file is ours, but it is read on a public request: skip what is malformed.
        if not (isinstance(item, list) and len(item) == 5 and isinstance(item[0], str)):
            continue
        coords = item[1:]
        if not all(isinstance(c, int | float) and math.isfinite(c) for c in coords):
            continue
        x0, y0, x1, y1 = (min(1.0, max(0.0, float(c))) for c in coords)
        if x1 > x0 and y1 > y0:
            words.append(WordBox(item[0], x0, y0, x1, y1))
    return PageWords(str(data.get("source", "ocr")), rotation, words)


def _read_words_file(path: Path) -> PageWords | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return _parse_words(json.load(handle))
    except (OSError, ValueError):
        return None


def _pipeline_words_file(settings: Settings, words_path: str) -> Path | None:
    candidate = Path(words_path)
    if not candidate.is_absolute():
        candidate = settings.files_dir / candidate
    resolved = candidate.resolve()
    # The path comes from the database; never read outside the file store because of it.
    if not resolved.is_relative_to(settings.files_dir.resolve()):
        return None
    return resolved


def _upright(
    box: tuple[float, float, float, float], crop: tuple[float, float, float, float], rotation: int
) -> tuple[float, float, float, float]:
    """A PDF box (origin bottom left, points) as fractions of the page as displayed."""
    return upright_fractions(box, crop, rotation)


def _layer_words(pdf_page: Any) -> list[WordBox]:
    crop = pdf_page.get_cropbox()
    if crop[2] - crop[0] <= 0 or crop[3] - crop[1] <= 0:
        return []
    rotation = pdf_page.get_rotation() % 360
    textpage = pdf_page.get_textpage()
    try:
        words: list[WordBox] = []
        chars: list[str] = []
        box: list[float] = []

        def flush() -> None:
            if chars and box:
                x0, y0, x1, y1 = _upright((box[0], box[1], box[2], box[3]), crop, rotation)
                words.append(WordBox("".join(chars), x0, y0, x1, y1))
            chars.clear()
            box.clear()

        for index in range(min(textpage.count_chars(), MAX_WORDS * 4)):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, index))
            if char.isspace() or char in "\ufffe\x00":
                flush()
                continue
            left, bottom, right, top = textpage.get_charbox(index, loose=True)
            # A new line without a generated space between (it happens) starts a new word.
            if box and (bottom >= box[3] or top <= box[1]):
                flush()
            chars.append(char)
            if box:
                box[:] = [
                    min(box[0], left),
                    min(box[1], bottom),
                    max(box[2], right),
                    max(box[3], top),
                ]
            else:
                box[:] = [left, bottom, right, top]
        flush()
        return words
    finally:
        textpage.close()


def _words_json(words: PageWords) -> dict[str, Any]:
    return {
        "version": WORDS_VERSION,
        "source": words.source,
        "rotation": words.rotation,
        "words": [
            [w.text, round(w.x0, 5), round(w.y0, 5), round(w.x1, 5), round(w.y1, 5)]
            for w in words.words
        ],
    }


def load_page_words(settings: Settings, document: Document, page: Page) -> PageWords:
    """The word boxes of ``page`` with the rotation they assume (see the module docstring)."""
    if page.words_path:
        path = _pipeline_words_file(settings, page.words_path)
        found = _read_words_file(path) if path else None
        # OCR boxes cannot be rebuilt here; without the file the page just has no highlights.
        return found or PageWords("ocr", 0, [])
    cached = _derived(settings, document) / "words" / f"{page.number}.json"
    found = _read_words_file(cached)
    if found is not None:
        return found
    path = source_pdf(settings, document)
    with _PDFIUM_LOCK:
        pdf = _open_pdf(path, document)
        try:
            pdf_page = pdf[_page_index(pdf, document, page.number)]
            try:
                words = PageWords("layer", 0, _layer_words(pdf_page))
            finally:
                pdf_page.close()
        except pdfium.PdfiumError as exc:
            raise NotFoundError(
                f"page {page.number} of document {document.id} cannot be read"
            ) from exc
        finally:
            pdf.close()
    payload = json.dumps(_words_json(words), ensure_ascii=False, separators=(",", ":"))
    _write_atomically(cached, lambda tmp: tmp.write_text(payload, encoding="utf-8"))
    return words


def page_words(settings: Settings, document: Document, page: Page) -> list[WordBox]:
    """The words of ``page`` with their boxes, in reading order."""
    return load_page_words(settings, document, page).words


def highlight_boxes(words: PageWords, matcher: QueryMatcher) -> list[WordBox]:
    """The boxes of the words that the query matches, to draw over the page image."""
    if not matcher:
        return []
    return [words.words[i] for i in matcher.word_indices([w.text for w in words.words])]


@dataclass(frozen=True)
class PageDisplay:
    """What the page view draws: the image's size, its turn, and the boxes of the matches."""

    width: int
    height: int
    rotation: int
    boxes: list[WordBox]


def page_display(settings: Settings, document: Document, page: Page, query: str) -> PageDisplay:
    """The image size and highlight boxes of ``page`` for ``query`` (no boxes without one)."""
    matcher = QueryMatcher(query)
    words = PageWords("layer", 0, [])
    if matcher or page.words_path:
        # A page pdfium cannot read still shows its text, just without boxes.
        with contextlib.suppress(NotFoundError):
            words = load_page_words(settings, document, page)
    width_pt, height_pt = page.width, page.height
    if words.rotation % 180 == 90:
        width_pt, height_pt = height_pt, width_pt
    width, height = image_size(width_pt, height_pt, "image")
    boxes = visible_words(settings, document, page.number, highlight_boxes(words, matcher))
    return PageDisplay(width, height, words.rotation, boxes)


def load_words_from(
    settings: Settings, document: Document, page: Page, pdf_path: Path
) -> list[WordBox]:
    """The words of ``page``: its OCR words, or the text layer of ``pdf_path`` (not cached)."""
    if page.words_path:
        return load_page_words(settings, document, page).words
    with _PDFIUM_LOCK:
        pdf = _open_pdf(pdf_path, document)
        try:
            pdf_page = pdf[_page_index(pdf, document, page.number)]
            try:
                return _layer_words(pdf_page)
            finally:
                pdf_page.close()
        finally:
            pdf.close()


def draw_page(pdf_path: Path, document: Document, number: int, width: int) -> PIL.Image.Image:
    """Page ``number`` of ``pdf_path`` drawn about ``width`` pixels wide (no cache)."""
    with _PDFIUM_LOCK:
        pdf = _open_pdf(pdf_path, document)
        try:
            pdf_page = pdf[_page_index(pdf, document, number)]
            try:
                width_pt, height_pt = pdf_page.get_size()
                if pdf_page.get_rotation() % 180 == 90:
                    width_pt, height_pt = height_pt, width_pt
                scale = min(
                    width / max(width_pt, 1.0),
                    math.sqrt(MAX_IMAGE_PIXELS / max(width_pt * height_pt, 1.0)),
                )
                image: PIL.Image.Image = (
                    pdf_page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
                )
                return image
            finally:
                pdf_page.close()
        except pdfium.PdfiumError as exc:
            raise NotFoundError(f"page {number} of document {document.id} cannot be drawn") from exc
        finally:
            pdf.close()
