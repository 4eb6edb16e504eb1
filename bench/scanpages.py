"""Generated scanned pages of known text, for measuring findability (benchmark and test suite).

A production is planned from a seed and a layout (the kinds of the pages of each document),
drawn with reportlab as vector pages whose every string is recorded, rasterised with pypdfium2
as a scanner would (300 DPI grey, or 200 DPI bilevel for faxes), optionally made to look
scanned badly (:func:`age_scan`) and stored as image-only PDFs (:func:`write_image_pdf`).

Kinds of page (:data:`KINDS`): ``prose`` (memo or letter), ``two-column`` (a notice set in two
columns with a rule between them), ``ruled-table`` (a bordered grid: a layoff-notice report or
a check register printed from a spreadsheet), ``form`` (labelled boxes with typed values and a
narrative box), ``stamped`` (exemption stamps and a RECEIVED stamp printed over the text),
``redacted`` (black boxes over some words), ``fax`` (200 DPI bilevel, a fax header line) and
``rotated`` (fed into the scanner sideways or upside down: 90 or 180 degrees). Every page has
a Bates number in its bottom margin, as produced pages do.

The truth of a page is what was drawn on it: the *distinctive* words (:func:`distinctive_pool`:
real words of 5+ letters outside wordfreq's 5,000 most common English words) recorded among
its strings. Each is printed on exactly one page of the production (checked when drawn);
words hidden under redaction boxes are never drawn and are listed apart. To make picking the
right page and document not a given, some distinctive words have *near-words* (real words
one letter away: ``ranger`` for ``danger``... with the same first letter, never the word with
letters added, which a prefix search ranks with it) printed on another page of the same
document and in another document, amid filler of common words shared by every document; a
misread of the word can then match the near-word better. Near-words are real words because
OCR's dictionary turns a look-alike non-word (``schcdules``) into the word itself, which would
punish the better reader for reading a decoy as the word it imitates.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import wordfreq
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from bench.ingest import _WORDS as MEMO_WORDS  # the FOIA memo vocabulary of bench.ingest

KINDS = (
    "prose",
    "two-column",
    "ruled-table",
    "form",
    "stamped",
    "redacted",
    "fax",
    "rotated",
)
CLEAN, DEGRADED = "clean", "degraded"
CONDITIONS = (CLEAN, DEGRADED)
GREY_DPI = 300
FAX_DPI = 200
COMMON_WORDS = 5000  # words this common are never distinctive

_WIDTH, _HEIGHT = letter
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
# Regular and bold face of each family: a typewriter, a memo in Times, printed email and forms
# in Helvetica, and a TrueType sans and serif when Debian's DejaVu fonts are installed.
_BASE_FONTS = {
    "Courier": "Courier-Bold",
    "Times-Roman": "Times-Bold",
    "Helvetica": "Helvetica-Bold",
}
WORD_RE = re.compile(r"[^\W\d_]+")  # a run of letters: one word
# Common words of wordfreq's web and social-media sources that a memo would not print.
_RUDE = frozenset({"shit", "fuck", "fucking", "fucked", "damn", "hell", "ass", "bitch", "sexy"})
# Mild words wordfreq ranks in the distinctive band that a public benchmark need not print.
_UNPRINTED = frozenset({"jackass", "erotic", "sexist", "horny", "slutty", "porno", "nudes"})

# Fixed text of the pages (headings, labels, names of places and firms). Its words are
# printed on many pages, so none of them may be a distinctive word.
_AGENCIES = (
    "Department of Homeland Security",
    "Immigration and Customs Enforcement",
    "Customs and Border Protection",
    "Federal Bureau of Investigation",
    "Department of Labor",
    "Office of the Inspector General",
)
_CITIES = ("Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Clinton", "Salem")
_COMPANY_SUFFIXES = ("Inc.", "LLC", "Corp.", "Holdings", "Services", "Group", "Company")
_TABLE_TYPES = ("Closure", "Layoff", "Relocation", "Reduction")
_FORM_LABELS = (
    "FAMILY NAME",
    "GIVEN NAME",
    "MIDDLE NAME",
    "COUNTRY OF CITIZENSHIP",
    "DATE OF BIRTH",
    "FILE NUMBER",
    "ADDRESS IN UNITED STATES",
    "CITY",
    "STATE",
    "ZIP CODE",
    "OCCUPATION",
    "EMPLOYER",
    "TELEPHONE",
    "STATUS AT ENTRY",
    "ADMITTED",
    "PAROLED",
    "OTHER",
    "NARRATIVE",
    "SIGNATURE OF OFFICER",
    "TITLE",
    "DATE",
    "RECORD OF INTERVIEW",
    "FORM",
    "Street",
    "Avenue",
    "Road",
    "Page",
)
_FIXED_TEXT = " ".join(
    (
        *_AGENCIES,
        *_CITIES,
        *_COMPANY_SUFFIXES,
        *_TABLE_TYPES,
        *_FORM_LABELS,
        "MEMORANDUM FOR FROM SUBJECT DATE TO CC RECEIVED FOIA OFFICE NOTICES WARN",
        "Company City County Notice Effective Employees Type Notes Date Check Payee Description",
        "Amount Total Register Report Federal Register Vol No Notices Summary Fax Sent By",
        "Sincerely Director Officer Special Agent Records Division Field Office",
        "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    )
)


# --- vocabulary ------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """The alphabetic tokens of ``text``, case-folded: what "a word on the page" means here.

    Letters only, so that ``Marmalade,`` and ``(marmalade)`` are the word ``marmalade`` and
    ``A-12345`` holds none.
    """
    return [token.casefold() for token in WORD_RE.findall(text)]


@functools.cache
def common_words(language: str = "en") -> frozenset[str]:
    """wordfreq's :data:`COMMON_WORDS` most common words of ``language``, case-folded."""
    return frozenset(w.casefold() for w in wordfreq.top_n_list(language, COMMON_WORDS))


