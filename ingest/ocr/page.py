"""OCR of one page image: prepared, read, turned upright if need be, weak parts read again.

The steps, each measured on real and generated scans (docs/ocr.md):

1. **Prepare** (:mod:`.prepare`): grey; straightened when it sits crooked by 0.3 degrees or
   more; ruled lines (table borders, form boxes, a frame round the page) and dotted leaders
   painted out, so tesseract reads the text in the cells instead of taking the grid for a
   picture or the dots for letters; a threshold chosen for the paper (Otsu on clean white,
   Sauvola's local threshold on grey, noisy or uneven paper).
2. **First reading**: tesseract, automatic page segmentation, with that threshold.
3. **Orientation**: only when that reading is poor (mean confidence under 50) is OSD asked
   for the page's orientation; a turned page is prepared and read again, and kept if it
   reads better. Upright pages, by far the most, cost one tesseract run.
4. **Second pass where the first is weak**: the page's blocks that read badly (low mean
   confidence or few dictionary words, :mod:`.quality`) and the ruled grids found in step 1
   are cut out and read again as one block each (``--psm 6``), small print enlarged; each
   region keeps whichever reading scores better, and every attempt is recorded
   (:class:`OcrPass`). A page that reads badly as a whole is read once more with the other
   threshold instead, and the better reading kept. The second pass is bounded: it stops at
   MAX_TIME_FACTOR times the first reading's time (its tesseract runs are killed past it).

Word boxes are in pixels of the upright image (straightening is undone on the boxes), so the
reader's highlights land on the words.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import PIL.Image

from ingest.redactions import Box as RedactionBox
from ingest.redactions import find_image_redactions
from ingest.render import RenderError

from .prepare import THRESHOLDS, Prepared, prepare, upright_boxes
from .quality import Judgement, judge
from .source import page_image
from .tesseract import (
    ROTATIONS,
    OcrError,
    OcrTimeoutError,
    OcrWord,
    Reading,
    check_languages,
    detect_rotation,
    read_image,
    read_images,
    single_threaded,
    words_text,
)

# Mean word confidence under which a first reading is taken to be of a turned page, and OSD
# is asked. Upright corpus scans read at 65 to 96 (a dense form the lowest); pages turned 90
# or 180 degrees at 32 to 34.
MIN_UPRIGHT_CONFIDENCE = 50.0
# A block reads weakly under WEAK_CONFIDENCE, or with few dictionary words while its
# confidence is under CONFIDENT: a page in a language without a dictionary here (a French
# minute in the corpus read at 87 with 30% English words) reads well all the same.
WEAK_CONFIDENCE = 75.0
WEAK_DICTIONARY_SHARE = 0.6
CONFIDENT = 85.0
# A whole page reads weakly below this mean confidence, and is read again with Otsu's
# threshold.
WEAK_PAGE_CONFIDENCE = 60.0
# The second pass may take the page's OCR up to this many times the first reading's time.
MAX_TIME_FACTOR = 2.0
# Ruled grids up to this share of the page are read again as tables (see _weak_regions).
MAX_GRID_SHARE = 0.4
# Regions whose words are smaller than this (median height in pixels) are enlarged twice.
SMALL_TEXT_PX = 24
_REGION_MARGIN_PX = 12
# Tesseract's start (loading its language models) before it reads a pixel, in seconds.
_TESSERACT_START_SECONDS = 0.3

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class OcrPass:
    """One reading tried on the page or on a region of it, and whether it was kept."""

    scope: str  # "page" or "region"
    method: str  # e.g. "psm 3, sauvola", "psm 6, x2"
    box: Box | None  # the region read, pixels of the upright image; None for the page
    score: float
    confidence: float | None
    dictionary_share: float | None
    seconds: float
    kept: bool


@dataclass(frozen=True)
class OcrResult:
    """What was read on one page.

    ``rotation`` is the clockwise turn (0, 90, 180, 270) applied to make the page upright
    before recognition; ``image_width`` and ``image_height`` describe that upright image,
    which is the space of the word boxes. ``confidence`` is the mean word confidence
    (0..100), ``None`` when no word was found. ``passes`` records every reading tried
    (first, orientation, second pass) and ``seconds`` the page's whole OCR time.
    """

    text: str
    confidence: float | None
    words: tuple[OcrWord, ...]
    rotation: int
    image_width: int
    image_height: int
    # Solid dark blocks found on the rendered page (pixels of the un-rotated render); filled in
    # by ocr_pdf_page, which has the image at hand, so a scan is rendered only once.
    redactions: tuple[RedactionBox, ...] = ()
    passes: tuple[OcrPass, ...] = ()
    seconds: float = 0.0
    skew_degrees: float = 0.0


def ocr_image(
    image: PIL.Image.Image,
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    detect_orientation: bool = True,
) -> OcrResult:
    """OCR one page image with tesseract (see the module docstring for the steps).

    Text and word boxes come from tesseract's TSV, the text rebuilt with a line break per
    line and a blank line between paragraphs. ``timeout`` covers every run together. Raises
    :class:`OcrTimeoutError` past the timeout (tesseract is killed) and :class:`OcrError`
    when tesseract fails.
    """
    check_languages(languages)
    single_threaded()
    started = time.monotonic()
    deadline = started + timeout
    grey = image if image.mode == "L" else image.convert("L")
    with tempfile.TemporaryDirectory(prefix="readingroom-ocr-") as scratch:
        folder = Path(scratch)
        page = _Page(folder, languages, deadline)
        prepared = prepare(grey)
        reading, seconds = page.read(prepared.image, config=THRESHOLDS[prepared.threshold])
        first = _Candidate(reading, prepared, 0, judge(reading.words, languages))
        passes = [first.record("page", f"psm 3, {prepared.threshold}", None, seconds, kept=True)]
        if detect_orientation and _reads_upside_down_or_sideways(first.judgement):
            turned = _turned(page, grey, first, passes)
            if turned is not None:
                first = turned
        budget_end = time.monotonic() + seconds * (MAX_TIME_FACTOR - 1)
        best, extra, replaced = _second_pass(page, first, budget_end, seconds)
        if replaced:  # the whole page was read better another way
            passes = [_unkeep(p) for p in passes]
        passes.extend(extra)
    words = upright_boxes(best.words, best.prepared.angle, best.prepared.image.size)
    judgement = judge(words, languages)
    return OcrResult(
        text=words_text(words, best.paragraph_ends),
        confidence=judgement.confidence if words else None,
        words=tuple(words),
        rotation=best.rotation,
        image_width=best.prepared.image.width,
        image_height=best.prepared.image.height,
        passes=tuple(passes),
        seconds=time.monotonic() - started,
        skew_degrees=best.prepared.angle,
    )


# --- reading -----------------------------------------------------------------------------------


class _Page:
    """Tesseract runs for one page: its scratch folder, languages and deadline."""

    def __init__(self, folder: Path, languages: str, deadline: float) -> None:
        self.folder, self.languages, self.deadline = folder, languages, deadline

    def read(
        self, image: PIL.Image.Image, *, psm: int = 3, config: str = "", until: float | None = None
    ) -> tuple[Reading, float]:
        started = time.monotonic()
        reading = read_image(
            image,
            self.folder,
            languages=self.languages,
            deadline=self._deadline(until),
            psm=psm,
            config=config,
        )
        return reading, time.monotonic() - started

    def read_all(
        self, images: Sequence[PIL.Image.Image], *, psm: int, config: str, until: float
    ) -> tuple[list[Reading], float]:
        started = time.monotonic()
        readings = read_images(
            images,
            self.folder,
            languages=self.languages,
            deadline=self._deadline(until),
            psm=psm,
            config=config,
        )
        return readings, time.monotonic() - started

    def rotation(self, image: PIL.Image.Image) -> int:
        return detect_rotation(image, self.folder, self.deadline)

    def _deadline(self, until: float | None) -> float:
        return self.deadline if until is None else min(self.deadline, until)


@dataclass(frozen=True)
class _Candidate:
    """A whole-page reading, with the prepared image it was read from."""

    reading: Reading
    prepared: Prepared
    rotation: int
    judgement: Judgement

    @property
    def words(self) -> tuple[OcrWord, ...]:
        return self.reading.words

    @property
    def paragraph_ends(self) -> frozenset[int]:
        return self.reading.paragraph_ends

    def record(
        self, scope: str, method: str, box: Box | None, seconds: float, *, kept: bool
    ) -> OcrPass:
        return OcrPass(
            scope=scope,
            method=method,
            box=box,
            score=round(self.judgement.score, 1),
            confidence=_round(self.judgement.confidence),
            dictionary_share=_round(self.judgement.dictionary_share, 3),
            seconds=round(seconds, 3),
            kept=kept,
        )


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _unkeep(record: OcrPass) -> OcrPass:
    return replace(record, kept=False)


def _reads_upside_down_or_sideways(judgement: Judgement) -> bool:
    # No words at all: a blank page, where OSD finds too few characters to judge anyway.
    return judgement.confidence is not None and judgement.confidence < MIN_UPRIGHT_CONFIDENCE


_UPRIGHT = {
    90: PIL.Image.Transpose.ROTATE_270,
    180: PIL.Image.Transpose.ROTATE_180,
    270: PIL.Image.Transpose.ROTATE_90,
}


def _turned(
    page: _Page, grey: PIL.Image.Image, first: _Candidate, passes: list[OcrPass]
) -> _Candidate | None:
    """The page turned upright by OSD's answer and read again, if that reads better."""
    rotation = page.rotation(grey)
    if rotation not in ROTATIONS:
        return None
    prepared = prepare(grey.transpose(_UPRIGHT[rotation]))
    reading, seconds = page.read(prepared.image, config=THRESHOLDS[prepared.threshold])
    turned = _Candidate(reading, prepared, rotation, judge(reading.words, page.languages))
    # OSD can be wrong, and a wrong turn makes a readable page garbage: compare the readings.
    better = turned.judgement.score > first.judgement.score
    if better:
        passes[:] = [_unkeep(p) for p in passes]
    passes.append(
        turned.record(
            "page", f"turned {rotation}, psm 3, {prepared.threshold}", None, seconds, kept=better
        )
    )
    return turned if better else None


