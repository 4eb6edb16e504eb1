"""Findings for moderators: list them, keep or redact them, draw boxes, scan what is public.

The rule the public side lives by (app.services.documents, app.services.pages): a finding
that is pending or redacted is masked in the page text (ingest.screening wrote the row that
way), painted black on the page image, left out of highlights, and the document's file is
not handed out until every finding of it is decided; a redacted one is burned into a new
public PDF (ingest.burn), which is then what the public downloads and what page images are
drawn from. The agency's original stays in the store under its sha256, private: moderators
(and the uploader) download it at ``/uploads/documents/{id}/original``.

A production cannot be published while a finding of high confidence in it is pending
(:func:`check_publishable`); ``readingroom ingest`` publishes without asking, and the masks
keep the findings' text from the public until a moderator decides.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import PIL.Image
import PIL.ImageDraw
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.config import Settings
from app.db import session_scope
from app.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from app.findings import Finding, FindingKind, FindingStatus, RedactedVersion, ShieldedPage
from app.meili import MeiliClient
from app.models import Document, Page, Production, TextSource, production_documents
from app.services.audit import record
from app.services.uploads import ConflictError
from ingest.blobstore import ensure_local_original, file_sha256, get_blobstore
from ingest.burn import BurnError, burn_in, page_texts, verify_burned
from ingest.index import index_documents
from ingest.personal import HIGH_CONFIDENCE
from ingest.rescan import RescanReport, rescan
from ingest.screening import MASK, fingerprint, mask_texts, public_texts
from ingest.source import readable_pdf_path
from ingest.storage import derived_dir

Decision = Literal["keep", "redact"]
MAX_LISTED = 500
MAX_DECIDED_AT_ONCE = 1000
CROP_MARGIN = 0.04  # of the page, around a finding's boxes in its crop
CROP_WIDTH = 1000  # pixels of the page the crop is cut from


class FindingsWaitError(ConflictError):
    code = "findings_wait"


class HeldForReviewError(NotFoundError):
    code = "held_for_review"


# --- views -----------------------------------------------------------------------------------


class FindingView(BaseModel):
    """One finding as moderators see it (never on a public page)."""

    id: int
    document_id: int
    document_title: str
    page_number: int
    kind: str
    label: str
    confidence: float
    high: Annotated[bool, Field(description="High confidence: blocks publication until decided.")]
    status: str
    source: str
    secret: Annotated[str, Field(description="The hidden characters or the identifier.")]
    boxes: list[list[float]]
    public: Annotated[bool, Field(description="The document is public already.")]
    decided_by: str | None
    decided_at: dt.datetime | None
    crop_url: str
    page_url: str


class FindingsList(BaseModel):
    findings: list[FindingView]
    total: int
    kinds: dict[str, int]
    statuses: dict[str, int]
    blocking: Annotated[int, Field(description="Pending findings of high confidence.")]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _view(finding: Finding, document: Document) -> FindingView:
    return FindingView(
        id=finding.id,
        document_id=document.id,
        document_title=document.title,
        page_number=finding.page_number,
        kind=finding.kind.value,
        label=finding.kind.label,
        confidence=finding.confidence,
        high=finding.confidence >= HIGH_CONFIDENCE,
        status=finding.status.value,
        source=finding.source,
        secret=finding.secret,
        boxes=[list(b) for b in finding.boxes or []],
        public=document.is_public,
        decided_by=finding.decided_by.email if finding.decided_by else None,
        decided_at=_aware(finding.decided_at),
        crop_url=f"/moderation/findings/{finding.id}/crop.png",
        page_url=redact_page_path(document.id, finding.page_number),
    )


def redact_page_path(document_id: int, number: int) -> str:
    """The moderators' page where boxes are drawn on a page image."""
    return f"/moderation/documents/{document_id}/pages/{number}/redact"


def _require_moderator(user: User) -> None:
    if not user.is_moderator:
        raise PermissionDeniedError("only a moderator may review findings")


def _scope(production_id: int | None, document_id: int | None, public_only: bool) -> Any:
    query = select(Finding, Document).join(Document, Document.id == Finding.document_id)
    if production_id is not None:
        query = query.join(
            production_documents, production_documents.c.document_id == Document.id
        ).where(production_documents.c.production_id == production_id)
    if document_id is not None:
        query = query.where(Finding.document_id == document_id)
    if public_only:
        query = query.where(Document.published.is_(True), Document.taken_down_at.is_(None))
    return query


