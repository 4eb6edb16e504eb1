"""The OCR decision: does a page's text layer hold its text, or must the page be OCR'd?

Decided per page from the text layer (empty, too short, unmapped glyphs, garbage) and from how
much of the page is image (a scan under a stamped header), cheaply enough to run on every
page of a born-digital production.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium

from ingest.extract.layout import scan_layout
from ingest.render import RenderError

# needs_ocr thresholds, tuned on the corpus (see tests/test_ocr.py).
MIN_WORD_CHARS = 20  # fewer letters/digits than this is a stamp or a page number, not text
MAX_BAD_GLYPH_SHARE = 0.05  # share of glyphs that are (cid:NN), U+FFFD or control characters
MIN_TEXT_QUALITY = 0.5  # share of tokens that look like words, numbers or codes
IMAGE_PAGE_COVERAGE = 0.5  # a page this much covered by images is probably a scan
IMAGE_PAGE_MIN_CHARS = 200  # ... and a scan's real text is longer than a stamped header

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