@functools.cache
def filler_words() -> tuple[str, ...]:
    """Filler for every page: the memo vocabulary of the born-digital benchmark's generator
    and wordfreq's 1,000 most common English words (letters only, 3+ letters, no swearing).
    """
    common = [
        w
        for w in wordfreq.top_n_list("en", 1000)
        if w.isascii() and w.isalpha() and len(w) >= 3 and w not in _RUDE
    ]
    return tuple(dict.fromkeys([*MEMO_WORDS, *common]))


@functools.cache
def distinctive_pool() -> tuple[str, ...]:
    """Candidate distinctive words, in wordfreq's order: the generator's own list.

    wordfreq's English words ranked 5,000 to 30,000, ASCII letters only, 5 to 12 letters,
    none of the fixed text or filler the pages print. Names of people and places are kept:
    requesters search for them.
    """
    fixed = set(words_of(_FIXED_TEXT)) | set(filler_words()) | _UNPRINTED
    return tuple(
        word
        for word in wordfreq.top_n_list("en", 30_000)[COMMON_WORDS:]
        if word.isascii() and word.isalpha() and 5 <= len(word) <= 12 and word not in fixed
    )


@functools.cache
def _vocabulary() -> frozenset[str]:
    return frozenset(
        w for w in wordfreq.top_n_list("en", 50_000) if w.isascii() and w.isalpha() and len(w) > 3
    )


def near_words(word: str) -> list[str]:
    """Real words (wordfreq's 50,000 most common) one letter from ``word``, sorted.

    One letter substituted, deleted or inserted after the first letter (Meilisearch counts a
    typo on the first letter as two); never ``word`` plus letters, which a search for
    ``word`` finds as a prefix, with no typo.
    """
    letters = "abcdefghijklmnopqrstuvwxyz"
    variants = set()
    for i in range(1, len(word) + 1):
        variants.add(word[:i] + word[i + 1 :])
        variants.update(word[:i] + c + word[i + 1 :] for c in letters)
        variants.update(word[:i] + c + word[i:] for c in letters)
    vocabulary = _vocabulary()
    return sorted(v for v in variants if v in vocabulary and v != word and not v.startswith(word))


# --- the plan and what was printed ----------------------------------------------------------


@dataclass
class GeneratedPage:
    """One page of a generated document: how it is drawn and scanned, and what it holds."""

    kind: str
    number: int  # 1-based, within its document
    font: str
    size: float
    words: list[str]  # distinctive words to print (the truth is what was printed of them)
    decoys: list[str] = field(default_factory=list)  # near-words of words on other pages
    hidden: list[str] = field(default_factory=list)  # distinctive words under redaction boxes
    bates: str = ""
    rotation: int = 0  # clockwise degrees the sheet was turned on the scanner
    strings: list[str] = field(default_factory=list)  # every string drawn, in order

    @property
    def dpi(self) -> int:
        return FAX_DPI if self.kind == "fax" else GREY_DPI

    @property
    def bilevel(self) -> bool:
        return self.kind == "fax"

    @property
    def text(self) -> str:
        """All that was printed on the page, one drawn string a line."""
        return "\n".join(self.strings)

    @property
    def truth(self) -> list[str]:
        """The distinctive words visible on the page, in the order they were printed."""
        wanted = set(self.words)
        seen: dict[str, None] = {}
        for token in words_of(self.text):
            if token in wanted:
                seen.setdefault(token, None)
        return list(seen)


@dataclass
class GeneratedDocument:
    """A document of the production: its file name, its pages and their vector drawing."""

    name: str
    pages: list[GeneratedPage]
    vector_pdf: bytes = b""


