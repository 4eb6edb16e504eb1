"""What a page is made of, read from pdfium's page objects in one pass (no rendering).

Two questions are answered here for every page, cheaply enough to run beside the text layer:
how much of the page is covered by images (a scan, even with an old OCR layer), and which
filled dark rectangles it draws (candidate redaction boxes), with the text drawn near them so
that a dark heading bar carrying white text can be told from a redaction. The walk uses
pdfium's raw object API: wrapping every object in a Python class costs more than the
questions themselves on pages made of thousands of objects.
"""

from __future__ import annotations

import ctypes
import itertools
import math
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

MAX_FORM_DEPTH = 8  # nested forms deeper than this are hostile input, not a layout
MAX_OBJECTS = 20_000  # past this many objects a page is vector art; stop looking
# A dark path with more segments than this is artwork (a seal, a chart), not boxes; reading
# every segment through ctypes would cost more than the rest of the page.
MAX_PATH_SEGMENTS = 2_000
DARK_LEVEL = 0.2 * 255  # every RGB channel below this is "black"
LIGHT_LEVEL = 0.8 * 255  # every RGB channel above this is "white"
MIN_SIDE_PT = 4.0

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, y upwards
# An affine matrix (a, b, c, d, e, f) as PDF writes it: x' = a x + c y + e, y' = b x + d y + f.
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class TextRun:
    """One text object near a dark rectangle: its bounds, glyph count and whether it is light."""

    rect: Rect
    chars: int  # characters that are not white space
    light: bool


@dataclass(frozen=True)
class Cover:
    """Something opaque drawn after the page's first text object, which may hide text.

    ``kind`` is ``dark`` (a near-black filled rectangle), ``light`` (a near-white one),
    ``colour`` (any other opaque fill) or ``image``; ``order`` is its place in the page's
    drawing order (text objects drawn before it are under it). Read by
    :mod:`ingest.hidden_text`.
    """

    rect: Rect
    order: int
    kind: str


@dataclass(frozen=True)
class PageLayout:
    """Image coverage and dark filled rectangles of one page, in its user space."""

    image_coverage: float  # 0..1 of the page area
    page_box: Rect
    # Filled, near-black, axis-aligned rectangles at least MIN_SIDE_PT on each side, one per
    # subpath (a path of several ``re`` operators yields several), unclipped.
    dark_rects: tuple[Rect, ...] = ()
    # Text objects overlapping a dark rectangle; empty when the page has none.
    text_runs: tuple[TextRun, ...] = ()
    # Pixels per inch of the largest image, when it covers most of the page (a scan's own
    # resolution, at which OCR reads it without resampling); None otherwise.
    scan_dpi: float | None = None
    # Rectangles and images drawn after some text that they overlap (candidates for text
    # hidden under them), and the drawing order of those text objects by pdfium handle.
    covers: tuple[Cover, ...] = ()
    text_order: dict[int, int] = field(default_factory=dict)

    @property
    def dark_fills(self) -> int:
        return len(self.dark_rects)


def union_area(rects: list[Rect]) -> float:
    """Area covered by the union of rectangles ``(x0, y0, x1, y1)``."""
    if len(rects) > 500:
        # The exact union is quadratic; tiled scans with this many images are covered anyway.
        return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects)
    xs = sorted({x for x0, _, x1, _ in rects for x in (x0, x1)})
    area = 0.0
    for xa, xb in itertools.pairwise(xs):
        spans = sorted((y0, y1) for x0, y0, x1, y1 in rects if x0 <= xa and x1 >= xb)
        covered, reach = 0.0, float("-inf")
        for y0, y1 in spans:
            if y1 > reach:
                covered += y1 - max(y0, reach)
                reach = y1
        area += covered * (xb - xa)
    return area


