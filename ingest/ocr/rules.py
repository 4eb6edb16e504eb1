"""Ruled lines on a page image: found, measured, and taken out before recognition.

Bordered tables and form boxes defeat tesseract's page layout: a cell border touching the
letters makes a word unreadable, and a grid of rules is taken for an image and skipped
whole. The usual remedy (OpenCV's morphology) is done here: ink that forms a long thin run,
horizontal or vertical, is a rule; rules are painted over with the paper's colour, and the
grid they formed is kept as regions (tables, form boxes) for a second reading.

The page is first straightened: a sheet scanned crooked by more than a few tenths of a degree
turns its rules into staircases that no horizontal kernel matches (and tesseract reads a
straight page better too). The angle is the one whose row profile of the ink is sharpest, the
classic projection method, searched within MAX_SKEW_DEGREES on a reduced copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from cv2.typing import MatLike

# A one-channel 8-bit image as OpenCV hands it back (a numpy array).
Grey = MatLike
Region = tuple[int, int, int, int]  # left, top, right, bottom in pixels

MAX_SKEW_DEGREES = 3.5
_SKEW_STEP_DEGREES = 0.1
MIN_SKEW_DEGREES = 0.3  # a smaller tilt is left alone: rotating costs sharpness
_SKEW_WORK_WIDTH = 800
# A rule is at least this share of the page's longer side, either way: ~0.45 inch on a
# letter page, longer than any letter's stroke or a dash (a 24 pt capital is 0.25 inch).
_MIN_RULE_SHARE = 0.04
# A rule is no thicker than this share of the page width (~1.5 pt): thicker ink is a bar,
# a redaction box or a heading band, which painting over would not help.
_MAX_RULE_THICKNESS_SHARE = 0.006
# A grid region (table, form) has at least this many rules each way.
_MIN_GRID_RULES = 2
# Regions smaller than this share of the page are single boxes, not tables or forms.
_MIN_REGION_SHARE = 0.01
_REDUCTION = 4  # grids are found on masks reduced this many times
# A leader's dot is at most this share of the page width across (~9 px at 300 DPI); the
# gap between two of its dots at most _MAX_DOT_GAP dot sizes; a leader has 5 dots or more.
_MAX_DOT_SHARE = 0.0036
_MAX_DOT_GAP = 4
_MIN_LEADER_DOTS = 5
# Leaders are looked for on pages up to this size (a letter page at 400 DPI): labelling every
# blob of a larger image would hold a 4-byte label per pixel.
MAX_LEADER_PIXELS = 16_000_000
_BASELINE_TOLERANCE_PX = 3
# Ink this close to a rule, across it, is a letter's stroke touching or crossing the rule.
_CROSSING_REACH_PX = 3


@dataclass(frozen=True)
class Rules:
    """The rules of a page: a mask of their ink, and the grids they form."""

    mask: Grey  # 255 where rule ink is to be painted out, same size as the page
    horizontal: int  # number of horizontal rules
    vertical: int
    regions: tuple[Region, ...]  # bounding boxes of grids (tables, boxed forms)
    leaders: int = 0  # dotted leaders (a table of contents' "Name ........ 35")

    @property
    def found(self) -> bool:
        return self.horizontal + self.vertical + self.leaders > 0


def ink(grey: Grey) -> Grey:
    """255 where the page has ink, 0 for paper (Otsu's threshold, robust to grey paper)."""
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return binary


def straightening_angle(grey: Grey) -> float:
    """Degrees to turn the page anticlockwise (as :func:`rotate` does) to make it straight.

    0.0 for a blank page. Coarse steps over the whole range first, then fine steps around
    the best: 25 profiles of a reduced page instead of 71.
    """
    height, width = grey.shape
    scale = min(1.0, _SKEW_WORK_WIDTH / width)
    small = cv2.resize(
        grey,
        (max(1, int(width * scale)), max(1, int(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    binary = ink(small)
    if cv2.countNonZero(binary) < binary.size * 0.002:
        return 0.0  # a blank page has no lines to measure
    coarse = [a / 2 for a in range(-int(MAX_SKEW_DEGREES * 2), int(MAX_SKEW_DEGREES * 2) + 1)]
    best = max(coarse, key=lambda angle: _sharpness(binary, angle))
    fine = [best + step * _SKEW_STEP_DEGREES for step in range(-4, 5)]
    best_fine: float = max(fine, key=lambda angle: _sharpness(binary, angle))
    return round(best_fine, 2)


def _sharpness(binary: Grey, angle: float) -> float:
    """How sharp the rows of ink are with the page turned by ``angle``: text lines and the
    gaps between them alternate most crisply when the lines are level."""
    height, width = binary.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    turned = cv2.warpAffine(binary, matrix, (width, height), flags=cv2.INTER_NEAREST)
    profile = turned.sum(axis=1, dtype=np.float64)
    return float(np.square(np.diff(profile)).sum())


def rotate(grey: Grey, degrees: float, paper: int) -> Grey:
    """``grey`` turned anticlockwise by ``degrees`` about its centre, same size."""
    height, width = grey.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    turned: Grey = cv2.warpAffine(
        grey, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=int(paper)
    )
    return turned


def paper_level(grey: Grey) -> int:
    """The paper's grey level: the brightest common value (a high percentile)."""
    return int(np.percentile(grey, 90))


def find_rules(grey: Grey) -> Rules:
    """Horizontal and vertical rules of a straight page, and the grids they form."""
    height, width = grey.shape
    binary = ink(grey)
    thickness = max(2, int(width * _MAX_RULE_THICKNESS_SHARE))
    length = max(20, int(max(width, height) * _MIN_RULE_SHARE))
    horizontal = _runs(binary, (length, 1), thickness, axis=0)
    vertical = _runs(binary, (1, length), thickness, axis=1)
    h_count = _count(horizontal)
    v_count = _count(vertical)
    regions = _grids(horizontal, vertical, width * height) if h_count and v_count else ()
    mask = _paintable(binary, horizontal, vertical)
    leaders, dots = _leaders(binary, width) if width * height <= MAX_LEADER_PIXELS else (0, binary)
    if leaders:
        mask = cv2.bitwise_or(mask, cv2.dilate(dots, np.ones((3, 3), np.uint8)))
    return Rules(mask, h_count, v_count, regions, leaders)


def remove_rules(grey: Grey, rules: Rules) -> Grey:
    """A copy of ``grey`` with the rules' ink painted in the paper's colour."""
    if not rules.found:
        return grey
    cleaned = grey.copy()
    cleaned[rules.mask > 0] = paper_level(grey)
    return cleaned


def _paintable(binary: Grey, horizontal: Grey, vertical: Grey) -> Grey:
    """The rules' pixels (grown a pixel for their anti-aliased edges) that may be painted out.

    A rule's pixel is kept where a letter's stroke touches it from across: the descender of
    a ``y`` or ``p`` through an underline, a stroke through a strikethrough, a letter written
    against a cell border. Painting those out cut the letters (an underlined "identifying"
    read as two fragments); kept, the word reads as it would with the rule left whole.
    """
    grow = np.ones((3, 3), np.uint8)
    h_grown, v_grown = cv2.dilate(horizontal, grow), cv2.dilate(vertical, grow)
    rest = cv2.bitwise_and(binary, cv2.bitwise_not(cv2.bitwise_or(h_grown, v_grown)))
    reach = _CROSSING_REACH_PX * 2 + 1
    above_or_below = cv2.dilate(rest, np.ones((reach, 1), np.uint8))
    beside = cv2.dilate(rest, np.ones((1, reach), np.uint8))
    paint_h = cv2.bitwise_and(h_grown, cv2.bitwise_not(above_or_below))
    paint_v = cv2.bitwise_and(v_grown, cv2.bitwise_not(beside))
    mask: Grey = cv2.bitwise_or(paint_h, paint_v)
    return mask


def _runs(binary: Grey, kernel: tuple[int, int], thickness: int, *, axis: int) -> Grey:
    """Ink in long thin runs along one direction: no thicker than ``thickness`` across.

    Opening with a long kernel keeps only long runs of ink; among them, a solid block (a
    redaction box, a bar) is also thick across, which a second opening finds and takes out.
    Two morphology passes, no labelling of components: cheap on a 300 DPI page.
    """
    long_runs: Grey = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
    )
    across = (1, thickness * 2 + 1) if axis == 0 else (thickness * 2 + 1, 1)
    blocks: Grey = cv2.morphologyEx(
        long_runs, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, across)
    )
    if cv2.countNonZero(blocks):
        grown = cv2.dilate(blocks, np.ones((5, 5), np.uint8))
        long_runs = cv2.bitwise_and(long_runs, cv2.bitwise_not(grown))
    return long_runs


def _leaders(binary: Grey, width: int) -> tuple[int, Grey]:
    """Dotted leaders: runs of MIN_LEADER_DOTS or more small dots evenly along one baseline.

    Tesseract reads a leader glued to the word before it as letters ("Grossbard.......ecce"
    or, thresholded otherwise, "Grossbatdwcccss"), and the word is lost; a full stop or an
    ellipsis is too short a run to be taken.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    most = max(2, int(width * _MAX_DOT_SHARE))
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA]
    small = (w <= most) & (h <= most) & (w >= 2) & (h >= 2) & (area * 2 >= w * h)
    small &= np.maximum(w, h) <= 2.5 * np.minimum(w, h)
    small[0] = False
    candidates = np.flatnonzero(small)
    dots = np.zeros(binary.shape, dtype=np.uint8)
    if len(candidates) < _MIN_LEADER_DOTS:
        return 0, dots
    # Group by baseline (bottom edge, a few pixels of tolerance), then walk each row left to
    # right, cutting it where the gap between two dots is larger than a leader's.
    bottoms = stats[candidates, cv2.CC_STAT_TOP] + h[candidates]
    lefts = stats[candidates, cv2.CC_STAT_LEFT]
    order = np.lexsort((lefts, bottoms // _BASELINE_TOLERANCE_PX))
    keep: list[int] = []
    leaders = 0
    run: list[int] = []
    for index in order:
        label = int(candidates[index])
        if run:
            previous = run[-1]
            same_row = (
                abs(int(bottoms[index]) - int(stats[previous, cv2.CC_STAT_TOP] + h[previous]))
                <= _BASELINE_TOLERANCE_PX
            )
            gap = int(stats[label, cv2.CC_STAT_LEFT]) - int(
                stats[previous, cv2.CC_STAT_LEFT] + w[previous]
            )
            if same_row and 0 <= gap <= most * _MAX_DOT_GAP:
                run.append(label)
                continue
            if _is_leader(run, stats):
                keep.extend(run)
                leaders += 1
        run = [label]
    if _is_leader(run, stats):
        keep.extend(run)
        leaders += 1
    if keep:
        chosen = np.zeros(count, dtype=bool)
        chosen[keep] = True
        dots = np.where(chosen[labels], 255, 0).astype(np.uint8)
    return leaders, dots


def _is_leader(run: list[int], stats: Grey) -> bool:
    """Whether a row of small blobs is a leader: enough dots, alike, evenly spaced apart.

    Tiny letters of one word are alike too, but touch or nearly touch; a leader's dots are
    set at least about a dot's width apart, at a steady pitch.
    """
    if len(run) < _MIN_LEADER_DOTS:
        return False
    widths = np.array([int(stats[label, cv2.CC_STAT_WIDTH]) for label in run])
    lefts = np.array([int(stats[label, cv2.CC_STAT_LEFT]) for label in run])
    gaps = lefts[1:] - (lefts[:-1] + widths[:-1])
    if widths.max() > 2 * widths.min() or float(np.median(gaps)) < 0.8 * float(np.median(widths)):
        return False
    pitch = np.diff(lefts)
    return float(pitch.std()) <= 0.35 * float(pitch.mean())


def _count(mask: Grey) -> int:
    """Separate rules in a mask, counted on a reduced copy (labelling is the slow part)."""
    count, _ = cv2.connectedComponents(_reduce(mask), connectivity=8)
    return int(count) - 1


def _grids(horizontal: Grey, vertical: Grey, page_area: int) -> tuple[Region, ...]:
    """Bounding boxes of connected rule networks that have rules both ways.

    Worked out on the masks reduced 4x: labelling a full page took longer than finding the
    rules, and a grid's box needs no finer precision than a few pixels.
    """
    h_small, v_small = _reduce(horizontal), _reduce(vertical)
    joined: Grey = cv2.dilate(cv2.bitwise_or(h_small, v_small), np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    regions = []
    for label in range(1, count):
        left, top, w, h = (int(v) for v in stats[label, :4])
        if w * h * _REDUCTION**2 < page_area * _MIN_REGION_SHARE:
            continue
        window = labels[top : top + h, left : left + w] == label
        rules_each_way = [
            cv2.connectedComponents(
                (window & (mask[top : top + h, left : left + w] > 0)).astype(np.uint8),
                connectivity=8,
            )[0]
            - 1
            for mask in (h_small, v_small)
        ]
        if min(rules_each_way) >= _MIN_GRID_RULES:
            regions.append(
                (
                    left * _REDUCTION,
                    top * _REDUCTION,
                    (left + w) * _REDUCTION,
                    (top + h) * _REDUCTION,
                )
            )
    return tuple(regions)


def _reduce(mask: Grey) -> Grey:
    height, width = mask.shape
    small = cv2.resize(
        mask,
        (max(1, width // _REDUCTION), max(1, height // _REDUCTION)),
        interpolation=cv2.INTER_AREA,
    )
    reduced: Grey = np.where(small > 0, 255, 0).astype(np.uint8)
    return reduced