def plan_production(
    seed: str, layout: Sequence[Sequence[str]], *, words_per_page: int = 14, prefix: str = "FOIA"
) -> list[GeneratedDocument]:
    """Plan and draw a production: one document per entry of ``layout`` (its pages' kinds).

    Deterministic for a seed and a layout. Words are dealt from :func:`distinctive_pool` in an
    order drawn from the seed; every other word that has near-words (:func:`near_words`) gets
    one of them printed on another page of its document and in the next document.
    """
    for kinds in layout:
        if unknown := set(kinds) - set(KINDS):
            raise ValueError(f"unknown kinds of page: {sorted(unknown)}")
    rng = random.Random(f"{seed}:plan")
    pool = list(distinctive_pool())
    rng.shuffle(pool)
    deal = iter(pool)
    fonts = available_fonts()
    documents: list[GeneratedDocument] = []
    bates = rng.randint(1000, 9000)
    turned = 0
    for index, kinds in enumerate(layout):
        pages = []
        for number, kind in enumerate(kinds, start=1):
            count = _WORDS_PER_KIND.get(kind, 1.0) * words_per_page
            bates += 1
            page = GeneratedPage(
                kind=kind,
                number=number,
                font=rng.choice(fonts),
                size=rng.choice(_SIZES[kind]),
                words=[next(deal) for _ in range(round(count))],
                hidden=[next(deal) for _ in range(4)] if kind == "redacted" else [],
                bates=f"{prefix}-{2021 + index % 3}-{bates:06d}",
            )
            if kind == "rotated":  # a quarter turn and upside down, in turn
                page.rotation = (90, 180)[turned % 2]
                turned += 1
            pages.append(page)
        documents.append(GeneratedDocument(f"{prefix}-{index + 1:04d}.pdf", pages))
    # Near-words: within the document (the right page is not a given) and in the next one
    # (nor is the right document).
    taken = {w for d in documents for p in d.pages for w in (*p.words, *p.hidden)}
    for index, document in enumerate(documents):
        after = documents[(index + 1) % len(documents)]
        for page in document.pages:
            for word in page.words[::2]:
                candidates = [w for w in near_words(word) if w not in taken]
                if not candidates:
                    continue
                near = rng.choice(candidates)
                others = [p for p in document.pages if p is not page]
                if others:
                    rng.choice(others).decoys.append(near)
                if after is not document:
                    rng.choice(after.pages).decoys.append(near)
    for document in documents:
        document.vector_pdf = draw_document(document, seed)
    check_production(documents)
    return documents


def check_production(documents: Sequence[GeneratedDocument]) -> None:
    """Raise ValueError unless every printed distinctive word is on exactly one page."""
    pages_of: Counter[str] = Counter()
    for document in documents:
        for page in document.pages:
            pages_of.update(set(words_of(page.text)))
    for document in documents:
        for page in document.pages:
            if twice := [w for w in page.truth if pages_of[w] != 1]:
                raise ValueError(f"{document.name} p{page.number}: printed elsewhere too: {twice}")
            if shown := set(page.hidden) & set(words_of(page.text)):
                raise ValueError(f"{document.name} p{page.number}: hidden words drawn: {shown}")


_SIZES: dict[str, tuple[float, ...]] = {
    "prose": (9, 10, 11, 12),
    "two-column": (8, 8.5, 9, 10),
    "ruled-table": (8, 9, 10),
    "form": (9, 10, 11),
    "stamped": (9, 10, 11, 12),
    "redacted": (9, 10, 11, 12),
    "fax": (10, 11, 12),
    "rotated": (9, 10, 11, 12),
}
# Words a page holds, relative to ``words_per_page``: dense kinds hold more.
_WORDS_PER_KIND = {"two-column": 1.3, "ruled-table": 1.3, "form": 0.9, "fax": 0.9}


@functools.cache
def available_fonts() -> tuple[str, ...]:
    """Regular faces to draw with (their bold faces are registered beside them)."""
    names = list(_BASE_FONTS)
    for family in ("DejaVuSans", "DejaVuSerif"):
        regular, bold = _DEJAVU / f"{family}.ttf", _DEJAVU / f"{family}-Bold.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont(family, str(regular)))
            pdfmetrics.registerFont(TTFont(f"{family}-Bold", str(bold)))
            _BASE_FONTS[family] = f"{family}-Bold"
            names.append(family)
    return tuple(names)


def _bold(font: str) -> str:
    return _BASE_FONTS.get(font, font)


# --- drawing ---------------------------------------------------------------------------------


