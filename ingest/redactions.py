"""Find redaction boxes: filled dark rectangles in born-digital pages, solid dark blocks in scans.

Two sources, two coordinate spaces:

- :func:`vector_redactions` judges the dark filled rectangles that the layout walk
  (:mod:`ingest.extract.layout`, pdfium's page objects) found, and returns boxes in PDF
  points, origin at the top-left of the page (as pdfplumber reported them before: pdfplumber
  re-parsed every page in Python and was 90% of born-digital ingest time).
- :func:`find_image_redactions` looks at a rendered or scanned page image and returns boxes in
  pixels of that image.

Counting boxes is what the index needs (a page's redaction count); whether text is still
extractable under a vector box is a separate question for the text layer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pypdfium2 as pdfium

from ingest.extract.layout import PageLayout, Rect, TextRun, scan_layout

# Vector boxes, in PDF points.
# (Darkness, light text and the 4 pt minimum side are judged in ingest.extract.layout.)
FULL_PAGE_SHARE = 0.9  # a dark rectangle this size is a page background, not a redaction

# Image boxes.
_WORK_WIDTH = 640  # analyse a copy about this wide: a 300 DPI letter page is reduced 4x
_DARK_PIXEL = 96  # 0..255: block averages below this are solid ink, text averages lighter
# Of the page width, in both directions: ~7 pt on a letter page. Boxes over one line of a
# typed form (ICE I-213 fields) are ~8.6 pt high, so the 1.5% first tried missed them.
MIN_BOX_SIDE_SHARE = 0.012
# Light gaps (in reduced pixels) bridged within a row: white "(b)(6)" letters on a box.
_MAX_GAP = 2
MIN_FILL = 0.85  # share of its bounding box a region must fill to be a box, not a shape
MAX_BOX_AREA_SHARE = 0.5  # larger dark blocks are photos or inverted pages, not redactions

_DARK_RUN_RE = re.compile(rb"\xff+")

_Run = tuple[int, int, int]  # one row's dark run: (y, start, end), end exclusive


class RedactionError(Exception):
    """The page could not be read to look for redaction boxes."""


@dataclass(frozen=True)
class Box:
    """A rectangle, ``x0 < x1`` and ``top < bottom``, in PDF points or image pixels."""

    x0: float
    top: float
    x1: float
    bottom: float


def find_vector_redactions(
    pdf_path: Path, page_index: int, *, password: str | None = None
) -> list[Box]:
    """Filled dark rectangles drawn on a born-digital page, in PDF points from the top-left.

    Opens the file for this one page; the pipeline instead calls :func:`vector_redactions`
    on the layout it reads anyway. Raises :class:`RedactionError` when pdfium cannot read
    the page.
    """
    try:
        pdf = pdfium.PdfDocument(pdf_path, password=password)
    except (pdfium.PdfiumError, OSError) as exc:
        raise RedactionError(f"cannot read page {page_index} of {pdf_path.name}: {exc}") from exc
    try:
        if not 0 <= page_index < len(pdf):
            raise RedactionError(f"{pdf_path.name} has no page {page_index}")
        page = pdf[page_index]
        try:
            layout = scan_layout(page)
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise RedactionError(f"cannot read page {page_index} of {pdf_path.name}: {exc}") from exc
    finally:
        pdf.close()
    return vector_redactions(layout)


def vector_redactions(layout: PageLayout) -> list[Box]:
    """The redaction boxes among a page's dark filled rectangles, top-left origin, in points.

    Kept: filled rectangles whose fill is black or near black (pdfium reports every colour
    space as RGB), at least 4x4 pt, not covering the page. Dropped: thin rules, outlines, page
    backgrounds, and dark bars that carry light text (form section headings). A rectangle
    drawn twice counts once.
    """
    left, bottom, right, top = layout.page_box
    page_area = (right - left) * (top - bottom)
    boxes: list[Box] = []
    for x0, y0, x1, y1 in layout.dark_rects:
        # The top-left origin pdfplumber and page images use, so boxes compare across sources.
        box = Box(x0 - left, top - y1, x1 - left, top - y0)
        width, height = box.x1 - box.x0, box.bottom - box.top
        if width * height >= FULL_PAGE_SHARE * page_area:
            continue
        if _carries_light_text((x0, y0, x1, y1), layout.text_runs):
            continue
        if any(_same_box(box, seen) for seen in boxes):
            continue
        boxes.append(box)
    return boxes


def find_image_redactions(image: PIL.Image.Image) -> list[Box]:
    """Large solid dark blocks in a page image, in pixels of that image.

    The image is reduced by block averaging (text strokes average to grey, solid ink stays
    black), thresholded, and split into connected dark regions with a run-length union-find.
    Each region is trimmed to its solid core (text touching a box joins its region). A core
    is a redaction box when it is more than 85% dark, at least 1.2% of the page width in both
    directions (so no rule or speck; text averages too light to form regions), touches no
    image edge (scanner borders do), and is not half the page (a photo or an inverted scan).
    Boxes scanned badly skewed, or hatched rather than solid, fill their core less and are
    missed.
    """
    grey = image if image.mode == "L" else image.convert("L")
    factor = max(1, round(grey.width / _WORK_WIDTH))
    small = grey.reduce(factor) if factor > 1 else grey
    mask = small.point([255 if level < _DARK_PIXEL else 0 for level in range(256)])
    width, height = mask.size
    min_side = MIN_BOX_SIDE_SHARE * grey.width / factor

    boxes: list[Box] = []
    for runs in _dark_regions(mask.tobytes(), width, height, _MAX_GAP):
        if runs[-1][0] - runs[0][0] + 1 < min_side:
            continue  # too short to be a box: most regions (specks, letters) stop here
        x0, y0, x1, y1, fill = _solid_core(runs)
        if x1 - x0 < min_side or y1 - y0 < min_side or fill < MIN_FILL:
            continue
        if x0 == 0 or y0 == 0 or x1 == width or y1 == height:
            continue
        if (x1 - x0) * (y1 - y0) > MAX_BOX_AREA_SHARE * width * height:
            continue
        boxes.append(
            Box(
                float(x0 * factor),
                float(y0 * factor),
                float(min(x1 * factor, grey.width)),
                float(min(y1 * factor, grey.height)),
            )
        )
    boxes.sort(key=lambda box: (box.top, box.x0))
    return boxes


# --- helpers -------------------------------------------------------------------------------


def _dark_regions(pixels: bytes, width: int, height: int, max_gap: int) -> list[list[_Run]]:
    """Connected regions of 0xff pixels, each as its runs ``(y, start, end)`` top to bottom.

    Rows are scanned as runs (regex over bytes, so the per-pixel work happens in C); runs
    that overlap a run of the previous row (8-connectivity) are merged with a union-find.
    Gaps of up to ``max_gap`` pixels within a row count as dark (see :func:`_bridged_runs`).
    """
    parent: list[int] = []
    runs: list[_Run] = []

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    previous: list[int] = []  # ids of the previous row's runs, left to right
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        current: list[int] = []
        cursor = 0
        for start, end in _bridged_runs(row, max_gap):
            run_id = len(runs)
            runs.append((y, start, end))
            parent.append(run_id)
            current.append(run_id)
            # Skip previous-row runs that end left of this one; both lists are sorted by x.
            while cursor < len(previous) and runs[previous[cursor]][2] < start:
                cursor += 1
            probe = cursor
            while probe < len(previous) and runs[previous[probe]][1] <= end:
                root_a, root_b = find(previous[probe]), find(run_id)
                if root_a != root_b:
                    parent[root_b] = root_a
                probe += 1
        previous = current

    regions: dict[int, list[_Run]] = {}
    for run_id, run in enumerate(runs):
        regions.setdefault(find(run_id), []).append(run)
    return list(regions.values())


def _solid_core(runs: list[_Run]) -> tuple[int, int, int, int, float]:
    """The region's solid core ``(x0, y0, x1, y1, dark share)``, x1/y1 exclusive.

    Edge columns and rows markedly lighter than the region's typical ones are trimmed, so a
    word or a pen stroke touching a box does not stretch it; the dark share is then measured
    inside the trimmed rectangle.
    """
    left = min(start for _, start, _ in runs)
    right = max(end for _, _, end in runs)
    top, bottom = runs[0][0], runs[-1][0] + 1
    columns = [0] * (right - left + 1)  # difference array, prefix-summed below
    rows = [0] * (bottom - top)
    for y, start, end in runs:
        columns[start - left] += 1
        columns[end - left] -= 1
        rows[y - top] += end - start
    columns = list(itertools.accumulate(columns[:-1]))
    x0, x1 = _solid_span(columns)
    y0, y1 = _solid_span(rows)
    x0, x1, y0, y1 = x0 + left, x1 + left, y0 + top, y1 + top
    dark = sum(max(0, min(end, x1) - max(start, x0)) for y, start, end in runs if y0 <= y < y1)
    return x0, y0, x1, y1, dark / ((x1 - x0) * (y1 - y0))


def _solid_span(profile: list[int]) -> tuple[int, int]:
    """First and past-the-last index whose value reaches 3/4 of the profile's median.

    The median, not the maximum: a pen stroke running out of a box makes a few columns far
    darker than the box, and must not get the rest of the box trimmed away.
    """
    threshold = 0.75 * sorted(profile)[len(profile) // 2]
    first = next(index for index, value in enumerate(profile) if value >= threshold)
    last = next(index for index in range(len(profile) - 1, -1, -1) if profile[index] >= threshold)
    return first, last + 1


def _bridged_runs(row: bytes, max_gap: int) -> list[tuple[int, int]]:
    """Dark runs of one row, joining runs separated by at most ``max_gap`` light pixels.

    Redaction boxes often carry the exemption in white letters ("(b)(6)"); after reduction
    each letter is a light column that would cut the box into slivers.
    """
    runs: list[tuple[int, int]] = []
    for match in _DARK_RUN_RE.finditer(row):
        start, end = match.span()
        if runs and start - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def _carries_light_text(rect: Rect, runs: Sequence[TextRun]) -> bool:
    """True when most characters inside the box are light: a heading bar, not a redaction.

    Text under a real redaction is dark (drawn before the box, left behind by a bad
    redaction); a heading bar is drawn first and its white text on top. A character counts
    when its centre is inside the box; a text object's characters are taken as spread evenly
    along it, so one crossing the box's edge counts only its share inside.
    """
    x0, y0, x1, y1 = rect
    light = dark = 0.0
    for run in runs:
        rx0, ry0, rx1, ry1 = run.rect
        if not y0 <= (ry0 + ry1) / 2 <= y1:
            continue
        width = rx1 - rx0
        if width <= 0:
            inside = float(run.chars) if x0 <= rx0 <= x1 else 0.0
        else:
            inside = run.chars * max(0.0, min(rx1, x1) - max(rx0, x0)) / width
        if run.light:
            light += inside
        else:
            dark += inside
    return light > 0 and light >= dark


def _same_box(a: Box, b: Box, tolerance: float = 1.0) -> bool:
    return (
        abs(a.x0 - b.x0) <= tolerance
        and abs(a.top - b.top) <= tolerance
        and abs(a.x1 - b.x1) <= tolerance
        and abs(a.bottom - b.bottom) <= tolerance
    )
