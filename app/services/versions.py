"""Releases compared, as the public sees them: other versions of a page, what each release
hid, the versions of a document, and what a production or a request withheld.

Everything here reads what the ``versions`` job stored (:mod:`app.page_versions`) and shows
only public documents of published productions. The compare view aligns the two page texts
again (the public text: findings not yet decided are masked in it) and places the words that
differ on the page images with the word boxes of the side that has them; the redaction boxes
of the other side say whether a box covers the place where the word stood.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from dataclasses import dataclass, field

import PIL.Image
from rapidfuzz.distance import Indel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import NotFoundError
from app.models import Document, FoiaRequest, Page, Production, ProductionStatus, TextSource
from app.models import production_documents as pd
from app.page_versions import (
    DocumentRelation,
    DocumentVersion,
    FingerprintStatus,
    PageFingerprint,
    PageMatch,
)
from app.services.documents import exemption_label, get_public_page, public_documents
from app.services.findings import visible_words
from app.services.pages import WordBox, load_page_words, page_image, source_pdf
from ingest.redactions import RedactionError, find_image_redactions, find_vector_redactions
from ingest.versions.align import Alignment, Token, align
from ingest.versions.withheld import BatesGap, Stamp, gaps, series_of, trusted_stamps

MAX_VERSIONS_LISTED = 50
# A word counts as under a box when this share of its box is covered.
COVERED_SHARE = 0.3
_REF = re.compile(r"^(\d{1,12})-(\d{1,7})$")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the upright page


@dataclass(frozen=True)
class PageRef:
    document: Document
    page: Page

    @property
    def ref(self) -> str:
        return f"{self.document.id}-{self.page.number}"


@dataclass(frozen=True)
class OtherVersion:
    document: Document
    page: Page
    productions: list[Production]
    similarity: float | None  # None: a version of a version (no direct comparison stored)
    only_here: int | None  # words this page shows that the other does not
    only_there: int | None

    @property
    def ref(self) -> str:
        return f"{self.document.id}-{self.page.number}"


def _public_production(production: Production) -> bool:
    return production.status is ProductionStatus.PUBLISHED


def other_versions(session: Session, page: Page) -> list[OtherVersion]:
    """The public versions of ``page`` in other documents, best matches first."""
    group = session.scalar(
        select(PageFingerprint.group_id).where(PageFingerprint.page_id == page.id)
    )
    if group is None:
        return []
    rows = session.execute(
        select(Page, Document)
        .join(PageFingerprint, PageFingerprint.page_id == Page.id)
        .join(Document, Document.id == Page.document_id)
        .where(PageFingerprint.group_id == group, Page.id != page.id, public_documents())
        .order_by(Page.id)
        .limit(MAX_VERSIONS_LISTED)
    ).all()
    direct: dict[int, PageMatch] = {}
    for row in session.scalars(
        select(PageMatch).where(or_(PageMatch.page_a_id == page.id, PageMatch.page_b_id == page.id))
    ):
        direct[row.page_b_id if row.page_a_id == page.id else row.page_a_id] = row
    found = []
    for other, document in rows:
        match = direct.get(other.id)
        here_is_a = match is not None and match.page_a_id == page.id
        productions = [p for p in document.productions if _public_production(p)]
        found.append(
            OtherVersion(
                document,
                other,
                sorted(productions, key=lambda p: (p.release_date is None, p.release_date, p.id)),
                match.similarity if match else None,
                (match.only_a if here_is_a else match.only_b) if match else None,
                (match.only_b if here_is_a else match.only_a) if match else None,
            )
        )
    found.sort(key=lambda v: (v.similarity is None, -(v.similarity or 0.0), v.page.id))
    return found


@dataclass(frozen=True)
class DocumentVersionView:
    document: Document
    relation: str  # "same", "contains" (this one holds the other), "part_of", "shares"
    shared_pages: int
    ordered_pages: int

    @property
    def label(self) -> str:
        return {
            "same": "another version of this document",
            "contains": "its pages are all in this document",
            "part_of": "this document is part of it",
            "shares": "shares some pages",
        }[self.relation]


def document_versions(session: Session, document_id: int) -> list[DocumentVersionView]:
    """The public documents that share versions of pages with this one, closest first."""
    rows = session.scalars(
        select(DocumentVersion).where(
            or_(
                DocumentVersion.document_a_id == document_id,
                DocumentVersion.document_b_id == document_id,
            )
        )
    ).all()
    others = {r.document_b_id if r.document_a_id == document_id else r.document_a_id for r in rows}
    documents = {
        d.id: d
        for d in session.scalars(
            select(Document).where(Document.id.in_(others), public_documents())
        )
    }
    found = []
    for row in rows:
        here_is_a = row.document_a_id == document_id
        other = documents.get(row.document_b_id if here_is_a else row.document_a_id)
        if other is None:
            continue
        if row.relation is DocumentRelation.SAME:
            relation = "same"
        elif row.relation is DocumentRelation.SHARES:
            relation = "shares"
        elif (row.relation is DocumentRelation.A_IN_B) == here_is_a:
            relation = "part_of"
        else:
            relation = "contains"
        found.append(DocumentVersionView(other, relation, row.shared_pages, row.ordered_pages))
    order = {"same": 0, "part_of": 1, "contains": 2, "shares": 3}
    found.sort(key=lambda v: (order[v.relation], -v.shared_pages, v.document.id))
    return found


# --- the compare view ----------------------------------------------------------------------


def parse_page_ref(ref: str) -> tuple[int, int]:
    """``"12-3"`` (document 12, page 3) as numbers; anything else is no page."""
    match = _REF.match(ref)
    if match is None:
        raise NotFoundError(f"there is no page {ref!r}: pages are written document-page, as 12-3")
    return int(match.group(1)), int(match.group(2))


def _public_page(session: Session, ref: str) -> PageRef:
    return PageRef(*get_public_page(session, *parse_page_ref(ref)))


@dataclass(frozen=True)
class DiffWord:
    """A word one side shows and the other does not, and why, as far as can be told."""

    text: str
    side: str  # "a" or "b": the side that shows it
    reason: str  # "redaction_box", "redaction_label", "ocr", "missing", "different"
    box: WordBox | None  # where it stands on its side's page image

    @property
    def explanation(self) -> str:
        other = "the other version"
        return {
            "redaction_box": f"hidden by a redaction box in {other}",
            "redaction_label": f"{other} prints a redaction label in its place",
            "ocr": "read differently by OCR",
            "missing": f"not in {other}, and no redaction box covers where it stood",
            "different": f"{other} has other words here",
        }[self.reason]


@dataclass(frozen=True)
class Run:
    """A run of the aligned text: the same on both sides, or one side's words."""

    kind: str  # "same", "only_a", "only_b", "ocr", "differs"
    a: list[DiffWord | str]
    b: list[DiffWord | str]