class _Sheet:
    """A canvas page that records every string drawn on it (the page's truth)."""

    def __init__(self, canvas: Canvas, page: GeneratedPage, rng: random.Random) -> None:
        self.canvas, self.page, self.rng = canvas, page, rng
        self.font, self.size = page.font, page.size

    def text(
        self, x: float, y: float, s: str, font: str | None = None, size: float | None = None
    ) -> float:
        """Draw ``s`` with its left end at x; return its width."""
        font, size = font or self.font, size or self.size
        self.canvas.setFont(font, size)
        self.canvas.drawString(x, y, s)
        self.page.strings.append(s)
        return float(pdfmetrics.stringWidth(s, font, size))

    def width(self, s: str, font: str | None = None, size: float | None = None) -> float:
        return float(pdfmetrics.stringWidth(s, font or self.font, size or self.size))

    def prose(
        self,
        x: float,
        top: float,
        bottom: float,
        width: float,
        words: Sequence[str],
        *,
        decoys: Sequence[str] = (),
        hidden: Sequence[str] = (),
    ) -> float:
        """Fill the area with filler sentences carrying ``words``, decoys and hidden words.

        They are spread evenly over the area (as far as its size can be guessed: the page's
        truth is what was drawn, whatever did not fit is simply not printed).
        """
        leading = self.size * 1.3
        per_line = width / self.width("common ")
        capacity = per_line * (top - bottom) / leading
        every = max(2, int(capacity / max(1, len(words) + len(decoys) + 2 * len(hidden))))
        tokens = _tokens(self.rng, list(words), every=every, decoys=decoys, hidden=hidden)
        return self.flow(tokens, x, top, bottom, width)

    def flow(
        self, tokens: Iterator[_Token], x: float, top: float, bottom: float, width: float
    ) -> float:
        """Fill lines from ``tokens`` between ``top`` and ``bottom``; return the y reached.

        A paragraph ends every 4 to 9 lines. Hidden tokens become black boxes of their width,
        some labelled with an exemption code, as agencies redact.
        """
        size = self.size
        leading = size * 1.3
        y = top - size
        lines_left = self.rng.randint(4, 9)
        pending: _Token | None = None
        while y >= bottom:
            line: list[_Token] = []
            used = 0.0
            space = self.width(" ", size=size)
            while True:
                token = pending or next(tokens)
                pending = None
                w = self.width(token.text, size=size)
                if line and used + space + w > width:
                    pending = token
                    break
                line.append(token)
                used += (space if len(line) > 1 else 0) + w
            self._line(line, x, y, size, space)
            y -= leading
            lines_left -= 1
            if lines_left == 0:
                y -= leading * 0.6
                lines_left = self.rng.randint(4, 9)
        return y

    def _line(self, line: list[_Token], x: float, y: float, size: float, space: float) -> None:
        # Runs of visible tokens are drawn as one string; a run of hidden ones is one box,
        # labelled with its exemption in white when it is wide enough.
        start = x
        for hidden, group in itertools.groupby(line, key=lambda t: t.hidden):
            text = " ".join(t.text for t in group)
            w = self.width(text, size=size)
            if hidden:
                self.canvas.setFillGray(0)
                self.canvas.rect(start - 1, y - size * 0.25, w + 2, size * 1.1, stroke=0, fill=1)
                if w > 40 and self.rng.random() < 0.5:
                    self.canvas.setFillGray(1)
                    self.text(start + 3, y, "(b)(6)", "Helvetica-Bold", size * 0.8)
                    self.canvas.setFillGray(0)
            else:
                self.text(start, y, text, size=size)
            start += w + space


@dataclass(frozen=True)
class _Token:
    text: str
    hidden: bool = False