def scan_layout(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage | None = None) -> PageLayout:
    """Image coverage, dark filled rectangles and the text over them, for an open page.

    ``textpage`` (the page's open text page) is used to count the characters of text objects
    over dark rectangles; one is opened for the purpose when it is not given.
    """
    left, bottom, right, top = (float(v) for v in page.get_bbox())
    page_box = (left, bottom, right, top)
    page_area = (right - left) * (top - bottom)
    walk = _Walk()
    walk.visit(page.raw, None, _IDENTITY, 0)
    images = [clipped for rect in walk.images if (clipped := _clip(rect, page_box)) is not None]
    coverage = min(1.0, union_area(images) / page_area) if page_area > 0 else 0.0
    scan_dpi = _scan_dpi(walk.image_scales, page_area)
    dark = tuple(rect for rect in walk.dark_rects if _clip(rect, page_box) is not None)
    covers, order = _covered_text(walk, page_box, page, textpage)
    if not dark:
        return PageLayout(coverage, page_box, scan_dpi=scan_dpi, covers=covers, text_order=order)
    owned = textpage is None
    text = page.get_textpage() if textpage is None else textpage
    try:
        runs = tuple(
            run
            for obj, matrix in walk.texts
            if (run := _text_run(obj, matrix, text, dark)) is not None
        )
    finally:
        if owned:
            text.close()
    return PageLayout(coverage, page_box, dark, runs, scan_dpi, covers, order)


def _covered_text(
    walk: _Walk, page_box: Rect, page: pdfium.PdfPage, textpage: pdfium.PdfTextPage | None
) -> tuple[tuple[Cover, ...], dict[int, int]]:
    """The covers that some earlier text object overlaps, and those text objects' order.

    Text objects drawn before the last cover are measured (a call each) only on a page that
    has a cover at all; most covers then overlap no text drawn before them (a table cell's
    shading under its own text, a white margin box under line numbers) and are dropped. A
    cover left must also hold some text by pdfium's reading (one bounded-text call), not
    only the edge of a long line's box.
    """
    covers = [c for c in walk.covers if _clip(c.rect, page_box) is not None]
    if not covers:
        return (), {}
    last = max(c.order for c in covers)
    under: dict[int, list[int]] = {}  # cover index: the text objects under it
    order: dict[int, int] = {}
    # One set of out-parameters for the whole page: allocating four floats per object cost
    # more than pdfium's answer.
    x0, y0, x1, y1 = (ctypes.c_float(0) for _ in range(4))
    refs = [ctypes.byref(v) for v in (x0, y0, x1, y1)]
    for (obj, matrix), z in zip(walk.texts, walk.text_z, strict=True):
        if z > last:
            break  # drawn after every cover: under none of them
        if not pdfium_c.FPDFPageObj_GetBounds(obj, *refs):
            continue
        rect = _on_rect(matrix, (x0.value, y0.value, x1.value, y1.value))
        for index, cover in enumerate(covers):
            if cover.order > z and _overlaps(rect, cover.rect):
                under.setdefault(index, []).append(_address(obj))
                order[_address(obj)] = z
    if not under:
        return (), {}
    text = page.get_textpage() if textpage is None else textpage
    try:
        kept = [i for i in under if text.get_text_bounded(*covers[i].rect).strip()]
    finally:
        if textpage is None:
            text.close()
    wanted = {address for i in kept for address in under[i]}
    return tuple(covers[i] for i in sorted(kept)), {a: z for a, z in order.items() if a in wanted}


# An image covering at least this share of the page is the page's scan.
_SCAN_SHARE = 0.5


def _scan_dpi(scales: list[tuple[float, float]], page_area: float) -> float | None:
    """Resolution of the largest image if it covers most of the page: (area pt², dpi) pairs."""
    if not scales or page_area <= 0:
        return None
    area, dpi = max(scales)
    return dpi if area >= page_area * _SCAN_SHARE and dpi > 0 else None


# --- the walk ----------------------------------------------------------------------------------