def list_findings(
    session: Session,
    user: User,
    *,
    production_id: int | None = None,
    document_id: int | None = None,
    kind: FindingKind | None = None,
    status: FindingStatus | None = FindingStatus.PENDING,
    public_only: bool = False,
) -> FindingsList:
    """Findings of a production, a document or the whole archive, most urgent first."""
    _require_moderator(user)
    scope = _scope(production_id, document_id, public_only)
    counted = scope.subquery()
    kinds = _count(session, counted, "kind", status)
    statuses = _count(session, counted, "status", None)
    query = scope
    if kind is not None:
        query = query.where(Finding.kind == kind)
    if status is not None:
        query = query.where(Finding.status == status)
    rows = session.execute(
        query.order_by(
            (Finding.confidence >= HIGH_CONFIDENCE).desc(),
            Finding.document_id,
            Finding.page_number,
            Finding.id,
        ).limit(MAX_LISTED)
    ).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return FindingsList(
        findings=[_view(f, d) for f, d in rows],
        total=total,
        kinds=kinds,
        statuses=statuses,
        blocking=_blocking(session, production_id, document_id),
    )


def _count(
    session: Session, counted: Any, column: str, status: FindingStatus | None
) -> dict[str, int]:
    query = select(counted.c[column], func.count()).group_by(counted.c[column])
    if status is not None:
        query = query.where(counted.c.status == status)
    return {getattr(value, "value", str(value)): n for value, n in session.execute(query).all()}


def _blocking(session: Session, production_id: int | None, document_id: int | None) -> int:
    query = _scope(production_id, document_id, False).where(
        Finding.status == FindingStatus.PENDING, Finding.confidence >= HIGH_CONFIDENCE
    )
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def blocking_count(session: Session, production_id: int) -> int:
    """Pending findings of high confidence in the production's documents."""
    return _blocking(session, production_id, None)


def waiting_count(session: Session, document_ids: Iterable[int]) -> tuple[int, int]:
    """Pending findings of these documents: (all of them, those of high confidence)."""
    ids = list(document_ids)
    if not ids:
        return 0, 0
    pending = select(Finding).where(
        Finding.document_id.in_(ids), Finding.status == FindingStatus.PENDING
    )
    total = session.scalar(select(func.count()).select_from(pending.subquery())) or 0
    high = pending.where(Finding.confidence >= HIGH_CONFIDENCE)
    return total, session.scalar(select(func.count()).select_from(high.subquery())) or 0


def public_waiting_count(session: Session) -> int:
    """Pending findings on public documents: the moderation view's alert."""
    query = _scope(None, None, True).where(Finding.status == FindingStatus.PENDING)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def check_publishable(session: Session, production: Production) -> None:
    """Refuse to publish while a finding of high confidence in it waits for a moderator."""
    waiting = blocking_count(session, production.id)
    if waiting:
        raise FindingsWaitError(
            f"production {production.id} cannot be published yet: {waiting} finding"
            f"{'s' if waiting != 1 else ''} of personal data or hidden text "
            f"{'wait' if waiting != 1 else 'waits'} for a moderator (keep or redact each one "
            f"at /moderation/productions/{production.id}/findings)"
        )


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionResult:
    decided: int
    documents: list[int]
    redacted_versions: list[int]


def _derived(settings: Settings, session: Session, document: Document) -> Path:
    return derived_dir(
        settings.files_dir, _public_sha(session, document), document.pipeline_version
    )


def drop_cached_images(
    settings: Settings, session: Session, document: Document, numbers: Iterable[int]
) -> None:
    """Forget the drawn images of these pages, so that they are drawn again with the masks
    as they are now (this machine's cache; others redraw after their own decisions)."""
    folder = _derived(settings, session, document) / "images"
    for number in numbers:
        for cached in folder.glob(f"{number}-*.webp"):
            cached.unlink(missing_ok=True)


