"""What a page is made of, read from pdfium's page objects in one pass (no rendering).

Two questions are answered cheaply here for every page: how much of it is covered by images
(a scan, even with an old OCR layer) and whether it draws any dark filled shapes (candidate
redaction boxes). Only pages with candidates go through pdfplumber's slower rectangle
analysis, which keeps born-digital ingest near pdfium's speed.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

MAX_FORM_DEPTH = 8  # nested forms deeper than this are hostile input, not a layout
MAX_OBJECTS = 20_000  # past this many objects a page is vector art; stop counting
DARK_LEVEL = 0.2 * 255
MIN_SIDE_PT = 4.0

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageLayout:
    image_coverage: float  # 0..1 of the page area
    dark_fills: int  # filled dark path objects at least MIN_SIDE_PT on each side


def _objects(
    page: pdfium.PdfPage, form: pdfium.PdfObject | None, transforms: tuple[pdfium.PdfMatrix, ...]
) -> Iterator[tuple[pdfium.PdfObject, Rect]]:
    """Image and path objects with their bounds in page space, descending into forms."""
    if len(transforms) > MAX_FORM_DEPTH:
        return
    for obj in page.get_objects(max_depth=1, form=form):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_FORM:
            yield from _objects(page, obj, (*transforms, obj.get_matrix()))
        elif obj.type in (pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_PATH):
            rect = obj.get_pos()
            # pdfium reports objects inside a form in the form's space: bring them to the page.
            for matrix in reversed(transforms):
                rect = matrix.on_rect(*rect)
            yield obj, rect


def _is_dark_fill(obj: pdfium.PdfObject) -> bool:
    fill_mode, stroke = ctypes.c_int(0), ctypes.c_int(0)
    if not pdfium_c.FPDFPath_GetDrawMode(obj.raw, ctypes.byref(fill_mode), ctypes.byref(stroke)):
        return False
    if fill_mode.value == pdfium_c.FPDF_FILLMODE_NONE:
        return False
    r, g, b, a = (ctypes.c_uint(0) for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetFillColor(
        obj.raw, ctypes.byref(r), ctypes.byref(g), ctypes.byref(b), ctypes.byref(a)
    ):
        return False
    return a.value > 128 and max(r.value, g.value, b.value) < DARK_LEVEL


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


def scan_layout(page: pdfium.PdfPage) -> PageLayout:
    """Image coverage and dark filled shapes of an open page."""
    left, bottom, right, top = (float(v) for v in page.get_bbox())
    page_area = (right - left) * (top - bottom)
    images: list[Rect] = []
    dark = 0
    for count, (obj, (x0, y0, x1, y1)) in enumerate(_objects(page, None, ())):
        if count > MAX_OBJECTS:
            break
        x0, y0, x1, y1 = max(x0, left), max(y0, bottom), min(x1, right), min(y1, top)
        if x1 <= x0 or y1 <= y0:
            continue
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images.append((x0, y0, x1, y1))
        elif min(x1 - x0, y1 - y0) >= MIN_SIDE_PT and _is_dark_fill(obj):
            dark += 1
    coverage = min(1.0, union_area(images) / page_area) if page_area > 0 else 0.0
    return PageLayout(coverage, dark)
