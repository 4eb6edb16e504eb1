"""Running tesseract: one page image, or many small images in one run, read back as words.

Every call goes through pytesseract to the ``tesseract`` command with a time limit; the
process is killed past it. Failures become :class:`OcrError` (and :class:`OcrTimeoutError`),
whatever tesseract or pytesseract raised.

Tesseract inherits ``OMP_THREAD_LIMIT=1``: one single-threaded tesseract per core is several
times faster than tesseract's own OpenMP threading on small machines (FIELD.md), so parallel
work comes from one process per core instead (:mod:`.pool`).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pytesseract

_LANGUAGES_RE = re.compile(r"[A-Za-z_]{3,}(?:\+[A-Za-z_]{3,})*")

# OSD's orientation confidence below which we keep the page as it is: a wrong rotation
# turns a readable page into garbage. On corpus scans turned 0/90/270 degrees, right answers
# scored 2.7 to 36 and the one wrong answer 0.02 (OCRmyPDF's default of 14 missed most scans).
MIN_OSD_CONFIDENCE = 2.0
# OSD needs the shapes of letters, not fine detail; half resolution halves its run time.
OSD_MAX_SIDE = 1700
# Clockwise rotations OSD may report (and the pipeline may undo).
ROTATIONS = (90, 180, 270)


class OcrError(Exception):
    """A page could not be OCR'd; the message says why, for a person to read."""

    retryable: bool = False
    """Whether running the page again can succeed (see :class:`OcrTimeoutError`)."""


class OcrTimeoutError(OcrError):
    """Tesseract ran past its timeout and was killed. A retry with more time may help."""

    retryable = True


@dataclass(frozen=True)
class OcrWord:
    """One recognised word; the box is in pixels of the (upright) OCR image.

    ``line`` numbers the word's text line on its page (0, 1, ... in reading order), so that a
    page's text can be rebuilt line by line after words from several readings are merged;
    ``block`` numbers tesseract's text block (a column, a table, a paragraph group).
    """

    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float  # tesseract's 0..100 word confidence
    line: int = 0
    block: int = 0


@dataclass(frozen=True)
class Reading:
    """What one tesseract run read on one image: its words in reading order.

    ``lines`` gives, per text line, the indexes of its words in ``words``; ``paragraph_ends``
    the lines after which a paragraph ends (a blank line in the text).
    """

    words: tuple[OcrWord, ...]
    paragraph_ends: frozenset[int] = frozenset()

    @property
    def confidence(self) -> float | None:
        """Mean word confidence (0..100), ``None`` without a scored word."""
        scored = [word.conf for word in self.words if word.conf >= 0]
        return sum(scored) / len(scored) if scored else None

    @property
    def text(self) -> str:
        """The words as text: a line break per line, a blank line between paragraphs."""
        return words_text(self.words, self.paragraph_ends)


def words_text(words: Sequence[OcrWord], paragraph_ends: frozenset[int] = frozenset()) -> str:
    """Words joined into lines by their ``line`` numbers, in order of first appearance."""
    out: list[str] = []
    current: int | None = None
    for word in words:
        if current is None:
            out.append(word.text)
        elif word.line == current:
            out.append(" " + word.text)
        else:
            out.append("\n\n" if current in paragraph_ends else "\n")
            out.append(word.text)
        current = word.line
    return "".join(out)


def check_languages(languages: str) -> None:
    """Refuse anything but ``eng``/``eng+spa``-style codes: the value reaches a command line."""
    if not _LANGUAGES_RE.fullmatch(languages):
        raise ValueError(f"not a tesseract language list: {languages!r}")


def single_threaded() -> None:
    """Make the tesseract processes started from here single-threaded (see module doc)."""
    os.environ["OMP_THREAD_LIMIT"] = "1"


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (a monotonic time); OcrTimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise OcrTimeoutError("OCR used up its timeout before tesseract could start")
    return left


def image_file(image: PIL.Image.Image, folder: Path) -> str:
    """Write ``image`` for tesseract as an uncompressed TIFF, and return the file's path.

    pytesseract would write a PNG: compressing a 300 DPI page took up to ~0.4 s, a tenth of
    its recognition, for a file read once. An uncompressed TIFF is written in ~0.02 s and
    leptonica reads it fastest: on the benchmark's twelve scans tesseract took 10% less time
    in all than on the same pages as PNM, whose reader goes pixel by pixel, for the same
    words. No resolution is written, as in the pages of the plain-tesseract baseline.
    """
    fd, name = tempfile.mkstemp(dir=folder, suffix=".tif")
    with os.fdopen(fd, "wb") as handle:
        image.save(handle, format="TIFF")
    return name