def refresh_pages(session: Session, document: Document, numbers: Iterable[int]) -> None:
    """Write the public text of these pages again from their text as read and the findings
    that are masked now (uncommitted)."""
    for number in sorted(set(numbers)):
        shielded = session.get(ShieldedPage, (document.id, number))
        page = session.scalars(
            select(Page).where(Page.document_id == document.id, Page.number == number)
        ).first()
        if shielded is None or page is None:
            continue
        findings = session.scalars(
            select(Finding).where(Finding.document_id == document.id, Finding.page_number == number)
        ).all()
        texts = public_texts(shielded, findings)
        page.text = texts["text"] or ""
        page.layer_text = texts["layer_text"]
        page.ocr_text = texts["ocr_text"]


def decide_findings(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    finding_ids: Sequence[int],
    decision: Decision,
) -> DecisionResult:
    """Keep (publish the text) or redact (burn it out of the public copy) each finding.

    Every decision goes to the audit log with the change; the pages are written again, the
    redacted ones burned into a new public PDF, and the documents re-indexed.
    """
    _require_moderator(user)
    if not finding_ids:
        raise InvalidInputError("choose at least one finding")
    if len(finding_ids) > MAX_DECIDED_AT_ONCE:
        raise InvalidInputError(f"decide at most {MAX_DECIDED_AT_ONCE} findings at once")
    findings = session.scalars(select(Finding).where(Finding.id.in_(list(finding_ids)))).all()
    if len(findings) != len(set(finding_ids)):
        missing = sorted(set(finding_ids) - {f.id for f in findings})
        raise NotFoundError(f"there is no finding {missing[0]}")
    status = FindingStatus.KEPT if decision == "keep" else FindingStatus.REDACTED
    now = dt.datetime.now(dt.UTC)
    pages: dict[int, set[int]] = {}
    for finding in findings:
        if finding.status is status:
            continue
        previous = finding.status.value
        finding.status = status
        finding.decided_at = now
        finding.decided_by_id = user.id
        pages.setdefault(finding.document_id, set()).add(finding.page_number)
        record(
            session,
            user,
            f"finding.{decision}",
            "finding",
            finding.id,
            document=finding.document_id,
            page=finding.page_number,
            kind=finding.kind.value,
            previous=previous,
        )
    versions = []
    for document_id, numbers in pages.items():
        document = session.get(Document, document_id)
        if document is None:
            continue
        refresh_pages(session, document, numbers)
        session.flush()
        if decision == "redact":
            version = apply_redactions(session, settings, user, document)
            if version is not None:
                versions.append(version.id)
        drop_cached_images(settings, session, document, numbers)
    session.commit()
    if pages:
        index_documents(client, settings, session, list(pages))
    return DecisionResult(sum(len(n) for n in pages.values()), sorted(pages), versions)


def _words_of(
    settings: Settings, document: Document, page: Page
) -> list[tuple[str, float, float, float, float]]:
    # The words as the agency's original holds them (not the masked ones of the page row).
    from app.services.pages import load_words_from

    return [
        (w.text, w.x0, w.y0, w.x1, w.y1)
        for w in load_words_from(
            settings, document, page, readable_pdf_path(settings, document.sha256)
        )
    ]


def apply_redactions(
    session: Session, settings: Settings, user: User | None, document: Document
) -> RedactedVersion | None:
    """Burn every redacted finding of the document into a new public PDF (uncommitted).

    Made from the agency's original each time (so boxes only ever add up), checked by
    reading it back, stored under its own sha256 beside the original; the burned pages'
    text is read again from it and becomes their public text, their words and images are
    drawn from it from now on.
    """
    redacted = session.scalars(
        select(Finding).where(
            Finding.document_id == document.id, Finding.status == FindingStatus.REDACTED
        )
    ).all()
    if not redacted:
        return None
    boxes: dict[int, list[list[float]]] = {}
    for finding in redacted:
        boxes.setdefault(finding.page_number, []).extend(finding.boxes or [])
    pages = {
        p.number: p
        for p in session.scalars(
            select(Page).where(Page.document_id == document.id, Page.number.in_(list(boxes)))
        )
    }
    words = {n: _words_of(settings, document, p) for n, p in pages.items()}
    source = readable_pdf_path(settings, document.sha256)
    with tempfile.TemporaryDirectory(dir=settings.files_dir) as scratch:
        target = Path(scratch) / "redacted.pdf"
        try:
            burn_in(source, target, boxes, words)
            verify_burned(target, [f.secret for f in redacted])
        except BurnError as exc:
            raise InvalidInputError(
                f"the redacted copy of document {document.id} failed: {exc}"
            ) from exc
        sha256 = file_sha256(target)
        get_blobstore(settings).put(sha256, target)
        size = target.stat().st_size
        texts = page_texts(target, sorted(boxes))
    version = RedactedVersion(
        document_id=document.id,
        sha256=sha256,
        bytes=size,
        pages=sorted(boxes),
        created_by_id=user.id if user else None,
    )
    session.add(version)
    for number, text in texts.items():
        _reread(session, document, number, text)
    record(
        session,
        user,
        "document.redact",
        "document",
        document.id,
        sha256=sha256,
        pages=sorted(boxes),
        findings=[f.id for f in redacted],
    )
    session.flush()
    return version