def _tokens(
    rng: random.Random,
    words: list[str],
    *,
    every: int,
    decoys: Sequence[str] = (),
    hidden: Sequence[str] = (),
) -> Iterator[_Token]:
    """Sentences of filler with a word from ``words`` (consumed) about every ``every`` tokens.

    Decoys and hidden words are mixed in among them; a hidden word comes with a filler
    word or two, as redactions cover phrases rather than single words.
    """
    filler = filler_words()
    extra: list[_Token] = [_Token(d) for d in decoys]
    for h in hidden:
        extra.append(_Token(h, hidden=True))
    rng.shuffle(extra)
    sentence_left = rng.randint(6, 16)
    gap = rng.randint(max(1, every // 2), every + every // 2)
    capital = True
    while True:
        gap -= 1
        if gap <= 0 and (words or extra):
            gap = rng.randint(max(1, every // 2), every + every // 2)
            source = extra if extra and (not words or rng.random() < 0.3) else words
            token = source.pop(0)
            item = token if isinstance(token, _Token) else _Token(token)
            if item.hidden:
                yield _Token(rng.choice(filler), hidden=True)
        else:
            item = _Token(rng.choice(filler))
        text = item.text.capitalize() if capital and not item.hidden else item.text
        capital = False
        sentence_left -= 1
        if sentence_left == 0 and not item.hidden:
            text += "."
            capital = True
            sentence_left = rng.randint(6, 16)
        elif not item.hidden and rng.random() < 0.05:
            text += ","
        yield _Token(text, item.hidden)


def draw_document(document: GeneratedDocument, seed: str) -> bytes:
    """Draw every page of ``document`` as a vector PDF; record what each page prints."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=letter, invariant=True)
    for page in document.pages:
        page.strings.clear()
        rng = random.Random(f"{seed}:{document.name}:{page.number}")
        sheet = _Sheet(canvas, page, rng)
        _DRAW[page.kind](sheet)
        sheet.text(
            _WIDTH - 54 - sheet.width(page.bates, _bold(page.font), 10),
            30,
            page.bates,
            _bold(page.font),
            10,
        )
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _date(rng: random.Random) -> dt.date:
    return dt.date(2018, 1, 1) + dt.timedelta(days=rng.randint(0, 1800))


def _memo_head(sheet: _Sheet, top: float) -> tuple[float, float]:
    """The heading of a memo; returns the y of its subject line and the column of values."""
    rng, bold = sheet.rng, _bold(sheet.font)
    agency = rng.choice(_AGENCIES)
    sheet.text((_WIDTH - sheet.width(agency.upper(), bold, 12)) / 2, top, agency.upper(), bold, 12)
    values = {
        "MEMORANDUM FOR:": f"{rng.choice(_CITIES)} Field Office",
        "FROM:": "Records Division",
        "DATE:": f"{_date(rng):%B %d, %Y}",
        "SUBJECT:": "",
    }
    column = 72 + sheet.width("MEMORANDUM FOR:", bold) + 14
    y = top - 28
    for label, value in values.items():
        sheet.text(72, y, label, bold)
        if value:
            sheet.text(column, y, value)
            y -= sheet.size * 1.6
    return y, column


def _draw_prose(sheet: _Sheet, top: float = 740, head: bool = True) -> None:
    page = sheet.page
    words = list(page.words)
    if head:
        y, column = _memo_head(sheet, top)
        subject = [words.pop(0).capitalize(), *sheet.rng.sample(filler_words(), 3)]
        sheet.text(column, y, " ".join(subject))
        top = y - 24
    sheet.prose(72, top, 90, _WIDTH - 144, words, decoys=page.decoys, hidden=page.hidden)


def _draw_two_column(sheet: _Sheet) -> None:
    rng, page = sheet.rng, sheet.page
    bold = _bold(sheet.font)
    sheet.text(
        54,
        750,
        f"Federal Register / Vol. {rng.randint(70, 89)}, No. {rng.randint(1, 250)} / Notices",
        sheet.font,
        9,
    )
    sheet.canvas.setLineWidth(0.8)
    sheet.canvas.line(54, 744, _WIDTH - 54, 744)
    title = f"{rng.choice(_AGENCIES)}: Notices"
    sheet.text(54, 726, title, bold, 11)
    column = (_WIDTH - 108 - 18) / 2
    words = list(page.words)
    half = len(words) // 2
    sheet.canvas.setLineWidth(0.5)
    sheet.canvas.line(_WIDTH / 2, 80, _WIDTH / 2, 710)
    sheet.prose(54, 710, 80, column, words[:half], decoys=page.decoys[::2])
    sheet.prose(_WIDTH / 2 + 9, 710, 80, column, words[half:], decoys=page.decoys[1::2])


def _draw_table(sheet: _Sheet, *, top: float = 740) -> None:
    rng, page = sheet.rng, sheet.page
    bold = _bold(sheet.font)
    words = list(page.words)
    register = rng.random() < 0.5
    if register:
        title = f"Check Register {_date(rng):%B %Y}"
        header = ["Date", "Check No.", "Payee", "Description", "Amount"]
    else:
        title = f"WARN Notices Received {_date(rng):%B %Y}"
        header = ["Company", "City", "Notice Date", "Effective", "Employees", "Type"]
    sheet.text(36, top, title, bold, 12)
    # Roughly one word a row, two on some, so that a row of numbers sits between them.
    rows: list[list[str]] = []
    while words and len(rows) < 24:
        if register:
            payee = f"{words.pop(0).capitalize()} {rng.choice(_COMPANY_SUFFIXES)}"
            extra = words.pop(0) if words and rng.random() < 0.3 else rng.choice(filler_words())
            rows.append(
                [
                    f"{_date(rng):%m/%d/%Y}",
                    str(rng.randint(10000, 99999)),
                    payee,
                    f"{rng.choice(filler_words())} {extra}",
                    f"{rng.randint(20, 90000):,}.{rng.randint(0, 99):02d}",
                ]
            )
        else:
            company = f"{words.pop(0).capitalize()} {rng.choice(_COMPANY_SUFFIXES)}"
            city = (
                words.pop(0).capitalize() if words and rng.random() < 0.3 else rng.choice(_CITIES)
            )
            notice = _date(rng)
            rows.append(
                [
                    company,
                    city,
                    f"{notice:%m/%d/%Y}",
                    f"{notice + dt.timedelta(days=60):%m/%d/%Y}",
                    str(rng.randint(5, 900)),
                    rng.choice(_TABLE_TYPES),
                ]
            )
    size = sheet.size
    pad = 4.0
    widths = [
        max(sheet.width(r[c], bold if r is header else None, size) for r in [header, *rows])
        + 2 * pad
        for c in range(len(header))
    ]
    scale = min(1.0, (_WIDTH - 72) / sum(widths))
    widths = [w * scale for w in widths]
    size *= scale
    row_height = size * 1.9
    canvas = sheet.canvas
    canvas.setLineWidth(rng.choice((0.5, 0.8, 1.2)))
    y = top - 18
    shade = rng.random() < 0.5  # a spreadsheet's banded rows
    for r, row in enumerate([header, *rows]):
        if r == 0 or (shade and r % 2 == 0):
            canvas.setFillGray(0.8 if r == 0 else 0.92)
            canvas.rect(36, y - row_height, sum(widths), row_height, stroke=0, fill=1)
            canvas.setFillGray(0)
        x = 36.0
        for c, cell in enumerate(row):
            font = bold if r == 0 else sheet.font
            numeric = r > 0 and cell.replace(",", "").replace(".", "").isdigit()
            cx = x + widths[c] - pad - sheet.width(cell, font, size) if numeric else x + pad
            sheet.text(cx, y - row_height + size * 0.6, cell, font, size)
            x += widths[c]
        y -= row_height
    # The grid: every row and column ruled.
    bottom = y
    x = 36.0
    for w in [0.0, *widths]:
        x += w
        canvas.line(x, top - 18, x, bottom)
    for r in range(len(rows) + 2):
        line_y = top - 18 - r * row_height
        canvas.line(36, line_y, 36 + sum(widths), line_y)
    if bottom - 20 > 90:
        sheet.text(36, bottom - 20, "Notes:", bold)
        notes_top = bottom - 20 + sheet.size
        sheet.prose(80, notes_top, max(90, bottom - 90), _WIDTH - 116, words, decoys=page.decoys)


def _box(
    sheet: _Sheet, x: float, y: float, w: float, h: float, label: str, value: str | None = None
) -> None:
    """A form box: its number and label in small capitals, its typed value below."""
    sheet.canvas.setLineWidth(0.8)
    sheet.canvas.rect(x, y, w, h, stroke=1, fill=0)
    sheet.text(x + 3, y + h - 8, label, "Helvetica", 6)
    if value:
        sheet.text(x + 6, y + 5, value)


def _draw_form(sheet: _Sheet) -> None:
    rng, page = sheet.rng, sheet.page
    words = list(page.words)
    upper = rng.random() < 0.5  # many forms are typed in capitals

    def value() -> str:
        word = words.pop(0) if words else rng.choice(filler_words())
        return word.upper() if upper else word.capitalize()

    sheet.canvas.setFillGray(0)
    sheet.canvas.rect(36, 722, _WIDTH - 72, 34, stroke=0, fill=1)
    sheet.canvas.setFillGray(1)
    sheet.text(46, 734, "RECORD OF INTERVIEW", "Helvetica-Bold", 14)
    sheet.canvas.setFillGray(0)
    sheet.text(
        _WIDTH - 150, 710, f"FORM {rng.randint(100, 999)}-{rng.choice('ABCD')}", "Helvetica", 7
    )
    row_h = sheet.size * 2.6
    full = _WIDTH - 72
    y = 700 - row_h
    layout = [
        [("1. FAMILY NAME", 0.4), ("2. GIVEN NAME", 0.3), ("3. MIDDLE NAME", 0.3)],
        [("4. COUNTRY OF CITIZENSHIP", 0.4), ("5. DATE OF BIRTH", 0.3), ("6. FILE NUMBER", 0.3)],
        [
            ("7. ADDRESS IN UNITED STATES", 0.5),
            ("8. CITY", 0.3),
            ("9. STATE", 0.1),
            ("10. ZIP CODE", 0.1),
        ],
        [("11. OCCUPATION", 0.35), ("12. EMPLOYER", 0.4), ("13. TELEPHONE", 0.25)],
    ]
    # The address is fixed text, not distinctive words: the pipeline's personal-data screening
    # masks a street address (and its city) from search, which is its purpose, not OCR's.
    street = rng.choice(("Street", "Avenue", "Road"))
    values: dict[str, str] = {
        "7. ADDRESS IN UNITED STATES": f"{rng.randint(10, 9999)} {rng.choice(_CITIES)} {street}",
        "8. CITY": rng.choice(_CITIES),
        "5. DATE OF BIRTH": f"{_date(rng) - dt.timedelta(days=12000):%m/%d/%Y}",
        "6. FILE NUMBER": f"A{rng.randint(10**8, 10**9 - 1)}",
        "9. STATE": rng.choice(("TX", "CA", "AZ", "NM", "FL", "NY")),
        "10. ZIP CODE": str(rng.randint(10000, 99999)),
        "13. TELEPHONE": f"({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}",
    }
    for row in layout:
        x = 36.0
        for label, share in row:
            if label in values:
                text = values[label]
            elif label.startswith("12."):
                text = f"{value()} {rng.choice(_COMPANY_SUFFIXES)}"
            else:
                text = value()
            _box(sheet, x, y, full * share, row_h, label, text)
            x += full * share
        y -= row_h
    # Check boxes: one ticked.
    _box(sheet, 36, y, full, row_h, "14. STATUS AT ENTRY")
    ticked = rng.randrange(3)
    for i, label in enumerate(("ADMITTED", "PAROLED", "OTHER")):
        bx = 60 + i * 150
        sheet.canvas.rect(bx, y + 5, 9, 9, stroke=1, fill=0)
        if i == ticked:
            sheet.text(bx + 1.5, y + 6.5, "X", "Helvetica-Bold", 9)
        sheet.text(bx + 14, y + 6, label, "Helvetica", 8)
    y -= 8
    narrative_bottom = 130
    _box(sheet, 36, narrative_bottom, full, y - narrative_bottom, "15. NARRATIVE")
    sheet.prose(44, y - 12, narrative_bottom + 10, full - 16, words, decoys=page.decoys)
    sig = [("16. SIGNATURE OF OFFICER", 0.45), ("17. TITLE", 0.35), ("18. DATE", 0.2)]
    x = 36.0
    filled = {"17. TITLE": "Special Agent", "18. DATE": f"{_date(rng):%m/%d/%Y}"}
    for label, share in sig:
        _box(sheet, x, narrative_bottom - row_h - 6, full * share, row_h, label, filled.get(label))
        x += full * share


def _draw_stamped(sheet: _Sheet) -> None:
    _draw_prose(sheet)
    rng, canvas = sheet.rng, sheet.canvas
    bold = _bold(sheet.font)
    # Exemption codes stamped over the text, as a reviewer marks withheld passages.
    for _ in range(rng.randint(2, 3)):
        code = rng.choice(("(b)(6)", "(b)(7)(C)", "(b)(5)", "(b)(6); (b)(7)(C)"))
        sheet.text(rng.uniform(90, 420), rng.uniform(150, 560), code, bold, rng.choice((11, 13)))
    # A RECEIVED stamp in grey ink, askew, over the upper part of the text.
    canvas.saveState()
    x, y = rng.uniform(250, 380), rng.uniform(480, 620)
    canvas.translate(x, y)
    canvas.rotate(rng.uniform(-12, 12))
    grey = rng.uniform(0.35, 0.55)
    canvas.setStrokeGray(grey)
    canvas.setFillGray(grey)
    canvas.setLineWidth(2)
    canvas.roundRect(0, 0, 190, 64, 8, stroke=1, fill=0)
    sheet.text(16, 38, "RECEIVED", "Helvetica-Bold", 24)
    sheet.text(50, 20, f"{_date(rng):%b %d %Y}".upper(), "Helvetica-Bold", 12)
    sheet.text(56, 6, "FOIA OFFICE", "Helvetica", 9)
    canvas.restoreState()


def _draw_fax(sheet: _Sheet) -> None:
    rng = sheet.rng
    stamp = f"{_date(rng):%b-%d-%Y}".upper() + f" {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}"
    header = (
        # A station name where fax machines print their number: a phone number is personal
        # data to the pipeline's screening, which then holds the page back from search.
        f"{stamp}  FROM: RECORDS DIVISION  FOIA UNIT"
        f"  T-{rng.randint(100, 999)} P.{rng.randint(1, 4):03d}/{rng.randint(4, 9):03d}"
    )
    sheet.text(40, 770, header, "Courier", 8)
    _draw_prose(sheet, top=730)


def _draw_rotated(sheet: _Sheet) -> None:
    # The page itself is ordinary; the scanner turns it (see scan_page).
    if sheet.page.number % 2:
        _draw_prose(sheet)
    else:
        _draw_table(sheet)


_DRAW = {
    "prose": _draw_prose,
    "two-column": _draw_two_column,
    "ruled-table": _draw_table,
    "form": _draw_form,
    "stamped": _draw_stamped,
    "redacted": _draw_prose,  # the hidden words become boxes as they are flowed
    "fax": _draw_fax,
    "rotated": _draw_rotated,
}


# --- scanning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanImage:
    """One page image as the scanner stored it: its encoded bytes and their format.

    ``encoding`` is ``jpeg`` (the bytes are a JPEG file, embedded as they are), ``grey`` or
    ``bilevel`` (the bytes are a PNG of an 8-bit grey or a 1-bit image, embedded as Flate).
    """

    data: bytes
    encoding: str
    width: int
    height: int
    dpi: int

    @property
    def suffix(self) -> str:
        return ".jpg" if self.encoding == "jpeg" else ".png"

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


def render_pdf_page(pdf: bytes | Path, index: int, dpi: int) -> Image.Image:
    """Page ``index`` of a PDF rendered in grey at ``dpi``, as a flatbed scanner sees it."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[index]
        try:
            image: Image.Image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            return image.convert("L")
        finally:
            page.close()
    finally:
        document.close()


def age_scan(image: Image.Image, rng: random.Random, dpi: int = GREY_DPI) -> Image.Image:
    """Make a clean grey render look like a worn photocopy fed crooked through a scanner.

    Grey paper and toner, dust and toner specks, a skew of 0.5 to 3 degrees either way, a blur
    (stronger at higher resolution, as the optics are the same), sensor noise.
    """
    scale = dpi / GREY_DPI
    width, height = image.size
    paper, toner = rng.randint(205, 230), rng.randint(20, 50)
    image = image.point([int(toner + v * (paper - toner) / 255) for v in range(256)])
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.uniform(300, 900) * scale * scale)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.5, 2.2) * scale
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(30, 150))
    # OpenCV for the whole-page operations: PIL's bicubic rotation of a 300 DPI page took
    # seconds, ten times OpenCV's.
    pixels = np.asarray(image)
    angle = rng.choice((-1, 1)) * rng.uniform(0.5, 3.0)
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    pixels = cv2.warpAffine(
        pixels, turn, (width, height), flags=cv2.INTER_CUBIC, borderValue=(paper,)
    )
    pixels = cv2.GaussianBlur(pixels, (0, 0), rng.uniform(0.7, 1.3) * scale)
    noise = np.random.default_rng(rng.getrandbits(64)).integers(-12, 13, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def encode_scan(
    image: Image.Image, dpi: int, *, bilevel: bool, jpeg_quality: int | None
) -> ScanImage:
    """Store a page image as a scanner would: 1-bit, lossless grey, or JPEG."""
    buffer = io.BytesIO()
    if bilevel:
        # A fax machine thresholds: no dithering of the paper's grey into dots.
        image = image.point(lambda v: 255 if v >= 140 else 0).convert("1", dither=Image.Dither.NONE)
        image.save(buffer, "PNG", dpi=(dpi, dpi), compress_level=1)
        encoding = "bilevel"
    elif jpeg_quality is not None:
        image.save(buffer, "JPEG", quality=jpeg_quality, dpi=(dpi, dpi))
        encoding = "jpeg"
    else:
        # Fast compression: the file is written once and read once.
        image.save(buffer, "PNG", dpi=(dpi, dpi), compress_level=1)
        encoding = "grey"
    return ScanImage(buffer.getvalue(), encoding, image.width, image.height, dpi)


def scan_image(
    image: Image.Image, condition: str, rng: random.Random, *, dpi: int, bilevel: bool = False
) -> ScanImage:
    """A clean grey render scanned in ``condition``: clean (as it is) or degraded."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}")
    if condition == DEGRADED:
        image = age_scan(image, rng, dpi)
    quality = rng.randint(40, 65) if condition == DEGRADED else None
    return encode_scan(image, dpi, bilevel=bilevel, jpeg_quality=quality)


_TURN = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180}  # PIL turns anticlockwise


def scan_page(
    document: GeneratedDocument, page: GeneratedPage, condition: str, seed: str
) -> ScanImage:
    """Scan one page of a generated document in ``condition``, turned as the page says."""
    image = render_pdf_page(document.vector_pdf, page.number - 1, page.dpi)
    if page.rotation:
        image = image.transpose(_TURN[page.rotation])
    rng = random.Random(f"{seed}:scan:{condition}:{document.name}:{page.number}")
    return scan_image(image, condition, rng, dpi=page.dpi, bilevel=page.bilevel)


def _png_rows(data: bytes) -> tuple[int, bytes]:
    """The bit depth and the zlib stream of a non-interlaced one-channel PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, rows, bits = 8, bytearray(), 0
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            bits, colour, interlace = body[8], body[9], body[12]
            if colour != 0 or interlace != 0:
                raise ValueError("only grey, non-interlaced PNGs are embedded as they are")
        elif kind == b"IDAT":
            rows += body
        position += 12 + length
    return bits, bytes(rows)


def write_image_pdf(path: Path, scans: Sequence[ScanImage]) -> Path:
    """An image-only PDF, one page per scan, each image at its own resolution.

    JPEG bytes are embedded as they are (DCTDecode); a PNG's compressed rows too (Flate with
    PNG predictors, as img2pdf does), so the pixels in the PDF are exactly those of the file.
    """
    pdf = pikepdf.Pdf.new()
    for scan in scans:
        width_pt, height_pt = scan.width * 72 / scan.dpi, scan.height * 72 / scan.dpi
        if scan.encoding == "jpeg":
            stream = pikepdf.Stream(pdf, scan.data)
            stream.Filter = pikepdf.Name.DCTDecode
            bits = 8
        else:
            bits, rows = _png_rows(scan.data)
            stream = pikepdf.Stream(pdf, rows)
            stream.Filter = pikepdf.Name.FlateDecode
            stream.DecodeParms = pikepdf.Dictionary(
                Predictor=15, Colors=1, BitsPerComponent=bits, Columns=scan.width
            )
        stream.Type = pikepdf.Name.XObject
        stream.Subtype = pikepdf.Name.Image
        stream.Width, stream.Height = scan.width, scan.height
        stream.ColorSpace = pikepdf.Name.DeviceGray
        stream.BitsPerComponent = bits
        page = pdf.add_blank_page(page_size=(width_pt, height_pt))
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream))
        page.Contents = pdf.make_stream(
            f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm /Im0 Do Q".encode()
        )
    pdf.save(path)
    return path