@dataclass
class SideView:
    ref: PageRef
    productions: list[Production]
    redactions: list[Box]
    words: int
    rotation: int
    marks: list[DiffWord] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    a: SideView
    b: SideView
    runs: list[Run]
    similarity: float
    counts: dict[str, int]
    same_layout: bool  # the word boxes of one side can be looked up on the other's page


def _redaction_boxes(settings: Settings, ref: PageRef) -> tuple[list[Box], bool]:
    """The redaction boxes of a page as fractions of the upright page, and whether they
    could be looked for (a page that cannot be drawn has none known)."""
    page, document = ref.page, ref.document
    try:
        if page.text_source is TextSource.OCR or not page.width or not page.height:
            image = PIL.Image.open(page_image(settings, document, page, "image"))
            width, height = image.size
            boxes = find_image_redactions(image.convert("L"))
            return [
                (b.x0 / width, b.top / height, b.x1 / width, b.bottom / height) for b in boxes
            ], True
        boxes = find_vector_redactions(source_pdf(settings, document), page.number - 1)
    except (NotFoundError, RedactionError, OSError):
        return [], False
    w, h = page.width, page.height
    return [(b.x0 / w, b.top / h, b.x1 / w, b.bottom / h) for b in boxes], True


def _covered(box: WordBox, redactions: list[Box]) -> bool:
    area = (box.x1 - box.x0) * (box.y1 - box.y0)
    if area <= 0:
        return False
    for x0, y0, x1, y1 in redactions:
        overlap = max(0.0, min(box.x1, x1) - max(box.x0, x0)) * max(
            0.0, min(box.y1, y1) - max(box.y0, y0)
        )
        if overlap >= COVERED_SHARE * area:
            return True
    return False