# --- the second pass ---------------------------------------------------------------------------


def _second_pass(
    page: _Page, first: _Candidate, budget_end: float, first_seconds: float
) -> tuple[_Candidate, list[OcrPass], bool]:
    """Weak parts of the first reading read again, within the budget (see module doc).

    Returns the reading kept, the passes tried, and whether the whole page was replaced.
    """
    if not first.words:
        return first, [], False
    confidence = first.judgement.confidence
    if confidence is not None and confidence < WEAK_PAGE_CONFIDENCE:
        other_threshold = "sauvola" if first.prepared.threshold == "otsu" else "otsu"
        method = f"psm 3, {other_threshold}"
        try:
            reading, seconds = page.read(
                first.prepared.image, config=THRESHOLDS[other_threshold], until=budget_end
            )
        except OcrTimeoutError:
            return first, [_timed_out("page", method, None)], False
        other = _Candidate(
            reading, first.prepared, first.rotation, judge(reading.words, page.languages)
        )
        better = other.judgement.score > first.judgement.score
        passes = [other.record("page", method, None, seconds, kept=better)]
        return (other if better else first), passes, better
    regions = _weak_regions(first, page.languages)
    if not regions:
        return first, [], False
    merged, passes = _reread_regions(page, first, regions, budget_end, first_seconds)
    return merged, passes, False


