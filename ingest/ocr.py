"""Per-page OCR with tesseract, and the decision whether a page needs it at all.

Exceptions raised here::

    OcrError              a page could not be OCR'd: unreadable page, tesseract failed
    └── OcrTimeoutError   tesseract ran past its time budget and was killed

Both are page-level failures: the caller marks that page ``ocr_failed`` with the message as
its reason (and ``retryable``) and carries on with the rest of the document.

Tesseract runs with ``OMP_THREAD_LIMIT=1``: one single-threaded tesseract per core is several
times faster than tesseract's own OpenMP threading on small machines, so parallelism comes
from :func:`ocr_pages_parallel` (one process per core) instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import itertools
import os
import re
import tempfile
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pypdfium2 as pdfium
import pytesseract

from ingest.extract.layout import scan_layout
from ingest.procs import forkserver_context
from ingest.redactions import Box, find_image_redactions
from ingest.render import RenderError, render_page

OCR_DPI = 300  # tesseract is trained on ~300 DPI text; lower resolutions lose small print

# needs_ocr thresholds, tuned on the corpus (see tests/test_ocr.py).
MIN_WORD_CHARS = 20  # fewer letters/digits than this is a stamp or a page number, not text
MAX_BAD_GLYPH_SHARE = 0.05  # share of glyphs that are (cid:NN), U+FFFD or control characters
MIN_TEXT_QUALITY = 0.5  # share of tokens that look like words, numbers or codes
IMAGE_PAGE_COVERAGE = 0.5  # a page this much covered by images is probably a scan
IMAGE_PAGE_MIN_CHARS = 200  # ... and a scan's real text is longer than a stamped header

# OSD's orientation confidence below which we keep the page as it is: a wrong rotation
# turns a readable page into garbage. On corpus scans turned 0/90/270 degrees, right answers
# scored 2.7 to 36 and the one wrong answer 0.02 (OCRmyPDF's default of 14 missed most scans).
MIN_OSD_CONFIDENCE = 2.0
# OSD needs the shapes of letters, not fine detail; half resolution halves its run time.
_OSD_MAX_SIDE = 1700
# Mean word confidence under which a first reading is taken to be of a turned page, and OSD
# is asked. Upright corpus scans read at 65 to 96 (a dense form the lowest); pages turned 90
# or 180 degrees at 32 to 34.
MIN_UPRIGHT_CONFIDENCE = 50.0

# Worker crashes (segfault, OOM kill) one page may take part in before it is given up.
_MAX_WORKER_CRASHES = 2

# Lock files of the machine-wide OCR slots (see _ocr_slot), per user: every ingest process of
# this user on this machine shares them. Local temporary storage, never the shared data
# folder: the slots count this machine's cores, and flock on network storage is unreliable.
_SLOTS_DIR = Path(tempfile.gettempdir()) / f"readingroom-ocr-slots-{os.getuid()}"
_SLOT_POLL_SECONDS = 0.02

_LANGUAGES_RE = re.compile(r"[A-Za-z_]{3,}(?:\+[A-Za-z_]{3,})*")
_CID_RE = re.compile(r"\(cid:\d+\)")
# Separators allowed inside a token: "e-mail", "U.S.", "10:30", "(b)(7)(C)", "2019-ICLI-00003".
_TOKEN_SEPARATORS_RE = re.compile(r"[-'\u2019./:,()&+]+")  # \u2019: typographic apostrophe
_SEGMENT_RE = re.compile(r"[^\W\d_]+|\d+|[^\W\d_]+\d+|\d+[^\W\d_]+")
_EDGE_CATEGORIES = ("P", "S")  # punctuation and symbols trimmed from token edges
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
_ALNUM_RE = re.compile(r"[^\W_]")  # exactly str.isalnum, matched in C
# ASCII control characters other than the allowed white space (\t \n \v \f \r).
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")

# Clockwise rotation reported by OSD -> PIL transpose that undoes it (PIL turns anticlockwise).
_UPRIGHT = {
    90: PIL.Image.Transpose.ROTATE_270,
    180: PIL.Image.Transpose.ROTATE_180,
    270: PIL.Image.Transpose.ROTATE_90,
}


class OcrError(Exception):
    """A page could not be OCR'd; the message says why, for a person to read."""

    retryable: bool = False
    """Whether running the page again can succeed (see :class:`OcrTimeoutError`)."""


