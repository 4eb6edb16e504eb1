"""A page image made ready for tesseract: straightened, rules painted out, a threshold chosen.

- **Straightened** when it sits crooked by MIN_SKEW_DEGREES or more (:mod:`.rules`); word
  boxes read on the straight copy are turned back onto the page as given
  (:func:`upright_boxes`), so the reader's highlights land on the words.
- **Ruled lines and dotted leaders painted out** (:mod:`.rules`), and the grids they formed
  kept as regions for the second pass.
- **A threshold for the paper**: tesseract's own global Otsu threshold where the paper is
  clean white (a born-digital page drawn as an image, a good scanner), which keeps thin
  strokes best there; Sauvola's local threshold where it is not (grey or uneven paper,
  toner noise, JPEG): on the degraded corpus pages it found 85% of the words against
  Otsu's 81%, while on clean ones it lost 0.2% (docs/ocr.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import PIL.Image

from . import rules as ruling
from .tesseract import OcrWord

# Tesseract's options for each threshold (tesseract 5's thresholding_method).
THRESHOLDS = {"otsu": "-c thresholding_method=0", "sauvola": "-c thresholding_method=2"}
# Paper is clean when most of it (the median) is at least this bright: rendered pages and
# clean scans sit at 255 (shaded table rows or a grey banner do not move the median), the
# aged and copied ones of the benchmarks at 205-230.
CLEAN_PAPER_LEVEL = 245

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class Prepared:
    """The image tesseract reads, and what was done to make it."""

    image: PIL.Image.Image  # straightened, rules painted out
    angle: float  # degrees turned anticlockwise to straighten
    grids: tuple[Box, ...]  # tables and boxed forms, in pixels of ``image``
    threshold: str  # a key of THRESHOLDS


def prepare(grey: PIL.Image.Image) -> Prepared:
    """Straighten ``grey``, paint out its rules and choose its threshold (see module doc)."""
    cv2.setNumThreads(1)  # one process per core already (see .pool)
    pixels: ruling.Grey = np.asarray(grey, dtype=np.uint8)
    angle = ruling.straightening_angle(pixels)
    if abs(angle) >= ruling.MIN_SKEW_DEGREES:
        pixels = ruling.rotate(pixels, angle, ruling.paper_level(pixels))
    else:
        angle = 0.0
    found = ruling.find_rules(pixels)
    cleaned = ruling.remove_rules(pixels, found)
    threshold = "otsu" if paper_is_clean(pixels) else "sauvola"
    return Prepared(PIL.Image.fromarray(cleaned), angle, found.regions, threshold)


def paper_is_clean(pixels: ruling.Grey) -> bool:
    """Whether the page's paper (what Otsu's threshold calls background) is clean white."""
    threshold, _ = cv2.threshold(pixels, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    paper = pixels[pixels > threshold]
    return paper.size > 0 and float(np.median(paper)) >= CLEAN_PAPER_LEVEL


def upright_boxes(words: Sequence[OcrWord], angle: float, size: tuple[int, int]) -> list[OcrWord]:
    """Word boxes of a straightened image, turned back onto the image as it was given."""
    if not angle:
        return list(words)
    width, height = size
    # The straightening turned the page anticlockwise by ``angle`` about its centre; undo it.
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    out = []
    for word in words:
        corners = np.array(
            [
                [word.left, word.top, 1],
                [word.left + word.width, word.top, 1],
                [word.left, word.top + word.height, 1],
                [word.left + word.width, word.top + word.height, 1],
            ],
            dtype=np.float64,
        )
        moved = corners @ matrix.T
        left, top = moved.min(axis=0)
        right, bottom = moved.max(axis=0)
        out.append(
            replace(
                word,
                left=max(0, int(left)),
                top=max(0, int(top)),
                width=math.ceil(right - left),
                height=math.ceil(bottom - top),
            )
        )
    return out