def _weakness(words: Sequence[OcrWord], box: Box) -> float:
    """Mean confidence of the words inside ``box``; 0 (weakest) when none is."""
    inside = [max(w.conf, 0.0) for w in words if _centre_in(w, box)]
    return sum(inside) / len(inside) if inside else 0.0


def _timed_out(scope: str, method: str, box: Box | None) -> OcrPass:
    return OcrPass(
        scope, f"{method} (stopped at the time bound)", box, 0.0, None, None, 0.0, kept=False
    )


def _weak_regions(first: _Candidate, languages: str) -> list[Box]:
    """Boxes of the first reading's weak blocks, and of the page's ruled grids, merged."""
    width, height = first.prepared.image.size
    # A grid as large as much of the page is a frame (pleading paper's margins, a box round
    # the page, a redline's underlines), not a table: read as one block it lost words. Its
    # weak blocks, if any, are read again below like any others.
    boxes: list[Box] = [
        box
        for box in first.prepared.grids
        if (box[2] - box[0]) * (box[3] - box[1]) <= width * height * MAX_GRID_SHARE
    ]
    blocks: dict[int, list[OcrWord]] = {}
    for word in first.words:
        blocks.setdefault(word.block, []).append(word)
    for words in blocks.values():
        verdict = judge(words, languages)
        confidence = verdict.confidence if verdict.confidence is not None else 0.0
        weak = confidence < WEAK_CONFIDENCE or (
            confidence < CONFIDENT
            and verdict.dictionary_share is not None
            and verdict.words >= 3
            and verdict.dictionary_share < WEAK_DICTIONARY_SHARE
        )
        if weak:
            boxes.append(_bounds(words))
    return _merge_boxes([_grow(box, _REGION_MARGIN_PX, width, height) for box in boxes])