class OcrTimeoutError(OcrError):
    """Tesseract ran past its timeout and was killed. A retry with more time may help."""

    retryable = True


@dataclass(frozen=True)
class OcrWord:
    """One recognised word; the box is in pixels of the (upright) OCR image."""

    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float  # tesseract's 0..100 word confidence


@dataclass(frozen=True)
class OcrResult:
    """What tesseract read on one page.

    ``rotation`` is the clockwise turn (0, 90, 180, 270) applied to make the page upright
    before recognition; ``image_width`` and ``image_height`` describe that upright image,
    which is the space of the word boxes. ``confidence`` is the mean word confidence
    (0..100), ``None`` when no word was found.
    """

    text: str
    confidence: float | None
    words: tuple[OcrWord, ...]
    rotation: int
    image_width: int
    image_height: int
    # Solid dark blocks found on the rendered page (pixels of the un-rotated render); filled in
    # by ocr_pdf_page, which has the image at hand, so a scan is rendered only once.
    redactions: tuple[Box, ...] = ()


def ocr_image(
    image: PIL.Image.Image,
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    detect_orientation: bool = True,
) -> OcrResult:
    """OCR one page image with tesseract, turning it upright when it reads as sideways.

    The page is recognised as it stands first. Only when that reads badly (mean word
    confidence under 50) is tesseract's OSD asked for the page's orientation; if it finds a
    turn, the turned page is recognised again and kept if it reads better. Upright pages, by
    far the most, so cost one tesseract run instead of two. Text and word boxes come from one
    ``image_to_data`` call, the text rebuilt with a line break per line and a blank line
    between paragraphs. ``timeout`` covers every run together. Raises
    :class:`OcrTimeoutError` past the timeout (tesseract is killed) and :class:`OcrError`
    when tesseract fails.
    """
    _check_languages(languages)
    # Tesseract inherits os.environ; single-threaded runs are faster per core (see module doc).
    os.environ["OMP_THREAD_LIMIT"] = "1"
    deadline = time.monotonic() + timeout
    if image.mode not in ("1", "L", "RGB"):
        image = image.convert("L")
    with tempfile.TemporaryDirectory(prefix="readingroom-ocr-") as scratch:
        folder = Path(scratch)
        result = _recognise(image, folder, languages, deadline, rotation=0)
        if not detect_orientation or not _reads_badly(result):
            return result
        rotation = _detect_rotation(image, folder, deadline)
        if rotation not in _UPRIGHT:
            return result
        turned = _recognise(
            image.transpose(_UPRIGHT[rotation]), folder, languages, deadline, rotation=rotation
        )
    # OSD can be wrong, and a wrong turn makes a readable page garbage: compare the readings.
    return turned if _confidence(turned) > _confidence(result) else result


def _recognise(
    image: PIL.Image.Image, folder: Path, languages: str, deadline: float, *, rotation: int
) -> OcrResult:
    tsv = _run_tesseract(
        pytesseract.image_to_data,
        _image_file(image, folder),
        lang=languages,
        timeout=_remaining(deadline),
    )
    words, text = _parse_tsv(tsv)
    scored = [word.conf for word in words if word.conf >= 0]
    return OcrResult(
        text=text,
        confidence=sum(scored) / len(scored) if scored else None,
        words=tuple(words),
        rotation=rotation,
        image_width=image.width,
        image_height=image.height,
    )


def _reads_badly(result: OcrResult) -> bool:
    # No words at all: a blank page, where OSD finds too few characters to judge anyway.
    return result.confidence is not None and result.confidence < MIN_UPRIGHT_CONFIDENCE


def _confidence(result: OcrResult) -> float:
    return -1.0 if result.confidence is None else result.confidence


def _image_file(image: PIL.Image.Image, folder: Path) -> str:
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


