"""Failed redactions: text still in a born-digital page's text layer under something opaque.

The method of Free Law Project's x-ray, on pdfium: take the rectangles and images the page
draws (found by the layout walk, :mod:`ingest.extract.layout`, in the same pass that reads
the page, so a page without any costs nothing more), find the characters under them, then
render the page and look at each box: if its pixels are one solid colour, the characters
under it cannot be seen, yet anyone can copy them out of the file.

Drawing order decides what is under what: only text drawn *before* a box is hidden by it
(white text drawn on a black heading bar, or black text on a grey table cell, is not), which
is what x-ray's own tests on rectangle ordering check. Annotations are drawn over all the
page's content: dark highlights, filled squares and unapplied redaction marks (``Redact``
annotations that were never applied leave the text in place, whatever they look like).

Kinds, each with the confidence a finding starts from:

- ``text_under_box``: a dark (or coloured) filled rectangle, 0.95 (coloured 0.85);
- ``text_under_image``: an image drawn over text whose pixels there are solid, 0.95;
- ``text_under_white_box``: a white rectangle, 0.7 (white boxes over text are also how some
  producers blank out form fields; the main false positive x-ray reports);
- ``text_under_annotation``: a dark highlight or square annotation, 0.95; a Redact one, 0.97.

Not found: text hidden by clipping paths, by text of the background colour drawn over it, or
on top of visible text (x-ray does not find these either).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass

import PIL.Image
import PIL.ImageChops
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.extract.layout import DARK_LEVEL, Cover, PageLayout, Rect

# A character is under a box when this share of its box is inside it (x-ray: 0.8).
MIN_OCCLUSION = 0.8
RENDER_SCALE = 1.0  # 72 dpi: a letter inside a box changes dozens of pixels
DARKNESS_SCALE = 0.5  # 36 dpi: enough to tell a blacked-out spot of a scan
# A box hides its text when nearly all its pixels differ by no more than this (0..255)
# between the page drawn with and without that text.
VISIBLE_DIFFERENCE = 24
SAME_SHARE = 0.995
DARK_SHARE = 0.9  # of the pixels over a character under an image, for it to be blacked out
MAX_CHARS = 50_000
MIN_HIDDEN_CHARS = 2  # a page with more characters than this is not read for hidden text

CONFIDENCE = {
    "dark": 0.95,
    "colour": 0.85,
    "image": 0.95,
    "light": 0.7,
    "annotation": 0.95,
    "redact": 0.97,
}
KIND = {
    "dark": "text_under_box",
    "colour": "text_under_box",
    "image": "text_under_image",
    "light": "text_under_white_box",
    "annotation": "text_under_annotation",
    "redact": "text_under_annotation",
}
# Words that redaction boxes carry on purpose, and marks that mean nothing.
_LABEL_ONLY = re.compile(
    r"^(?:[\W_]*(?:redacted|withheld|b\d[a-f]?|\(b\)\s*\(\d\)(?:\s*\([a-f]\))?|"
    r"ex(?:emption)?\.?\s*\d|x+|_+)[\W_]*)+$",
    re.IGNORECASE,
)
_ANNOTATION_KINDS = {
    pdfium_c.FPDF_ANNOT_HIGHLIGHT: "annotation",
    pdfium_c.FPDF_ANNOT_SQUARE: "annotation",
    pdfium_c.FPDF_ANNOT_REDACT: "redact",
}
_ON_TOP = 1 << 30  # annotations are drawn after every object of the page


@dataclass(frozen=True)
class HiddenText:
    """Characters of the text layer that a box hides.

    ``box`` is in PDF user space (y up); ``spans`` are where the characters are in the text
    the caller passed (empty when they could not be placed there).
    """

    kind: str
    confidence: float
    box: Rect
    text: str
    spans: tuple[tuple[int, int], ...]


@dataclass
class _Candidate:
    cover: Cover
    kind: str  # a key of CONFIDENCE
    chars: list[int]


def find_hidden_text(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, layout: PageLayout, text: str
) -> list[HiddenText]:
    """Text hidden under opaque boxes, images or annotations of an open page.

    ``text`` is the page's text as the pipeline keeps it (``clean_text`` of the bounded
    text); the hidden characters are located in it. Costs one annotation count on a page
    that draws nothing over its text.
    """
    candidates = [_Candidate(c, c.kind, []) for c in layout.covers]
    candidates += _annotation_covers(page)
    if not candidates:
        return []
    # Most boxes drawn after some text hold none: a table cell's background under its own
    # text, a white mask on an empty field. One bounded-text call each says so.
    candidates = [c for c in candidates if textpage.get_text_bounded(*c.cover.rect).strip()]
    if not candidates:
        return []
    chars = _read_chars(textpage, min(textpage.count_chars(), MAX_CHARS), layout, candidates)
    for index, (_, box, obj) in enumerate(chars):
        if box is None:
            continue
        order = layout.text_order.get(obj, -1)
        for candidate in candidates:
            if candidate.cover.order > order and _occluded(box, candidate.cover.rect):
                candidate.chars.append(index)
                break
    if any(c.kind == "image" and c.chars for c in candidates):
        _keep_blacked_out(page, candidates, chars)
    hidden = [c for c in candidates if _meaningful("".join(chars[i][0] for i in c.chars))]
    if not hidden:
        return []
    visible = _Renders(page, {chars[i][2] for c in hidden for i in c.chars})
    found = []
    for candidate in hidden:
        # An unapplied Redact mark fails whatever it looks like: the text was meant to go.
        if candidate.kind != "redact" and not visible.unchanged(candidate.cover.rect):
            continue  # the text shows through: a shaded cell, a translucent mark
        found.append(
            HiddenText(
                KIND[candidate.kind],
                CONFIDENCE[candidate.kind],
                candidate.cover.rect,
                _joined(candidate.chars, [chars[i][0] for i in candidate.chars]),
                _spans(text, [c for c, _, _ in chars], candidate.chars),
            )
        )
    return found


def _keep_blacked_out(
    page: pdfium.PdfPage, candidates: list[_Candidate], chars: list[_Char]
) -> None:
    """Keep, of the characters under images, those where the image is black.

    A scan's invisible OCR text lies under (or over) the scan by design, and every scanned
    page with an OCR layer has an image drawn after some text; only where the scan is
    blacked out is its text a failed redaction. One small drawing (36 dpi) tells.
    """
    image = page.render(scale=DARKNESS_SCALE, may_draw_forms=True).to_pil().convert("L")
    left, bottom, right, top = (float(v) for v in page.get_bbox())
    to_pixels = _ToPixels(image.size, (left, bottom, right, top), page.get_rotation() % 360)
    for candidate in candidates:
        if candidate.kind == "image":
            candidate.chars = [
                i
                for i in candidate.chars
                if (box := chars[i][1]) is not None and _dark(image, to_pixels(box))
            ]


def _dark(image: PIL.Image.Image, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    if x1 <= x0:
        x1 = x0 + 1
    if y1 <= y0:
        y1 = y0 + 1
    histogram = image.crop((x0, y0, x1, y1)).histogram()
    return sum(histogram[: int(DARK_LEVEL) + 1]) >= DARK_SHARE * sum(histogram)


def _annotation_covers(page: pdfium.PdfPage) -> list[_Candidate]:
    total = pdfium_c.FPDFPage_GetAnnotCount(page.raw)
    found = []
    for index in range(total):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            kind = _ANNOTATION_KINDS.get(pdfium_c.FPDFAnnot_GetSubtype(annot))
            if kind is None:
                continue
            if kind == "annotation" and not _dark_annotation(annot):
                continue  # a yellow highlight marks text, it does not hide it
            rect = pdfium_c.FS_RECTF()
            if not pdfium_c.FPDFAnnot_GetRect(annot, ctypes.byref(rect)):
                continue
            box = (
                min(rect.left, rect.right),
                min(rect.bottom, rect.top),
                max(rect.left, rect.right),
                max(rect.bottom, rect.top),
            )
            found.append(_Candidate(Cover(box, _ON_TOP, "annotation"), kind, []))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return found


def _dark_annotation(annot: ctypes.c_void_p) -> bool:
    for colour_type in (
        pdfium_c.FPDFANNOT_COLORTYPE_InteriorColor,
        pdfium_c.FPDFANNOT_COLORTYPE_Color,
    ):
        r, g, b, a = (ctypes.c_uint(0) for _ in range(4))
        if (
            pdfium_c.FPDFAnnot_GetColor(
                annot,
                colour_type,
                ctypes.byref(r),
                ctypes.byref(g),
                ctypes.byref(b),
                ctypes.byref(a),
            )
            and max(r.value, g.value, b.value) < DARK_LEVEL
        ):
            return True
    return False


_Char = tuple[str, Rect | None, int]  # character, its box (None if not needed), text object


# FPDFText_GetTextObject answering a plain address: pypdfium2's binding returns a pointer
# object, and turning each into an address cost more than the call itself.
_text_object = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
    ctypes.cast(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p).value or 0
)


def _read_chars(
    textpage: pdfium.PdfTextPage, count: int, layout: PageLayout, candidates: list[_Candidate]
) -> list[_Char]:
    """Each character of the page, with its box when it may be under a candidate.

    The characters come in one call; boxes (a call each) only for characters of the text
    objects the layout walk found under a cover (every character, for annotations).
    """
    raw = textpage.raw
    page_text = textpage.get_text_range(0, count) if count else ""
    if len(page_text) != count:  # characters outside the Basic Multilingual Plane
        page_text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 32) for i in range(count))
    everything = any(c.cover.order == _ON_TOP for c in candidates)
    wanted = layout.text_order
    handle = ctypes.cast(raw, ctypes.c_void_p)
    left, right, bottom, top = (ctypes.c_double(0) for _ in range(4))
    refs = [ctypes.byref(v) for v in (left, right, bottom, top)]
    chars: list[_Char] = []
    for index, char in enumerate(page_text):
        if char.isspace() or char in "\ufffe\x00":
            chars.append((char, None, 0))
            continue
        address = _text_object(handle, index) or 0
        if (everything or address in wanted) and pdfium_c.FPDFText_GetCharBox(raw, index, *refs):
            chars.append((char, (left.value, bottom.value, right.value, top.value), address))
        else:
            chars.append((char, None, address))
    return chars


def _occluded(char: Rect, box: Rect) -> bool:
    x0, y0, x1, y1 = char
    area = (x1 - x0) * (y1 - y0)
    if area <= 0:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2  # a glyph with no extent: its point
        return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
    inside = max(0.0, min(x1, box[2]) - max(x0, box[0])) * max(
        0.0, min(y1, box[3]) - max(y0, box[1])
    )
    return inside >= MIN_OCCLUSION * area


def _meaningful(text: str) -> bool:
    """Hidden characters worth a finding: a letter or digit, not a label, not one repeated
    character (``XXXX``), as x-ray filters them."""
    compact = "".join(text.split())
    # One stray letter under a box is a glyph edge, not a word (x-ray keeps two, like "34").
    if sum(ch.isalnum() for ch in compact) < MIN_HIDDEN_CHARS:
        return False
    if len(set(compact.lower())) == 1:
        return False
    return not _LABEL_ONLY.match(compact)


def _joined(indices: Sequence[int], chars: Sequence[str]) -> str:
    parts: list[str] = []
    previous = None
    for index, char in zip(indices, chars, strict=True):
        if previous is not None and index > previous + 1:
            parts.append(" ")
        parts.append(char)
        previous = index
    return " ".join("".join(parts).split())


def _spans(
    text: str, page_chars: Sequence[str], indices: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """Where the characters ``indices`` of the text page are in ``text``.

    pdfium's bounded text and its character list hold the same non-blank characters in the
    same order (white space differs: generated spaces, line ends), so the n-th non-blank
    character of one is the n-th of the other. If they do not line up here, nothing is
    returned and the caller finds the hidden text by its value.
    """
    blank_before = [0] * (len(page_chars) + 1)
    seen = 0
    for index, char in enumerate(page_chars):
        blank_before[index] = seen
        if not char.isspace() and char not in "\ufffe\x00":
            seen += 1
    offsets = [i for i, ch in enumerate(text) if not ch.isspace()]
    spans: list[tuple[int, int]] = []
    for index in indices:
        rank = blank_before[index]
        if rank >= len(offsets) or text[offsets[rank]] != page_chars[index]:
            return ()
        start = offsets[rank]
        if spans and spans[-1][1] >= start - 1 and not text[spans[-1][1] : start].strip():
            spans[-1] = (spans[-1][0], start + 1)
        else:
            spans.append((start, start + 1))
    return tuple(spans)


class _Renders:
    """The page drawn as it is, and drawn without the text objects that may be hidden.

    A box hides its text when both drawings are the same inside it: this holds for solid
    boxes, cross-hatched ones (lines drawn over a black box), white boxes, dark images and
    dark highlights alike, and fails for translucent marks and shaded cells, where the text
    shows.
    """

    def __init__(self, page: pdfium.PdfPage, objects: set[int]) -> None:
        self.page = page
        self.with_text = self._draw()
        left, bottom, right, top = (float(v) for v in page.get_bbox())
        self.to_pixels = _ToPixels(
            self.with_text.size, (left, bottom, right, top), page.get_rotation() % 360
        )
        handles = [ctypes.cast(a, pdfium_c.FPDF_PAGEOBJECT) for a in objects if a]
        for handle in handles:
            pdfium_c.FPDFPageObj_SetIsActive(handle, False)
        try:
            self.without_text = self._draw()
        finally:
            for handle in handles:
                pdfium_c.FPDFPageObj_SetIsActive(handle, True)

    def _draw(self) -> PIL.Image.Image:
        bitmap = self.page.render(scale=RENDER_SCALE, may_draw_forms=True, draw_annots=True)
        image: PIL.Image.Image = bitmap.to_pil().convert("L")
        return image

    def unchanged(self, rect: Rect) -> bool:
        """True when the box looks the same with and without the text under it."""
        box = self.to_pixels(rect)
        if box[2] <= box[0] or box[3] <= box[1]:
            return False
        difference = PIL.ImageChops.difference(
            self.with_text.crop(box), self.without_text.crop(box)
        )
        histogram = difference.histogram()
        return sum(histogram[: VISIBLE_DIFFERENCE + 1]) >= SAME_SHARE * sum(histogram)


class _ToPixels:
    """PDF user space to the pixels of a drawing of the page (pdfium draws it upright)."""

    def __init__(self, size: tuple[int, int], page_box: Rect, rotation: int) -> None:
        self.size, self.page_box, self.rotation = size, page_box, rotation

    def __call__(self, rect: Rect) -> tuple[int, int, int, int]:
        fx0, fy0, fx1, fy1 = upright_fractions(rect, self.page_box, self.rotation)
        width, height = self.size
        return (round(fx0 * width), round(fy0 * height), round(fx1 * width), round(fy1 * height))


def upright_fractions(
    rect: Rect, page_box: Rect, rotation: int
) -> tuple[float, float, float, float]:
    """A PDF box (y up, points) as fractions (0..1) of the page as displayed, origin top left.

    The frame of page images and word boxes (:mod:`app.services.pages`): ``rotation`` is the
    page's own /Rotate, clockwise.
    """
    left, bottom, right, top = page_box
    width, height = right - left, top - bottom
    if width <= 0 or height <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, y0, x1, y1 = rect
    fx0, fx1 = (x0 - left) / width, (x1 - left) / width
    fy0, fy1 = (top - y1) / height, (top - y0) / height
    if rotation == 90:
        fx0, fy0, fx1, fy1 = 1 - fy1, fx0, 1 - fy0, fx1
    elif rotation == 180:
        fx0, fy0, fx1, fy1 = 1 - fx1, 1 - fy1, 1 - fx0, 1 - fy0
    elif rotation == 270:
        fx0, fy0, fx1, fy1 = fy0, 1 - fx1, fy1, 1 - fx0
    a, b, c, d = (min(1.0, max(0.0, v)) for v in (fx0, fy0, fx1, fy1))
    return (a, b, c, d)