class _Walk:
    """Collects image bounds, dark rectangles and text objects, descending into forms."""

    def __init__(self) -> None:
        self.images: list[Rect] = []
        # (placed area in pt², pixels per inch) of each image, for the scan's resolution.
        self.image_scales: list[tuple[float, float]] = []
        self.dark_rects: list[Rect] = []
        # Text objects are only measured when the page has a dark rectangle: most have none.
        self.texts: list[tuple[ctypes.c_void_p, Matrix]] = []
        self.text_z: list[int] = []  # each text object's drawing order
        self.covers: list[Cover] = []  # opaque boxes and images drawn after the first text
        self.count = 0

    def visit(
        self, page: ctypes.c_void_p, form: ctypes.c_void_p | None, matrix: Matrix, depth: int
    ) -> None:
        if depth > MAX_FORM_DEPTH:
            return
        total = (
            pdfium_c.FPDFPage_CountObjects(page)
            if form is None
            else pdfium_c.FPDFFormObj_CountObjects(form)
        )
        for index in range(total):
            self.count += 1
            if self.count > MAX_OBJECTS:
                return
            obj = (
                pdfium_c.FPDFPage_GetObject(page, index)
                if form is None
                else pdfium_c.FPDFFormObj_GetObject(form, index)
            )
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                self.texts.append((obj, matrix))
                self.text_z.append(self.count)
            elif kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                bounds = _bounds(obj)
                if bounds is not None:
                    self.images.append(_on_rect(matrix, bounds))
                    self._image_scale(obj, matrix)
                    if self.texts:  # drawn over text that came before it
                        self.covers.append(Cover(self.images[-1], self.count, "image"))
            elif kind == pdfium_c.FPDF_PAGEOBJ_PATH:
                self._path(obj, matrix)
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                # pdfium reports objects inside a form in the form's space: carry its matrix.
                self.visit(page, obj, _compose(_matrix(obj), matrix), depth + 1)

    def _image_scale(self, obj: ctypes.c_void_p, matrix: Matrix) -> None:
        width, height = ctypes.c_uint(0), ctypes.c_uint(0)
        if not pdfium_c.FPDFImageObj_GetImagePixelSize(
            obj, ctypes.byref(width), ctypes.byref(height)
        ):
            return
        # The image's unit square is drawn through its matrix: the lengths of the matrix's
        # column vectors are its placed width and height in points, whatever the rotation.
        a, b, c, d, _, _ = _compose(_matrix(obj), matrix)
        placed_w, placed_h = math.hypot(a, b), math.hypot(c, d)
        if placed_w <= 0 or placed_h <= 0 or not width.value or not height.value:
            return
        dpi = min(width.value / placed_w, height.value / placed_h) * 72
        self.image_scales.append((placed_w * placed_h, dpi))

    def _path(self, obj: ctypes.c_void_p, matrix: Matrix) -> None:
        fill = _fill_kind(obj)
        # Only dark boxes count as redactions; any opaque box drawn after text may hide it.
        if fill is None or (fill != "dark" and not self.texts):
            return
        bounds = _bounds(obj)
        if bounds is None:
            return
        x0, y0, x1, y1 = _on_rect(matrix, bounds)
        if min(x1 - x0, y1 - y0) < MIN_SIDE_PT:
            return  # no subpath of it can be large enough
        to_page = _compose(_matrix(obj), matrix)
        if not _axis_aligned(to_page):
            return
        for points in _subpaths(obj):
            rect = _rectangle(points)
            if rect is None:
                continue
            x0, y0, x1, y1 = _on_rect(to_page, rect)
            if min(x1 - x0, y1 - y0) >= MIN_SIDE_PT:
                if fill == "dark":
                    self.dark_rects.append((x0, y0, x1, y1))
                if self.texts:
                    self.covers.append(Cover((x0, y0, x1, y1), self.count, fill))


def _address(obj: ctypes.c_void_p) -> int:
    return ctypes.cast(obj, ctypes.c_void_p).value or 0


def _fill_kind(obj: ctypes.c_void_p) -> str | None:
    """``dark``, ``light`` or ``colour`` for an opaque filled path; None for any other."""
    fill_mode, stroke = ctypes.c_int(0), ctypes.c_int(0)
    if not pdfium_c.FPDFPath_GetDrawMode(obj, ctypes.byref(fill_mode), ctypes.byref(stroke)):
        return None
    if fill_mode.value == pdfium_c.FPDF_FILLMODE_NONE:
        return None
    rgba = _fill_rgba(obj)
    if rgba is None or rgba[3] <= 128:
        return None
    if max(rgba[:3]) < DARK_LEVEL:
        return "dark"
    return "light" if min(rgba[:3]) > LIGHT_LEVEL else "colour"