def _reread_regions(
    page: _Page, first: _Candidate, regions: list[Box], budget_end: float, first_seconds: float
) -> tuple[_Candidate, list[OcrPass]]:
    """Read each region as one block; per region keep the better of old and new words.

    Regions are taken weakest first while their estimated time fits the budget: the first
    reading's time in proportion of pixels, plus tesseract's start. What does not fit is left
    as the first reading had it (a tesseract run past the budget would be killed anyway).
    """
    image = first.prepared.image
    page_pixels = max(1, image.width * image.height)
    seconds_per_pixel = first_seconds / page_pixels
    left = budget_end - time.monotonic() - _TESSERACT_START_SECONDS
    chosen_regions: list[Box] = []
    crops, scales = [], []
    for box in sorted(regions, key=lambda b: _weakness(first.words, b)):
        inside = [w for w in first.words if _centre_in(w, box)]
        heights = [w.height for w in inside] or [SMALL_TEXT_PX]
        pixels = (box[2] - box[0]) * (box[3] - box[1])
        scale = 2 if statistics.median(heights) < SMALL_TEXT_PX else 1
        if scale > 1 and pixels * 4 * seconds_per_pixel > left:
            scale = 1  # enlarged it would not fit: read it as it is
        cost = pixels * scale * scale * seconds_per_pixel
        if cost > left:
            continue
        left -= cost
        crop = image.crop(box)
        if scale > 1:
            crop = crop.resize(
                (crop.width * scale, crop.height * scale), PIL.Image.Resampling.BICUBIC
            )
        chosen_regions.append(box)
        crops.append(crop)
        scales.append(scale)
    regions = chosen_regions
    if not regions:
        return first, []
    method = f"psm 6, {first.prepared.threshold}"
    try:
        readings, seconds = page.read_all(
            crops, psm=6, config=THRESHOLDS[first.prepared.threshold], until=budget_end
        )
    except OcrTimeoutError:
        return first, [_timed_out("region", method, box) for box in regions]
    share = seconds / max(1, len(regions))
    passes: list[OcrPass] = []
    chosen: dict[int, list[OcrWord]] = {}
    for number, (box, reading, scale) in enumerate(zip(regions, readings, scales, strict=True)):
        old = [w for w in first.words if _centre_in(w, box)]
        new = [_to_page(w, box, scale) for w in reading.words]
        old_verdict, new_verdict = judge(old, page.languages), judge(new, page.languages)
        better = new_verdict.score > old_verdict.score
        label = f"{method}{', x2' if scale > 1 else ''}"
        passes.append(
            OcrPass(
                "region",
                label,
                box,
                round(new_verdict.score, 1),
                _round(new_verdict.confidence),
                _round(new_verdict.dictionary_share, 3),
                round(share, 3),
                kept=better,
            )
        )
        if better:
            chosen[number] = new
    if not chosen:
        return first, passes
    merged = _merge_words(first.reading, regions, chosen)
    return (
        _Candidate(merged, first.prepared, first.rotation, judge(merged.words, page.languages)),
        passes,
    )