def _token_boxes(tokens: list[Token], words: list[WordBox]) -> dict[int, WordBox]:
    """The word box of each token of the page text, by aligning the two word sequences."""
    keys = ["".join(ch for ch in w.text.casefold() if ch.isalnum()) for w in words]
    found: dict[int, WordBox] = {}
    for op in Indel.opcodes([t.key for t in tokens], keys):
        if op.tag == "equal":
            for offset in range(op.src_end - op.src_start):
                found[op.src_start + offset] = words[op.dest_start + offset]
    return found


def _side_words(settings: Settings, ref: PageRef) -> tuple[list[WordBox], int]:
    with contextlib.suppress(NotFoundError):
        loaded = load_page_words(settings, ref.document, ref.page)
        return visible_words(settings, ref.document, ref.page.number, loaded.words), loaded.rotation
    return [], 0


def compare_pages(settings: Settings, session: Session, left: str, right: str) -> Comparison:
    """Two public pages side by side: aligned text, differing words and why they differ."""
    a_ref, b_ref = _public_page(session, left), _public_page(session, right)
    if a_ref.page.id == b_ref.page.id:
        raise NotFoundError("a page compared with itself: choose two different pages")
    alignment = align(a_ref.page.text or "", b_ref.page.text or "")
    words_a, rotation_a = _side_words(settings, a_ref)
    words_b, rotation_b = _side_words(settings, b_ref)
    boxes_a = _token_boxes(alignment.a, words_a)
    boxes_b = _token_boxes(alignment.b, words_b)
    red_a, _ = _redaction_boxes(settings, a_ref)
    red_b, _ = _redaction_boxes(settings, b_ref)
    # Boxes of one page only say something about the other if both are drawn the same way up.
    same_layout = rotation_a == rotation_b
    side_a = SideView(a_ref, _productions(a_ref.document), red_a, alignment.words_a, rotation_a)
    side_b = SideView(b_ref, _productions(b_ref.document), red_b, alignment.words_b, rotation_b)
    runs = _runs(alignment, boxes_a, boxes_b, red_a, red_b, same_layout, side_a, side_b)
    counts: dict[str, int] = defaultdict(int)
    for mark in side_a.marks + side_b.marks:
        counts[mark.reason] += 1
    return Comparison(side_a, side_b, runs, alignment.similarity, dict(counts), same_layout)


def _productions(document: Document) -> list[Production]:
    return sorted(
        (p for p in document.productions if _public_production(p)),
        key=lambda p: (p.release_date is None, p.release_date, p.id),
    )


def _runs(
    alignment: Alignment,
    boxes_a: dict[int, WordBox],
    boxes_b: dict[int, WordBox],
    red_a: list[Box],
    red_b: list[Box],
    same_layout: bool,
    side_a: SideView,
    side_b: SideView,
) -> list[Run]:
    runs: list[Run] = []
    for seg in alignment.segments:
        ta, tb = alignment.a[seg.a0 : seg.a1], alignment.b[seg.b0 : seg.b1]
        if seg.kind == "same":
            runs.append(Run("same", [t.text for t in ta], [t.text for t in tb]))
            continue
        run_a: list[DiffWord | str] = []
        run_b: list[DiffWord | str] = []
        for side, toks, offset, boxes, other_red, other_tokens, view, out in (
            ("a", ta, seg.a0, boxes_a, red_b, tb, side_a, run_a),
            ("b", tb, seg.b0, boxes_b, red_a, ta, side_b, run_b),
        ):
            labelled = any(t.label for t in other_tokens)
            for i, token in enumerate(toks):
                if token.label:
                    out.append(token.text)
                    continue
                box = boxes.get(offset + i)
                if seg.kind == "ocr":
                    reason = "ocr"
                elif seg.kind == "differs":
                    reason = "different"
                elif box is not None and same_layout and _covered(box, other_red):
                    reason = "redaction_box"
                elif labelled:
                    reason = "redaction_label"
                else:
                    reason = "missing"
                word = DiffWord(token.text, side, reason, box)
                out.append(word)
                view.marks.append(word)
        runs.append(Run(seg.kind, run_a, run_b))
    return runs


# --- withheld pages and Bates gaps ---------------------------------------------------------


@dataclass(frozen=True)
class SlipSheetView:
    document: Document
    page_number: int
    bates: str | None
    exemptions: list[str]
    pages: int

    @property
    def labels(self) -> list[str]:
        return [exemption_label(c) for c in self.exemptions]