def _reread(session: Session, document: Document, number: int, text: str) -> None:
    """A burned page's text read back from the redacted copy: its text as read from now on,
    with the findings still pending on it masked."""
    shielded = session.get(ShieldedPage, (document.id, number))
    if shielded is None:
        shielded = ShieldedPage(document_id=document.id, number=number)
        session.add(shielded)
    shielded.text, shielded.layer_text, shielded.ocr_text = text, text, None
    page = session.scalars(
        select(Page).where(Page.document_id == document.id, Page.number == number)
    ).first()
    if page is None:
        return
    on_page = session.scalars(
        select(Finding).where(Finding.document_id == document.id, Finding.page_number == number)
    ).all()
    for finding in on_page:
        finding.spans = {}  # they pointed into the text as read before; found by value now
    pending = [f for f in on_page if f.status is FindingStatus.PENDING]
    masked, spans = mask_texts(
        {"text": text, "layer_text": text, "ocr_text": None}, [(None, f.secret) for f in pending]
    )
    for finding, finding_spans in zip(pending, spans, strict=True):
        finding.spans = finding_spans
    page.text = masked["text"] or ""
    page.layer_text = masked["layer_text"]
    page.ocr_text = None
    page.text_source = TextSource.LAYER if text.strip() else TextSource.NONE
    page.words_path = None  # its words come from the redacted copy's text layer now


def add_drawn_redaction(
    session: Session,
    client: MeiliClient,
    settings: Settings,
    user: User,
    document_id: int,
    number: int,
    box: Sequence[float],
) -> Finding:
    """Redact a box a moderator drew on a page (fractions of the upright page)."""
    _require_moderator(user)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise InvalidInputError("a box is x0 < x1 and y0 < y1, each between 0 and 1")
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    page = session.scalars(
        select(Page).where(Page.document_id == document.id, Page.number == number)
    ).first()
    if page is None:
        raise NotFoundError(f"document {document_id} has no page {number}")
    under = [
        w[0]
        for w in _words_of(settings, document, page)
        if max(0.0, min(w[3], x1) - max(w[1], x0)) * max(0.0, min(w[4], y1) - max(w[2], y0))
        >= 0.3 * max(1e-9, (w[3] - w[1]) * (w[4] - w[2]))
    ]
    secret = " ".join(under)
    now = dt.datetime.now(dt.UTC)
    finding = Finding(
        document_id=document.id,
        page_number=number,
        kind=FindingKind.MANUAL,
        confidence=1.0,
        boxes=[[round(v, 5) for v in (x0, y0, x1, y1)]],
        secret=secret,
        source="manual",
        fingerprint=fingerprint(number, "manual", f"{secret}|{x0:.4f},{y0:.4f},{x1:.4f},{y1:.4f}"),
        status=FindingStatus.REDACTED,
        spans={},
        decided_at=now,
        decided_by_id=user.id,
    )
    session.add(finding)
    session.flush()
    record(session, user, "finding.draw", "finding", finding.id, document=document.id, page=number)
    # Pending findings the box covers are decided by it: they are redacted too.
    for other in session.scalars(
        select(Finding).where(
            Finding.document_id == document.id,
            Finding.page_number == number,
            Finding.status == FindingStatus.PENDING,
        )
    ):
        if other.boxes and all(_inside(b, (x0, y0, x1, y1)) for b in other.boxes):
            other.status, other.decided_at, other.decided_by_id = (
                FindingStatus.REDACTED,
                now,
                user.id,
            )
            record(
                session,
                user,
                "finding.redact",
                "finding",
                other.id,
                document=document.id,
                page=number,
                kind=other.kind.value,
                previous="pending",
                by_box=finding.id,
            )
    if secret:
        refresh_pages(session, document, [number])
    apply_redactions(session, settings, user, document)
    drop_cached_images(settings, session, document, [number])
    session.commit()
    index_documents(client, settings, session, [document.id])
    return finding