def _fill_rgba(obj: ctypes.c_void_p) -> tuple[int, int, int, int] | None:
    r, g, b, a = (ctypes.c_uint(0) for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetFillColor(
        obj, ctypes.byref(r), ctypes.byref(g), ctypes.byref(b), ctypes.byref(a)
    ):
        return None
    return r.value, g.value, b.value, a.value


def _bounds(obj: ctypes.c_void_p) -> Rect | None:
    x0, y0, x1, y1 = (ctypes.c_float(0) for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetBounds(
        obj, ctypes.byref(x0), ctypes.byref(y0), ctypes.byref(x1), ctypes.byref(y1)
    ):
        return None
    return x0.value, y0.value, x1.value, y1.value


def _matrix(obj: ctypes.c_void_p) -> Matrix:
    m = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(m)):
        return _IDENTITY
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """The matrix applying ``inner`` first, then ``outer``."""
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _on_rect(matrix: Matrix, rect: Rect) -> Rect:
    """Bounds of a rectangle's four corners under ``matrix``."""
    if matrix == _IDENTITY:
        return rect
    a, b, c, d, e, f = matrix
    x0, y0, x1, y1 = rect
    xs = [a * x + c * y + e for x in (x0, x1) for y in (y0, y1)]
    ys = [b * x + d * y + f for x in (x0, x1) for y in (y0, y1)]
    return min(xs), min(ys), max(xs), max(ys)


def _axis_aligned(matrix: Matrix, tolerance: float = 1e-6) -> bool:
    a, b, c, d, _, _ = matrix
    return (abs(b) <= tolerance and abs(c) <= tolerance) or (
        abs(a) <= tolerance and abs(d) <= tolerance
    )


def _clip(rect: Rect, box: Rect) -> Rect | None:
    x0, y0 = max(rect[0], box[0]), max(rect[1], box[1])
    x1, y1 = min(rect[2], box[2]), min(rect[3], box[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _subpaths(obj: ctypes.c_void_p) -> list[list[tuple[float, float]]]:
    """The path's subpaths as point lists, or none when it has curves or too many segments."""
    count = pdfium_c.FPDFPath_CountSegments(obj)
    if count <= 0 or count > MAX_PATH_SEGMENTS:
        return []
    x, y = ctypes.c_float(0), ctypes.c_float(0)
    subpaths: list[list[tuple[float, float]]] = []
    for index in range(count):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj, index)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            return []  # curves: a shape, not boxes (pdfplumber lists these as curves too)
        if not pdfium_c.FPDFPathSegment_GetPoint(segment, ctypes.byref(x), ctypes.byref(y)):
            return []
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO or not subpaths:
            subpaths.append([])
        subpaths[-1].append((x.value, y.value))
    return subpaths


def _rectangle(points: list[tuple[float, float]], tolerance: float = 0.01) -> Rect | None:
    """The rectangle a closed four-corner subpath draws, if it is one (as ``re`` writes it)."""
    if not 4 <= len(points) <= 5:
        return None
    if len(points) == 5 and not _close(points[0], points[4], tolerance):
        return None
    corners = points[:4]
    xs = sorted({round(px / tolerance) for px, _ in corners})
    ys = sorted({round(py / tolerance) for _, py in corners})
    if len(xs) != 2 or len(ys) != 2:
        return None
    # Each edge must run along one axis: consecutive corners share an x or a y.
    for (ax, ay), (bx, by) in itertools.pairwise([*corners, corners[0]]):
        if not (abs(ax - bx) <= tolerance or abs(ay - by) <= tolerance):
            return None
    return xs[0] * tolerance, ys[0] * tolerance, xs[1] * tolerance, ys[1] * tolerance


def _close(a: tuple[float, float], b: tuple[float, float], tolerance: float) -> bool:
    return abs(a[0] - b[0]) <= tolerance and abs(a[1] - b[1]) <= tolerance


def _text_run(
    obj: ctypes.c_void_p, matrix: Matrix, textpage: pdfium.PdfTextPage, dark: tuple[Rect, ...]
) -> TextRun | None:
    bounds = _bounds(obj)
    if bounds is None:
        return None
    rect = _on_rect(matrix, bounds)
    if not any(_overlaps(rect, box) for box in dark):
        return None
    size = pdfium_c.FPDFTextObj_GetText(obj, textpage.raw, None, 0)
    if size <= 2:  # UTF-16 with its terminator: nothing but the terminator
        return None
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDFTextObj_GetText(
        obj, textpage.raw, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size
    )
    text = buffer.raw[: size - 2].decode("utf-16-le", errors="replace")
    chars = sum(not ch.isspace() for ch in text)
    if not chars:
        return None
    rgba = _fill_rgba(obj)
    light = rgba is not None and min(rgba[:3]) > LIGHT_LEVEL
    return TextRun(rect, chars, light)


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
