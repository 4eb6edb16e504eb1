"""The safety scan, run on every page as the pipeline reads and writes it.

Two hooks, each a line in the pipeline:

- :func:`screen_layer`, in the text-layer pass (``ingest.pages``) while the page is open:
  text hidden under boxes (:mod:`ingest.hidden_text`) and personal data in the text layer
  (:mod:`ingest.personal`), each with its boxes on the page;
- :func:`shield_pages`, where read pages are written (``ingest.process``): personal data in
  the OCR text, then every finding recorded (:class:`app.findings.Finding`) in the same
  transaction as the page rows, and the columns each page row gets instead of its text as
  read: the text with every undecided or redacted finding masked (``█`` for each character).

So the page row, and everything made from it after (the search index, the public pages,
``.txt`` downloads, feeds, the document's e-mail headers and title), never holds a finding's
text until a moderator keeps it; the text as read is kept aside (``ShieldedPage``) so that a
kept finding can be shown again (:func:`public_texts`).

Why a step of each page and not a job of its own after the document: a page is searchable as
soon as its batch is committed (``readingroom ingest`` publishes as it reads); a scan run
later would leave that page public, unscanned, for as long as the queue takes.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from sqlalchemy import Insert, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.findings import Finding, FindingStatus, ShieldedPage
from app.models import Document
from ingest.extract.layout import PageLayout, Rect
from ingest.hidden_text import find_hidden_text, upright_fractions
from ingest.personal import find_personal_data

if TYPE_CHECKING:
    from ingest.pages import PageResult

MASK = "\u2588"  # FULL BLOCK: what the public reads in place of a masked character
TEXT_FIELDS = ("text", "layer_text", "ocr_text")
Box = list[float]  # [x0, y0, x1, y1], fractions of the upright page, origin top left


@dataclass
class PageFinding:
    """A finding of one page before it is recorded: where it is in the text and on the page."""

    kind: str
    confidence: float
    secret: str
    source: str  # "layer" or "ocr"
    boxes: list[Box] = field(default_factory=list)
    # Spans in the text it was found in (layer_text or ocr_text).
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def field(self) -> str:
        return "layer_text" if self.source == "layer" else "ocr_text"


def fingerprint(page_number: int, kind: str, secret: str) -> str:
    """Same page, kind and value, same fingerprint (white space and case do not count)."""
    value = "".join(secret.split()).lower()
    return hashlib.sha256(f"{page_number}|{kind}|{value}".encode()).hexdigest()


# --- the text-layer pass -------------------------------------------------------------------


def screen_layer(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, layout: PageLayout, text: str
) -> list[PageFinding]:
    """Hidden text and personal data of an open page's text layer (``text``, cleaned)."""
    hidden = find_hidden_text(page, textpage, layout, text)
    matches = find_personal_data(text)
    if not hidden and not matches:
        return []  # most pages: nothing more to ask pdfium
    page_box: Rect = tuple(float(v) for v in page.get_bbox())  # type: ignore[assignment]
    rotation = page.get_rotation() % 360
    found = [
        PageFinding(
            h.kind,
            h.confidence,
            h.text,
            "layer",
            [list(upright_fractions(h.box, page_box, rotation))],
            list(h.spans),
        )
        for h in hidden
    ]
    if matches:
        boxes = _LayerBoxes(textpage, text, page_box, rotation)
        found += [
            PageFinding(
                m.kind, m.confidence, m.value, "layer", boxes.of(m.start, m.end), [(m.start, m.end)]
            )
            for m in matches
        ]
    return found


class _LayerBoxes:
    """Boxes of spans of the cleaned page text, from pdfium's character boxes.

    The cleaned text and pdfium's character list hold the same non-blank characters in the
    same order (see ``ingest.hidden_text._spans``): the n-th of one is the n-th of the other.
    """

    def __init__(
        self, textpage: pdfium.PdfTextPage, text: str, page_box: Rect, rotation: int
    ) -> None:
        self.textpage, self.text, self.page_box, self.rotation = textpage, text, page_box, rotation
        count = textpage.count_chars()
        chars = textpage.get_text_range(0, count) if count else ""
        self.char_index = [i for i, ch in enumerate(chars) if not ch.isspace() and ch != "\ufffe"]
        self.rank = {}
        seen = 0
        for offset, ch in enumerate(text):
            if not ch.isspace():
                self.rank[offset] = seen
                seen += 1

    def of(self, start: int, end: int) -> list[Box]:
        rects: list[Rect] = []
        left, right, bottom, top = (ctypes.c_double(0) for _ in range(4))
        for offset in range(start, end):
            rank = self.rank.get(offset)
            if rank is None or rank >= len(self.char_index):
                continue
            if pdfium_c.FPDFText_GetCharBox(
                self.textpage.raw,
                self.char_index[rank],
                ctypes.byref(left),
                ctypes.byref(right),
                ctypes.byref(bottom),
                ctypes.byref(top),
            ):
                rects.append((left.value, bottom.value, right.value, top.value))
        return [list(upright_fractions(r, self.page_box, self.rotation)) for r in _lines(rects)]