def ocr_pdf_page(
    pdf_path: Path,
    page_index: int,
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    password: str | None = None,
) -> OcrResult:
    """Render one page at 300 DPI in grey (under the pixel cap) and OCR it.

    Raises :class:`OcrError` when the page cannot be rendered, and as :func:`ocr_image` does.
    """
    try:
        image = render_page(pdf_path, page_index, dpi=OCR_DPI, grey=True, password=password)
    except RenderError as exc:
        raise OcrError(str(exc)) from exc
    result = ocr_image(image, languages=languages, timeout=timeout)
    return dataclasses.replace(result, redactions=tuple(find_image_redactions(image)))


def ocr_pages_parallel(
    jobs: Sequence[tuple[Path, int]],
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    workers: int | None = None,
    password: str | None = None,
) -> Iterator[tuple[int, OcrResult | OcrError]]:
    """OCR ``(pdf_path, page_index)`` jobs in worker processes, yielding as pages finish.

    Yields ``(position of the job in jobs, result)``, in completion order. A page that fails
    (timeout, tesseract error, unreadable page, even a worker process that dies) yields its
    :class:`OcrError` and never stops the other pages. ``workers`` defaults to the CPU count.
    Only ``workers`` jobs are in flight at a time, so when a worker dies the suspects are
    known: they are retried in a fresh pool and given up after two crashes. Each worker runs
    one single-threaded tesseract (:func:`ocr_image` sets ``OMP_THREAD_LIMIT=1``).

    ``workers`` is also the number of OCR slots of the machine (:func:`_ocr_slot`): pools of
    several processes at once share them, so no more than ``workers`` pages are OCR'd at a
    time whoever asks.

    Workers come from a forkserver, so call this from a script guarded by
    ``if __name__ == "__main__"`` and from a non-daemonic process: Celery's prefork children
    are daemonic and may not start pools (there, send pages out as tasks instead).
    """
    _check_languages(languages)
    max_workers = max(1, workers or os.cpu_count() or 1)
    queue = deque(range(len(jobs)))
    crashes = dict.fromkeys(queue, 0)
    # forkserver, not fork: forking a threaded process (web server, task worker) can copy a
    # lock held by another thread and deadlock the child.
    context = forkserver_context()
    while queue:
        pool = ProcessPoolExecutor(max_workers=min(max_workers, len(queue)), mp_context=context)
        running: dict[Future[OcrResult | OcrError], int] = {}
        broken = False
        try:
            while queue or running:
                while queue and not broken and len(running) < max_workers:
                    index = queue.popleft()
                    path, page_index = jobs[index]
                    try:
                        future = pool.submit(
                            _ocr_job,
                            Path(path),
                            page_index,
                            languages,
                            timeout,
                            password,
                            max_workers,
                        )
                    except BrokenProcessPool:
                        queue.appendleft(index)  # never started: not its fault
                        broken = True
                        break
                    running[future] = index
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    outcome = _outcome(future)
                    if isinstance(outcome, BrokenProcessPool):
                        broken = True
                        crashes[index] += 1
                        if crashes[index] < _MAX_WORKER_CRASHES:
                            queue.appendleft(index)
                            continue
                        outcome = OcrError(
                            "the OCR worker process died on this page (crash or out of memory)"
                        )
                    yield index, outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def needs_ocr(layer_text: str, *, image_coverage: float, force: bool = False) -> tuple[bool, str]:
    """Decide whether one page needs OCR, from its text layer and how much of it is image.

    Returns ``(decision, reason)``, the reason written for a person. OCR is needed when the
    layer has (almost) no text, when it is garbage (unmapped ``(cid:NN)`` glyphs, U+FFFD,
    control characters, or few word-like tokens), or when the page is mostly an image whose
    text layer is far too short to be the page's text (a scan with only a stamped header).
    """
    if force:
        return True, "OCR was requested for this page"
    cid_codes = len(_CID_RE.findall(layer_text))
    text = _CID_RE.sub(" ", layer_text) if cid_codes else layer_text
    # Counted with regexes and str methods, which loop in C: a per-character Python loop
    # here cost more than pdfium's whole text extraction of the page.
    word_chars = _count_up_to(_ALNUM_RE.finditer(text), MIN_WORD_CHARS)
    if word_chars < MIN_WORD_CHARS:
        if cid_codes:
            return True, f"the text layer is unmapped glyph codes ({cid_codes} '(cid:NN)')"
        if not text.strip():
            return True, "the page has no text layer"
        return True, f"the text layer is too short ({word_chars} letters or digits)"
    bad_glyphs = cid_codes + _bad_chars(text)
    glyphs = cid_codes + len("".join(text.split()))
    if bad_glyphs / glyphs > MAX_BAD_GLYPH_SHARE:
        return True, (
            f"the text layer is garbage ({bad_glyphs} of {glyphs} characters are unmapped"
            " glyphs or control characters)"
        )
    quality = text_quality(text)
    if quality < MIN_TEXT_QUALITY:
        return True, f"the text layer is garbage (only {quality:.0%} of it looks like words)"
    chars = len(layer_text.strip())
    if image_coverage >= IMAGE_PAGE_COVERAGE and chars < IMAGE_PAGE_MIN_CHARS:
        return True, (
            f"the page is {image_coverage:.0%} image but its text layer has only {chars} characters"
        )
    return False, "the text layer is usable"