@dataclass(frozen=True)
class GapView:
    """Bates numbers the pages looked at skip, and which of them no release holds."""

    gap: BatesGap
    never: list[BatesGap]  # the parts of the gap that no release of the request carries

    @property
    def elsewhere(self) -> int:
        """Numbers of the gap that another production of the request released."""
        return self.gap.pages - sum(g.pages for g in self.never)


@dataclass(frozen=True)
class Withheld:
    slip_sheets: list[SlipSheetView]
    withheld_pages: int  # pages the slip-sheets stand for
    by_exemption: dict[str, int]
    gaps: list[GapView]
    missing_pages: int  # pages in the gaps that no release of the request holds

    @property
    def empty(self) -> bool:
        return not self.slip_sheets and not self.gaps


def _stamps_of(session: Session, production_ids: list[int]) -> list[Stamp]:
    rows = session.execute(
        select(Page.document_id, Page.bates_number)
        .join(pd, pd.c.document_id == Page.document_id)
        .join(Document, Document.id == Page.document_id)
        .where(pd.c.production_id.in_(production_ids), public_documents())
        .order_by(Page.document_id, Page.number)
    ).all()
    by_document: dict[int, list[str | None]] = defaultdict(list)
    for document_id, bates in rows:
        by_document[document_id].append(bates)
    return trusted_stamps(by_document.values())


def _slip_sheets(session: Session, production_ids: list[int]) -> list[SlipSheetView]:
    # A document in two of the productions is one set of slip-sheets: a sub-select rather
    # than DISTINCT, which PostgreSQL cannot apply to the JSON columns.
    in_productions = select(pd.c.document_id).where(pd.c.production_id.in_(production_ids))
    rows = session.execute(
        select(Document, Page.number, Page.bates_number, PageFingerprint)
        .join(Page, Page.id == PageFingerprint.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(
            Document.id.in_(in_productions),
            PageFingerprint.status == FingerprintStatus.WITHHELD,
            public_documents(),
        )
        .order_by(Page.bates_number, Document.id, Page.number)
    ).all()
    return [
        SlipSheetView(d, n, bates, list(fp.exemptions or []), fp.withheld_pages or 1)
        for d, n, bates, fp in rows
    ]


def _published_of_request(session: Session, request_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Production.id).where(
                Production.request_id == request_id,
                Production.status == ProductionStatus.PUBLISHED,
            )
        )
    )


def _never(gap: BatesGap, elsewhere: set[int]) -> list[BatesGap]:
    """The runs of ``gap`` that are not in ``elsewhere``."""
    runs: list[BatesGap] = []
    start: int | None = None
    for number in range(gap.first, gap.last + 2):
        missing = number <= gap.last and number not in elsewhere
        if missing and start is None:
            start = number
        elif not missing and start is not None:
            runs.append(BatesGap(gap.series, gap.head, start, number - 1, gap.width))
            start = None
    return runs


def _withheld(session: Session, own: list[int], others: list[int]) -> Withheld:
    slips = _slip_sheets(session, own)
    by_exemption: dict[str, int] = defaultdict(int)
    for slip in slips:
        for code in slip.exemptions or ["none"]:
            by_exemption[code] += slip.pages
    elsewhere: dict[str, set[int]] = defaultdict(set)
    for stamp in _stamps_of(session, others) if others else []:
        elsewhere[stamp.series].add(stamp.number)
    found: list[GapView] = []
    for series in series_of(_stamps_of(session, own)):
        for gap in gaps(series):
            held = elsewhere.get(series.series, set())
            never = _never(gap, held) if held else [gap]
            found.append(GapView(gap, never))
    missing = sum(g.pages for view in found for g in view.never)
    return Withheld(slips, sum(s.pages for s in slips), dict(by_exemption), found, missing)


def production_withheld(session: Session, production: Production) -> Withheld:
    """Slip-sheets and Bates gaps of one published production (gaps split by whether
    another production of its request released those numbers)."""
    others = (
        [p for p in _published_of_request(session, production.request_id) if p != production.id]
        if production.request_id is not None
        else []
    )
    return _withheld(session, [production.id], others)


def request_withheld(session: Session, request: FoiaRequest) -> Withheld:
    """Slip-sheets of every published production of the request, and the Bates numbers
    that none of them carries."""
    return _withheld(session, _published_of_request(session, request.id), [])