def _lines(rects: Sequence[Rect]) -> list[Rect]:
    """Character boxes merged into one box per line (a hyphen's box is short: it joins the
    line its middle is on)."""
    merged: list[list[float]] = []
    for x0, y0, x1, y1 in rects:
        middle = (y0 + y1) / 2
        if merged and merged[-1][1] <= middle <= merged[-1][3] and x0 >= merged[-1][0] - 1:
            box = merged[-1]
            box[:] = [min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)]
        else:
            merged.append([x0, y0, x1, y1])
    return [(b[0], b[1], b[2], b[3]) for b in merged]


# --- where pages are written ---------------------------------------------------------------


def _ocr_findings(result: PageResult) -> list[PageFinding]:
    text = result.ocr_text or ""
    matches = find_personal_data(text)
    if not matches:
        return []
    words = result.ocr_words or []
    return [
        PageFinding(
            m.kind,
            m.confidence,
            m.value,
            "ocr",
            _word_boxes(words, m.value),
            [(m.start, m.end)],
        )
        for m in matches
    ]


def _word_boxes(words: Sequence[tuple[str, float, float, float, float]], value: str) -> list[Box]:
    """Boxes of the OCR words that spell ``value`` (white space ignored), every occurrence."""
    wanted = "".join(value.split())
    if not wanted:
        return []
    joined = ""
    owner: list[int] = []
    for index, (word, *_box) in enumerate(words):
        joined += word
        owner += [index] * len(word)
    boxes: list[Box] = []
    for match in re.finditer(re.escape(wanted), joined):
        hit = sorted(set(owner[match.start() : match.end()]))
        boxes += [list(words[i][1:]) for i in hit]
    return boxes