def text_quality(text: str) -> float:
    """Share (0..1) of the text's tokens that look like words, numbers or record codes.

    Punctuation-only tokens do not count either way. Word-like: letters in any script
    (``don't``, ``e-mail``, ``U.S.``), numbers (``1,234.50``, ``03/21/2021``) and codes made of
    letter-or-digit runs (``b6``, ``(b)(7)(C)``, ``2019-ICLI-00003``); not word-like: tokens
    with control, replacement or stray symbol characters, or letters and digits interleaved
    (``l0O1lI``), as bad OCR and broken font encodings produce. Empty text scores 0.
    """
    counted = wordlike = 0
    for token in text.split():
        score = _token_score(token)
        counted += score > 0
        wordlike += score > 1
    return wordlike / counted if counted else 0.0


def image_coverage(pdf_path: Path, page_index: int, *, password: str | None = None) -> float:
    """Share (0..1) of the page area covered by image objects, clipped to the page box.

    Images inside form XObjects count too (scans are often wrapped in one). Overlapping
    images are counted once. Raises :class:`~ingest.render.RenderError` when the page cannot
    be read.
    """
    try:
        pdf = pdfium.PdfDocument(pdf_path, password=password)
    except (pdfium.PdfiumError, OSError) as exc:
        raise RenderError(f"cannot open {pdf_path.name}: {exc}") from exc
    try:
        if not 0 <= page_index < len(pdf):
            raise RenderError(f"page {page_index} out of range (document has {len(pdf)} pages)")
        try:
            return scan_layout(pdf[page_index]).image_coverage
        except pdfium.PdfiumError as exc:
            raise RenderError(f"cannot read page {page_index} of {pdf_path.name}: {exc}") from exc
    finally:
        pdf.close()


# --- helpers -------------------------------------------------------------------------------


def _check_languages(languages: str) -> None:
    # The value reaches tesseract's command line; accept only "eng", "eng+spa"-style codes.
    if not _LANGUAGES_RE.fullmatch(languages):
        raise ValueError(f"not a tesseract language list: {languages!r}")


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OcrTimeoutError("OCR used up its timeout before tesseract could start")
    return remaining


def _run_tesseract(
    function: Callable[..., object], image: str, *, lang: str, timeout: float
) -> str:
    """Call a pytesseract function, mapping its failures onto OcrError / OcrTimeoutError."""
    try:
        output = function(image, lang=lang, timeout=timeout)
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