def read_image(
    image: PIL.Image.Image,
    folder: Path,
    *,
    languages: str,
    deadline: float,
    psm: int = 3,
    config: str = "",
) -> Reading:
    """Recognise one image with tesseract (page segmentation mode ``psm``)."""
    readings = read_images(
        [image], folder, languages=languages, deadline=deadline, psm=psm, config=config
    )
    return readings[0]


def read_images(
    images: Sequence[PIL.Image.Image],
    folder: Path,
    *,
    languages: str,
    deadline: float,
    psm: int = 3,
    config: str = "",
) -> list[Reading]:
    """Recognise several images in one tesseract run; one :class:`Reading` per image.

    One run loads the language models once: for the small crops of a second pass that load
    would cost more than their recognition. Tesseract reads a text file listing images as a
    multi-page input and numbers the pages of its TSV output in that order.
    """
    if not images:
        return []
    paths = [image_file(image, folder) for image in images]
    if len(paths) == 1:
        source = paths[0]
    else:
        fd, source = tempfile.mkstemp(dir=folder, suffix=".txt")
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(paths) + "\n")
    tsv = run(
        pytesseract.image_to_data,
        source,
        lang=languages,
        timeout=remaining(deadline),
        config=f"--psm {int(psm)} {config}".strip(),
    )
    return parse_tsv(tsv, len(images))


def run(
    function: Callable[..., object],
    image: str,
    *,
    lang: str,
    timeout: float,
    config: str = "",
) -> str:
    """Call a pytesseract function, mapping its failures onto OcrError / OcrTimeoutError."""
    try:
        output = function(image, lang=lang, timeout=timeout, config=config)
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrError("tesseract is not installed or not on PATH") from exc
    except pytesseract.TesseractError as exc:
        raise OcrError(f"tesseract failed (exit {exc.status}): {exc.message}".strip()) from exc
    except RuntimeError as exc:
        # pytesseract kills the process on timeout and signals it with a bare RuntimeError.
        if "timeout" in str(exc).lower():
            raise OcrTimeoutError(f"tesseract ran past its {timeout:.1f} s timeout") from exc
        raise
    return str(output)


def parse_tsv(tsv: str, images: int = 1) -> list[Reading]:
    """Words of each image from tesseract's TSV, lines and paragraphs from its numbering."""
    per_image: list[list[OcrWord]] = [[] for _ in range(images)]
    paragraph_ends: list[set[int]] = [set() for _ in range(images)]
    line_numbers: list[dict[tuple[str, str, str], int]] = [{} for _ in range(images)]
    last_paragraph: list[tuple[str, str] | None] = [None] * images
    for row in tsv.splitlines()[1:]:
        # level page block par line word left top width height conf text; text may hold tabs
        # only in theory, so split at most 11 times and keep the rest as the word.
        cols = row.split("\t", 11)
        if len(cols) != 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        try:
            page = int(cols[1]) - 1
            left, top, width, height = (int(value) for value in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        if not 0 <= page < images:
            continue
        numbers = line_numbers[page]
        key = (cols[2], cols[3], cols[4])
        if key not in numbers:
            paragraph = (cols[2], cols[3])
            if numbers and last_paragraph[page] != paragraph:
                paragraph_ends[page].add(len(numbers) - 1)
            last_paragraph[page] = paragraph
            numbers[key] = len(numbers)
        per_image[page].append(
            OcrWord(text, left, top, width, height, conf, numbers[key], int(cols[2] or 0))
        )
    return [
        Reading(tuple(words), frozenset(ends))
        for words, ends in zip(per_image, paragraph_ends, strict=True)
    ]


def detect_rotation(image: PIL.Image.Image, folder: Path, deadline: float) -> int:
    """Clockwise rotation (0/90/180/270) that makes the page upright, per tesseract OSD.

    0 when OSD is not confident enough (see MIN_OSD_CONFIDENCE) or refuses the page.
    """
    sample = image
    if max(image.size) > OSD_MAX_SIDE:
        sample = image.copy()
        sample.thumbnail((OSD_MAX_SIDE, OSD_MAX_SIDE))
    try:
        osd = run(
            pytesseract.image_to_osd,
            image_file(sample, folder),
            lang="osd",
            timeout=remaining(deadline),
        )
    except OcrTimeoutError:
        raise
    except OcrError:
        # OSD refuses pages with too few characters ("Too few characters. Skipping this
        # page"); recognition on the page as it stands is the best we can do then.
        return 0
    rotate = re.search(r"^Rotate:\s*(\d+)", osd, re.MULTILINE)
    confidence = re.search(r"^Orientation confidence:\s*([\d.]+)", osd, re.MULTILINE)
    if not rotate or not confidence or float(confidence.group(1)) < MIN_OSD_CONFIDENCE:
        return 0
    degrees = int(rotate.group(1)) % 360
    return degrees if degrees in ROTATIONS else 0