def _inside(box: Sequence[float], outer: Sequence[float], share: float = 0.5) -> bool:
    """At least ``share`` of ``box`` lies inside ``outer``."""
    x0, y0, x1, y1 = box
    area = max(1e-9, (x1 - x0) * (y1 - y0))
    inside = max(0.0, min(x1, outer[2]) - max(x0, outer[0])) * max(
        0.0, min(y1, outer[3]) - max(y0, outer[1])
    )
    return inside >= share * area


# --- what the public side asks -----------------------------------------------------------------


def _latest_version(session: Session, document_id: int) -> RedactedVersion | None:
    return session.scalars(
        select(RedactedVersion)
        .where(RedactedVersion.document_id == document_id)
        .order_by(RedactedVersion.id.desc())
        .limit(1)
    ).first()


def _public_sha(session: Session, document: Document) -> str:
    version = _latest_version(session, document.id)
    return version.sha256 if version else document.sha256


def public_sha256(settings: Settings, document: Document) -> str:
    """The sha256 of the file the public sees: the latest redacted copy, or the original."""
    with session_scope(settings) as session:
        return _public_sha(session, document)


def public_pdf(settings: Settings, document: Document) -> Path | None:
    """The local path of the document's latest redacted copy, if it has one."""
    with session_scope(settings) as session:
        version = _latest_version(session, document.id)
    if version is None:
        return None
    return ensure_local_original(settings, version.sha256)


def public_original(settings: Settings, document: Document) -> tuple[Path, str] | None:
    """What the public downloads instead of the agency's original, as (path, file name):
    the redacted copy, or None for the original itself. Refuses (``HeldForReviewError``)
    while a finding of the document waits for a moderator."""
    with session_scope(settings) as session:
        pending = session.scalar(
            select(func.count())
            .select_from(Finding)
            .where(Finding.document_id == document.id, Finding.status == FindingStatus.PENDING)
        )
        version = _latest_version(session, document.id)
        last_redacted = session.scalar(
            select(func.max(Finding.decided_at)).where(
                Finding.document_id == document.id, Finding.status == FindingStatus.REDACTED
            )
        )
    if pending:
        raise HeldForReviewError(
            f"the file of document {document.id} is held for review: a moderator has not yet "
            "checked what may be personal data or hidden text in it; its pages can be read here"
        )
    if last_redacted is not None and (
        version is None
        or (_aware(version.created_at) or now_utc()) < (_aware(last_redacted) or now_utc())
    ):
        raise HeldForReviewError(
            f"the file of document {document.id} is held until its redacted copy is made"
        )
    if version is None:
        return None
    name = Path(document.original_filename.rsplit("/", 1)[-1])
    return ensure_local_original(settings, version.sha256), f"{name.stem}-redacted.pdf"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _masked_boxes(settings: Settings, document: Document, number: int) -> list[list[float]]:
    with session_scope(settings) as session:
        rows = session.scalars(
            select(Finding.boxes).where(
                Finding.document_id == document.id,
                Finding.page_number == number,
                Finding.status != FindingStatus.KEPT,
            )
        ).all()
    return [list(box) for boxes in rows for box in boxes or []]


def paint_masked(
    settings: Settings, document: Document, number: int, image: PIL.Image.Image
) -> PIL.Image.Image:
    """The page image with every finding not kept painted black (the image as displayed)."""
    boxes = _masked_boxes(settings, document, number)
    if not boxes:
        return image
    painted = image.copy()
    draw = PIL.ImageDraw.Draw(painted)
    width, height = painted.size
    for x0, y0, x1, y1 in boxes:
        draw.rectangle(
            (x0 * width - 2, y0 * height - 2, x1 * width + 2, y1 * height + 2), fill="black"
        )
    return painted