def _insert_findings(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(Finding).on_conflict_do_nothing(
        index_elements=[Finding.document_id, Finding.fingerprint]
    )


def _upsert_shielded(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ShieldedPage)
    return statement.on_conflict_do_update(
        index_elements=[ShieldedPage.document_id, ShieldedPage.number],
        set_={
            "text": statement.excluded.text,
            "layer_text": statement.excluded.layer_text,
            "ocr_text": statement.excluded.ocr_text,
            "updated_at": statement.excluded.updated_at,
        },
    )


def shield_pages(
    session: Session,
    document: Document,
    results: Sequence[PageResult],
    *,
    texts: dict[int, dict[str, str | None]] | None = None,
) -> dict[int, dict[str, Any]]:
    """Record the findings of pages about to be written; the columns each page gets instead.

    Called with the pages of one write, in its transaction (nothing is committed here).
    Findings already known (same fingerprint) keep their decision; undecided ones not found
    again (the page read differently) are dropped. Pages with a masked finding are returned
    with their masked ``text``, ``layer_text`` and ``ocr_text``, and their OCR word boxes
    are masked in place; their text as read goes to ``ShieldedPage``. ``texts`` gives a
    page's texts as read when they are not the result's own (a page scanned again).
    """
    if not results:
        return {}
    numbers = [r.number for r in results]
    existing: dict[tuple[int, str], Finding] = {
        (f.page_number, f.fingerprint): f
        for f in session.scalars(
            select(Finding).where(
                Finding.document_id == document.id, Finding.page_number.in_(numbers)
            )
        )
    }
    now = dt.datetime.now(dt.UTC)
    new_rows: list[dict[str, Any]] = []
    overrides: dict[int, dict[str, Any]] = {}
    shielded_rows: list[dict[str, Any]] = []
    found_keys: set[tuple[int, str]] = set()
    for result in results:
        as_read = (texts or {}).get(result.number) or _texts_as_read(result)
        # What is masked on this page: (where its spans go, what the scan saw, the value).
        masked_here: list[tuple[dict[str, Any] | Finding, PageFinding | None, str]] = []
        for finding in _page_findings(result):
            key = (result.number, fingerprint(result.number, finding.kind, finding.secret))
            if key in found_keys:
                continue
            found_keys.add(key)
            known = existing.get(key)
            if known is None:
                row = _row(document, result.number, finding, key[1], now)
                new_rows.append(row)
                masked_here.append((row, finding, finding.secret))
            elif known.status.masked:
                masked_here.append((known, finding, finding.secret))
        # Decided findings the scan does not find again (boxes a moderator drew, text a
        # re-read spells differently) stay masked by their value.
        for (number, print_), known in existing.items():
            if (
                number == result.number
                and (number, print_) not in found_keys
                and known.status is FindingStatus.REDACTED
            ):
                masked_here.append((known, None, known.secret))
        if not masked_here:
            continue
        masked, spans = mask_texts(as_read, [(seen, secret) for _, seen, secret in masked_here])
        for (target, _, _), target_spans in zip(masked_here, spans, strict=True):
            if isinstance(target, dict):
                target["spans"] = target_spans
            else:
                target.spans = target_spans
        overrides[result.number] = masked
        _mask_words(result, [secret for _, _, secret in masked_here])
        shielded_rows.append(
            {"document_id": document.id, "number": result.number, "updated_at": now, **as_read}
        )
    stale = [
        f.id
        for key, f in existing.items()
        if key not in found_keys and f.status is FindingStatus.PENDING
    ]
    if stale:
        session.execute(delete(Finding).where(Finding.id.in_(stale)))
    if new_rows:
        session.execute(_insert_findings(session), new_rows)
    if shielded_rows:
        session.execute(_upsert_shielded(session), shielded_rows)
    return overrides


def _page_findings(result: PageResult) -> list[PageFinding]:
    findings = list(result.screen or []) + _ocr_findings(result)
    if result.bates_number:
        stamp = "".join(result.bates_number.split()).upper()
        findings = [f for f in findings if "".join(f.secret.split()).upper() != stamp]
    return findings


def _texts_as_read(result: PageResult) -> dict[str, str | None]:
    return {"text": result.text, "layer_text": result.layer_text, "ocr_text": result.ocr_text}


def _row(
    document: Document, number: int, finding: PageFinding, key: str, now: dt.datetime
) -> dict[str, Any]:
    return {
        "document_id": document.id,
        "page_number": number,
        "kind": finding.kind,
        "confidence": round(finding.confidence, 3),
        "boxes": [[round(v, 5) for v in box] for box in finding.boxes],
        "secret": finding.secret,
        "source": finding.source,
        "fingerprint": key,
        "spans": {},
        "status": FindingStatus.PENDING.value,
        "created_at": now,
    }


# --- masks ---------------------------------------------------------------------------------


def _value_pattern(secret: str) -> re.Pattern[str] | None:
    """The secret's characters in order, any white space between them (line ends differ)."""
    chars = [re.escape(ch) for ch in secret if not ch.isspace()]
    return re.compile(r"\s*".join(chars)) if chars else None


def _mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for index in range(max(0, start), min(end, len(chars))):
            if not chars[index].isspace():
                chars[index] = MASK
    return "".join(chars)


def _spans_in(
    text: str,
    field_name: str,
    seen: PageFinding | None,
    secret: str,
    as_read: dict[str, str | None],
) -> list[tuple[int, int]]:
    if seen is not None and seen.spans:
        same_text = as_read.get(seen.field) == text
        if field_name == seen.field or same_text:
            return list(seen.spans)
    pattern = _value_pattern(secret)
    return [m.span() for m in pattern.finditer(text)] if pattern else []


def mask_texts(
    texts: dict[str, str | None], findings: Sequence[tuple[PageFinding | None, str]]
) -> tuple[dict[str, str | None], list[dict[str, list[list[int]]]]]:
    """The page's texts with each finding masked, and each finding's spans in them.

    A finding the scan saw in this text is masked where it was seen; a value known from
    before (or seen in the other text) is masked wherever it is spelled.
    """
    masked: dict[str, str | None] = {}
    spans: list[dict[str, list[list[int]]]] = [{} for _ in findings]
    for name in TEXT_FIELDS:
        text = texts.get(name)
        if text is None:
            masked[name] = None
            continue
        everywhere: list[tuple[int, int]] = []
        for position, (seen, secret) in enumerate(findings):
            found = _spans_in(text, name, seen, secret, texts)
            spans[position][name] = [[a, b] for a, b in found]
            everywhere += found
        masked[name] = _mask_spans(text, everywhere)
    return masked, spans


def public_texts(shielded: ShieldedPage, findings: Iterable[Finding]) -> dict[str, str | None]:
    """A page's texts as the public may read them: the text as read with every finding
    that is not kept masked (where it was masked before, or wherever it is spelled)."""
    texts: dict[str, str | None] = {
        "text": shielded.text,
        "layer_text": shielded.layer_text,
        "ocr_text": shielded.ocr_text,
    }
    out: dict[str, str | None] = {}
    for name, text in texts.items():
        if text is None:
            out[name] = None
            continue
        everywhere: list[tuple[int, int]] = []
        for finding in findings:
            if not finding.status.masked:
                continue
            stored = (finding.spans or {}).get(name)
            if stored:
                everywhere += [(int(a), int(b)) for a, b in stored]
            elif (pattern := _value_pattern(finding.secret)) is not None:
                everywhere += [m.span() for m in pattern.finditer(text)]
        out[name] = _mask_spans(text, everywhere)
    return out


def _mask_words(result: PageResult, secrets: Sequence[str]) -> None:
    """Mask the OCR words that spell a masked value (the word boxes feed highlights)."""
    if not result.ocr_words:
        return
    boxes = {tuple(box) for secret in secrets for box in _word_boxes(result.ocr_words, secret)}
    result.ocr_words = [
        (MASK * len(w[0]), *w[1:]) if tuple(w[1:]) in boxes else w for w in result.ocr_words
    ]