def _detect_rotation(image: PIL.Image.Image, folder: Path, deadline: float) -> int:
    """Clockwise rotation (0/90/180/270) that makes the page upright, per tesseract OSD."""
    sample = image
    if max(image.size) > _OSD_MAX_SIDE:
        sample = image.copy()
        sample.thumbnail((_OSD_MAX_SIDE, _OSD_MAX_SIDE))
    try:
        osd = _run_tesseract(
            pytesseract.image_to_osd,
            _image_file(sample, folder),
            lang="osd",
            timeout=_remaining(deadline),
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
    return degrees if degrees in _UPRIGHT else 0


def _parse_tsv(tsv: str) -> tuple[list[OcrWord], str]:
    """Words and page text from tesseract's TSV, lines and paragraphs from its numbering."""
    words: list[OcrWord] = []
    paragraphs: dict[tuple[str, str, str], dict[str, list[str]]] = {}
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
            left, top, width, height = (int(value) for value in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        words.append(OcrWord(text, left, top, width, height, conf))
        lines = paragraphs.setdefault((cols[1], cols[2], cols[3]), {})
        lines.setdefault(cols[4], []).append(text)
    page_text = "\n\n".join(
        "\n".join(" ".join(line) for line in lines.values()) for lines in paragraphs.values()
    )
    return words, page_text


@contextlib.contextmanager
def _ocr_slot(slots: int) -> Iterator[int]:
    """Hold one of ``slots`` OCR slots of this machine while a page is rendered and read.

    Each job process (the ingest itself and its helpers, or two ingests at once) starts an
    OCR pool of one worker per core; without a shared limit two such pools ran four
    tesseracts on two cores, each slower than alone. A slot is an exclusive ``flock`` on
    one of ``slots`` lock files: the kernel drops it when its holder exits, even killed, so
    a crashed worker never keeps its slot. The page's OCR timeout starts once a slot is held.
    Yields the slot's number.
    """
    _SLOTS_DIR.mkdir(mode=0o700, exist_ok=True)
    while True:
        for slot in range(slots):
            fd = os.open(_SLOTS_DIR / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield slot
            finally:
                os.close(fd)  # closing the only descriptor releases the lock
            return
        time.sleep(_SLOT_POLL_SECONDS)


def _ocr_job(
    pdf_path: Path,
    page_index: int,
    languages: str,
    timeout: float,
    password: str | None,
    slots: int,
) -> OcrResult | OcrError:
    """Worker-process entry point: the page's result, or its OcrError as a value."""
    try:
        with _ocr_slot(slots):
            return ocr_pdf_page(
                pdf_path, page_index, languages=languages, timeout=timeout, password=password
            )
    except OcrError as exc:
        return exc


def _outcome(
    future: Future[OcrResult | OcrError],
) -> OcrResult | OcrError | BrokenProcessPool:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        return exc
    except Exception as exc:  # any failure in the worker becomes that page's reason
        return OcrError(f"OCR failed: {type(exc).__name__}: {exc}")


# Pages repeat their words: scoring each distinct token once makes text_quality a dict lookup
# per token. Bounded, as OCR garbage produces endless distinct tokens.
@functools.lru_cache(maxsize=65_536)
def _token_score(token: str) -> int:
    """0: punctuation only (not counted); 1: not word-like; 2: word-like."""
    core = _strip_edges(token)
    if not core:
        return 0
    segments = [seg for seg in _TOKEN_SEPARATORS_RE.split(core) if seg]
    return 2 if segments and all(_SEGMENT_RE.fullmatch(seg) for seg in segments) else 1


def _count_up_to(items: Iterator[object], limit: int) -> int:
    """How many items there are, counting no further than ``limit`` (the rest is not read)."""
    return sum(1 for _ in itertools.islice(items, limit))


def _bad_chars(text: str) -> int:
    """Characters of ``text`` that are unmapped glyphs or control characters."""
    bad = len(_ASCII_CONTROL_RE.findall(text))
    if not text.isascii():
        bad += sum(_is_bad_char(ch) for ch in _NON_ASCII_RE.findall(text))
    return bad


def _strip_edges(token: str) -> str:
    start, end = 0, len(token)
    while start < end and _is_edge_char(token[start]):
        start += 1
    while end > start and _is_edge_char(token[end - 1]):
        end -= 1
    return token[start:end]


def _is_edge_char(ch: str) -> bool:
    # U+FFFD is a symbol too, but a token of replacement characters must count against the
    # text, not vanish from it.
    return ch != "\ufffd" and unicodedata.category(ch)[0] in _EDGE_CATEGORIES


@functools.lru_cache(maxsize=4_096)
def _is_bad_char(ch: str) -> bool:
    if ch == "\ufffd":
        return True
    category = unicodedata.category(ch)
    if category == "Cc":
        return ch not in _ALLOWED_CONTROLS
    return category in ("Co", "Cn", "Cs")  # private use, unassigned, lone surrogates