def visible_words(
    settings: Settings, document: Document, number: int, words: Sequence[Any]
) -> list[Any]:
    """Word boxes (with ``x0, y0, x1, y1`` and ``text``) that no finding not kept covers."""
    boxes = _masked_boxes(settings, document, number)
    if not boxes:
        return list(words)

    def hidden(word: Any) -> bool:
        if MASK in word.text:
            return True
        for x0, y0, x1, y1 in boxes:
            if min(word.x1, x1) > max(word.x0, x0) and min(word.y1, y1) > max(word.y0, y0):
                return True
        return False

    return [w for w in words if not hidden(w)]


# --- crops for moderators ------------------------------------------------------------------


def finding_crop(settings: Settings, session: Session, user: User, finding_id: int) -> bytes:
    """A PNG of the part of the agency's original page around a finding, outlined in red."""
    _require_moderator(user)
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise NotFoundError(f"there is no finding {finding_id}")
    document = session.get(Document, finding.document_id)
    if document is None:
        raise NotFoundError(f"there is no document {finding.document_id}")
    image = original_page_image(settings, document, finding.page_number)
    width, height = image.size
    boxes = finding.boxes or [[0.0, 0.0, 1.0, 1.0]]
    draw = PIL.ImageDraw.Draw(image)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle(
            (x0 * width - 3, y0 * height - 3, x1 * width + 3, y1 * height + 3),
            outline="red",
            width=3,
        )
    left = max(0.0, min(b[0] for b in boxes) - CROP_MARGIN) * width
    top = max(0.0, min(b[1] for b in boxes) - CROP_MARGIN) * height
    right = min(1.0, max(b[2] for b in boxes) + CROP_MARGIN) * width
    bottom = min(1.0, max(b[3] for b in boxes) + CROP_MARGIN) * height
    crop = image.crop((int(left), int(top), int(right) + 1, int(bottom) + 1))
    return _png(crop)


def _png(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def original_page_image(settings: Settings, document: Document, number: int) -> PIL.Image.Image:
    """A page of the agency's original drawn about :data:`CROP_WIDTH` pixels wide."""
    from app.services.pages import draw_page

    return draw_page(readable_pdf_path(settings, document.sha256), document, number, CROP_WIDTH)


def original_page_png(
    settings: Settings, session: Session, user: User, document_id: int, number: int
) -> bytes:
    """The agency's original page, with the findings outlined (red: pending, black: redacted)."""
    _require_moderator(user)
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    image = original_page_image(settings, document, number)
    width, height = image.size
    draw = PIL.ImageDraw.Draw(image)
    for finding in session.scalars(
        select(Finding).where(Finding.document_id == document.id, Finding.page_number == number)
    ):
        colour = {"pending": "red", "redacted": "black", "kept": "green"}[finding.status.value]
        for x0, y0, x1, y1 in finding.boxes or []:
            draw.rectangle(
                (x0 * width, y0 * height, x1 * width, y1 * height), outline=colour, width=3
            )
    return _png(image)


# --- what is public already ------------------------------------------------------------------


def scan_documents(
    session: Session, client: MeiliClient | None, settings: Settings, document_ids: Sequence[int]
) -> RescanReport:
    """Scan these documents again, forget the images of changed pages, re-index them."""
    report = rescan(session, settings, document_ids)
    for document_id, numbers in report.changed.items():
        document = session.get(Document, document_id)
        if document is not None:
            drop_cached_images(settings, session, document, numbers)
    if client is not None and report.changed:
        index_documents(client, settings, session, list(report.changed))
    return report


def scan_archive(
    session: Session, client: MeiliClient, settings: Settings, user: User
) -> RescanReport:
    """Scan every public document (material published before the scan existed)."""
    _require_moderator(user)
    ids = list(
        session.scalars(
            select(Document.id)
            .where(Document.published.is_(True), Document.taken_down_at.is_(None))
            .order_by(Document.id)
        )
    )
    report = scan_documents(session, client, settings, ids)
    record(
        session,
        user,
        "findings.scan",
        "archive",
        None,
        documents=report.documents,
        changed=sorted(report.changed),
        findings=report.findings,
    )
    session.commit()
    return report