def _merge_words(first: Reading, regions: list[Box], chosen: dict[int, list[OcrWord]]) -> Reading:
    """The first reading with the chosen regions' words in place of its own, lines renumbered.

    A region's words go where its first word stood in reading order (at the end if the first
    reading found nothing there).
    """
    out: list[OcrWord] = []
    ends: set[int] = set()
    numbers: dict[tuple[int, int], int] = {}
    emitted: set[int] = set()

    def emit(source: int, words: Iterable[OcrWord], paragraph_ends: frozenset[int]) -> None:
        for word in words:
            key = (source, word.line)
            if key not in numbers:
                numbers[key] = len(numbers)
                if source >= 0 and word.line in paragraph_ends:
                    ends.add(numbers[key])
            out.append(replace(word, line=numbers[key]))

    for word in first.words:
        region = next(
            (n for n, box in enumerate(regions) if n in chosen and _centre_in(word, box)), None
        )
        if region is None:
            emit(-1, [word], first.paragraph_ends)
        elif region not in emitted:
            emitted.add(region)
            if numbers:  # the region starts a paragraph of its own
                ends.add(len(numbers) - 1)
            emit(region, chosen[region], frozenset())
    for region, words in chosen.items():
        if region not in emitted:
            emit(region, words, frozenset())
    return Reading(tuple(out), frozenset(e for e in ends if e >= 0))


def _to_page(word: OcrWord, box: Box, scale: int) -> OcrWord:
    return replace(
        word,
        left=box[0] + word.left // scale,
        top=box[1] + word.top // scale,
        width=max(1, word.width // scale),
        height=max(1, word.height // scale),
    )


def _bounds(words: Sequence[OcrWord]) -> Box:
    return (
        min(w.left for w in words),
        min(w.top for w in words),
        max(w.left + w.width for w in words),
        max(w.top + w.height for w in words),
    )


def _grow(box: Box, margin: int, width: int, height: int) -> Box:
    left, top, right, bottom = box
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(width, right + margin),
        min(height, bottom + margin),
    )


def _centre_in(word: OcrWord, box: Box) -> bool:
    x, y = word.left + word.width / 2, word.top + word.height / 2
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _merge_boxes(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes joined until none overlap, in reading order (top, then left)."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for index, other in enumerate(out):
                if _overlap(box, other):
                    out[index] = (
                        min(box[0], other[0]),
                        min(box[1], other[1]),
                        max(box[2], other[2]),
                        max(box[3], other[3]),
                    )
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return sorted(merged, key=lambda b: (b[1], b[0]))


def ocr_pdf_page(
    pdf_path: Path,
    page_index: int,
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    password: str | None = None,
) -> OcrResult:
    """Render one page for OCR (a scan at its own resolution, see :mod:`.source`) and OCR it.

    Redaction boxes are looked for on the same image. Raises :class:`OcrError` when the
    page cannot be rendered, and as :func:`ocr_image` does.
    """
    try:
        rendered = page_image(pdf_path, page_index, password=password)
    except RenderError as exc:
        raise OcrError(str(exc)) from exc
    result = ocr_image(rendered.image, languages=languages, timeout=timeout)
    return replace(result, redactions=tuple(find_image_redactions(rendered.image)))
