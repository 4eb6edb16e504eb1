"""Productions made by volunteers: create one, register uploaded files, follow processing.

A production created here starts as a draft and stays private (its documents unpublished)
until a moderator, or its trusted owner, publishes it (``app.services.moderation``). Its
owner and the moderators see its page; nobody else does.

The files themselves arrive through ``app.upload_stream`` (already in the store by the time
they get here); this module records them with ``ingest.intake``, queues their processing and
says how far it got.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.auth.models import ProductionOwner, Upload, User
from app.config import Settings
from app.errors import InvalidInputError, NotFoundError, PermissionDeniedError, ReadingroomError
from app.findings import Finding, FindingStatus
from app.models import (
    Document,
    DocumentState,
    Job,
    JobState,
    Page,
    PageState,
    Production,
    ProductionStatus,
    TextSource,
    production_documents,
)
from app.services.audit import record
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
    resolve_concurrently,
)
from app.upload_stream import ReceivedFile
from app.urls import document_path, production_path
from ingest.intake import IntakeOutcome, intake_stored
from ingest.jobs import enqueue_document
from ingest.personal import HIGH_CONFIDENCE
from ingest.run import Taken, intake_path
from ingest.sniff import Kind, sniff

OcrLanguages = Literal["eng", "spa", "eng+spa"]
# A production page lists this many documents; its counts cover all of them.
MAX_LISTED_DOCUMENTS = 1000
MAX_ERRORS_PER_DOCUMENT = 5


class ConflictError(ReadingroomError):
    status_code = 409
    code = "conflict"


def upload_page_path(production_id: int) -> str:
    """The private page of a production being uploaded (its owner's and moderators')."""
    return f"/uploads/productions/{production_id}"


# --- Input ----------------------------------------------------------------------------------


class ProductionIn(BaseModel):
    """A new production: what the agency released, and how to read it."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    agency: Annotated[
        str, Field(min_length=1, max_length=300, description="Abbreviation or name, e.g. ICE.")
    ]
    title: Annotated[
        str, Field(min_length=1, max_length=300, description='e.g. "Interim Release 3".')
    ]
    request_number: Annotated[
        str | None, Field(max_length=120, description="FOIA request tracking number.")
    ] = None
    release_date: Annotated[
        dt.date | None, Field(description="When the agency released it (YYYY-MM-DD).")
    ] = None
    description: Annotated[str | None, Field(max_length=20_000)] = None
    source_url: Annotated[
        HttpUrl | None, Field(description="Where the agency or requester published it.")
    ] = None
    ocr_languages: Annotated[
        OcrLanguages, Field(description="Languages of the scanned pages, for OCR.")
    ] = "eng"

    @field_validator("request_number", "release_date", "description", "source_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # An HTML form sends "" for an empty optional field.
        return None if isinstance(value, str) and not value.strip() else value


# --- Views ----------------------------------------------------------------------------------


class DocumentProgress(BaseModel):
    """How far one document of a production got, and what went wrong."""

    id: int
    title: str
    filename: str
    state: str
    reason: Annotated[str | None, Field(description="Why it is not (yet) indexed.")]
    retryable: bool
    can_retry: Annotated[bool, Field(description="A retry may help and none is running.")]
    page_count: int
    pages_done: Annotated[int, Field(description="Pages read so far (text layer or OCR).")]
    ocr_pages: int
    failed_pages: int
    errors: list[str]
    document_date: dt.date | None
    document_type: str | None
    published: bool
    taken_down: bool
    taken_down_reason: str | None
    public_url: Annotated[str | None, Field(description="Set once the public can read it.")]
    uploaded_by: str | None
    uploaded_at: dt.datetime | None


class ProductionSummary(BaseModel):
    id: int
    title: str
    agency: str
    agency_name: str
    request_number: str | None
    release_date: dt.date | None
    status: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    owner: str | None
    document_count: int
    states: dict[str, int]
    url: str


class ProductionDetail(ProductionSummary):
    description: str | None
    source_url: str | None
    ocr_languages: str
    public_url: str | None
    can_upload: bool
    can_publish: bool
    can_moderate: bool
    documents: list[DocumentProgress]
    documents_listed: int
    findings_waiting: Annotated[
        int, Field(description="Findings of the safety scan no moderator has decided yet.")
    ] = 0
    findings_blocking: Annotated[
        int, Field(description="Of those, the ones of high confidence: they block publishing.")
    ] = 0


class UploadedFile(BaseModel):
    """One file taken in (a ZIP gives one per member) and the document it became."""

    filename: str
    document_id: int
    outcome: Annotated[str, Field(description='"new", or "duplicate" of an archived file.')]
    state: str
    sha256: Annotated[str, Field(description="Of the file as received (the ZIP for members).")]
    bytes: int
    checksum_verified: bool


class UploadResult(BaseModel):
    production_id: int
    url: str
    files: list[UploadedFile]


# --- Permissions ----------------------------------------------------------------------------


def owner_of(session: Session, production_id: int) -> User | None:
    """The account that created the production here, if any (not for command-line ingest)."""
    owner = session.get(ProductionOwner, production_id)
    return owner.user if owner else None


def may_publish(user: User, owner: User | None) -> bool:
    """Moderators publish anything; a trusted volunteer publishes their own productions."""
    return user.is_moderator or (user.trusted and owner is not None and owner.id == user.id)


def get_production_for(session: Session, user: User, production_id: int) -> Production:
    """A production its owner or a moderator may follow; 404 or 403 for anyone else."""
    production = session.get(Production, production_id)
    if production is None:
        raise NotFoundError(f"there is no production {production_id}")
    if user.is_moderator:
        return production
    owner = owner_of(session, production_id)
    if owner is None or owner.id != user.id:
        raise PermissionDeniedError("only its uploader and the moderators can see this production")
    return production


def check_may_upload(session: Session, user: User, production: Production) -> None:
    """Files go into drafts; into a published production only for those who may publish."""
    if production.status == ProductionStatus.DRAFT:
        return
    if not may_publish(user, owner_of(session, production.id)):
        raise PermissionDeniedError(
            "this production is already published: new files would be public without review; "
            "ask a moderator, or create a new production"
        )


# --- Creating and uploading -----------------------------------------------------------------


def create_production(session: Session, user: User, data: ProductionIn) -> Production:
    """Create a draft production owned by ``user`` and commit; 409 if the title is taken."""
    agency = resolve_concurrently(session, lambda s: get_or_create_agency(s, data.agency))
    taken = session.scalars(
        select(Production).where(Production.agency_id == agency.id, Production.title == data.title)
    ).first()
    if taken is not None:
        raise ConflictError(
            f"{agency.abbreviation} already has a production titled {data.title!r} "
            f"(production {taken.id}); choose another title or upload into that one"
        )
    number = data.request_number
    request = (
        resolve_concurrently(session, lambda s: get_or_create_request(s, number, agency))
        if number
        else None
    )
    try:
        with session.begin_nested():
            production = get_or_create_production(
                session,
                agency,
                data.title,
                request=request,
                release_date=data.release_date,
                ocr_languages=data.ocr_languages,
                published=False,
            )
    except IntegrityError as exc:
        # Someone created a production of that title between the look above and this insert.
        raise ConflictError(
            f"{agency.abbreviation} already has a production titled {data.title!r}; "
            "choose another title or upload into that one"
        ) from exc
    production.description = data.description
    production.source_url = str(data.source_url) if data.source_url else None
    session.add(ProductionOwner(production_id=production.id, user_id=user.id))
    record(
        session,
        user,
        "production.create",
        "production",
        production.id,
        title=production.title,
        agency=agency.abbreviation,
    )
    session.commit()
    return production


def register_files(
    session: Session,
    settings: Settings,
    user: User,
    production: Production,
    files: Sequence[ReceivedFile],
) -> tuple[UploadResult, list[int]]:
    """Record stored files in ``production`` and queue their processing; commits.

    Returns what each file became and the ids of the jobs to dispatch (after the commit).
    A ZIP is unpacked and each member becomes a document of its own.
    """
    if not files:
        raise InvalidInputError("choose at least one file to upload")
    check_may_upload(session, user, production)
    results: list[UploadedFile] = []
    job_ids: list[int] = []
    for received in files:
        stored = received.stored
        if sniff(stored.path) is Kind.ZIP:
            taken = intake_path(session, settings, stored.path, production, received.filename)
        else:
            intake = intake_stored(session, stored, production, received.filename)
            taken = [Taken(received.filename, intake.document.id, intake.outcome)]
        for item in taken:
            document = session.get(Document, item.document_id)
            if document is None:
                raise LookupError(f"document {item.document_id} vanished during upload")
            session.add(
                Upload(
                    production_id=production.id,
                    user_id=user.id,
                    document_id=document.id,
                    filename=item.name[:500],
                    sha256=stored.sha256,
                    bytes=stored.size,
                    outcome=item.outcome.value,
                )
            )
            if item.outcome is IntakeOutcome.NEW and not document.state.is_final:
                job_ids.append(enqueue_document(session, document, production_id=production.id).id)
            results.append(
                UploadedFile(
                    filename=item.name,
                    document_id=document.id,
                    outcome=item.outcome.value,
                    state=document.state.value,
                    sha256=stored.sha256,
                    bytes=stored.size,
                    checksum_verified=received.checksum_verified,
                )
            )
    record(
        session,
        user,
        "production.upload",
        "production",
        production.id,
        files=[r.filename for r in results][:200],
        documents=[r.document_id for r in results][:200],
    )
    session.commit()
    url = upload_page_path(production.id)
    return UploadResult(production_id=production.id, url=url, files=results), job_ids


def retry_document(session: Session, user: User, production: Production, document_id: int) -> int:
    """Queue a document of ``production`` again (finished pages are kept); return the job id."""
    document = _document_of(production, document_id)
    progress = _progress(session, [document], {})[0]
    if not progress.can_retry:
        raise InvalidInputError(
            f"document {document_id} is {document.state.value}: a retry would not help now"
        )
    job = enqueue_document(session, document, production_id=production.id)
    record(session, user, "document.retry", "document", document.id, production=production.id)
    session.commit()
    return job.id


def _document_of(production: Production, document_id: int) -> Document:
    for document in production.documents:
        if document.id == document_id:
            return document
    raise NotFoundError(f"production {production.id} has no document {document_id}")


# --- Reading progress -----------------------------------------------------------------------


def _count_states(session: Session, production_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(production_documents.c.production_id, Document.state, func.count())
        .join(Document, Document.id == production_documents.c.document_id)
        .where(production_documents.c.production_id.in_(list(production_ids)))
        .group_by(production_documents.c.production_id, Document.state)
    ).all()
    counts: dict[int, dict[str, int]] = {pid: {} for pid in production_ids}
    for production_id, state, count in rows:
        counts[production_id][state.value] = count
    return counts


def _summary(production: Production, owner: User | None, states: dict[str, int]) -> dict[str, Any]:
    return {
        "id": production.id,
        "title": production.title,
        "agency": production.agency.abbreviation,
        "agency_name": production.agency.name,
        "request_number": production.request.tracking_number if production.request else None,
        "release_date": production.release_date,
        "status": production.status.value,
        "created_at": _aware(production.created_at),
        "published_at": _aware(production.published_at) if production.published_at else None,
        "owner": owner.email if owner else None,
        "document_count": sum(states.values()),
        "states": states,
        "url": upload_page_path(production.id),
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def list_productions(
    session: Session, user: User, *, status: ProductionStatus | None = None, limit: int = 200
) -> list[ProductionSummary]:
    """Productions ``user`` can follow, newest first: their own; for moderators, every one."""
    query = (
        select(Production, ProductionOwner)
        .join(ProductionOwner, ProductionOwner.production_id == Production.id, isouter=True)
        .options(joinedload(Production.agency), joinedload(Production.request))
        .order_by(Production.created_at.desc(), Production.id.desc())
        .limit(limit)
    )
    if not user.is_moderator:
        query = query.where(ProductionOwner.user_id == user.id)
    if status is not None:
        query = query.where(Production.status == status)
    rows = session.execute(query.options(joinedload(ProductionOwner.user))).all()
    counts = _count_states(session, [p.id for p, _ in rows])
    return [
        ProductionSummary(**_summary(p, owner.user if owner else None, counts[p.id]))
        for p, owner in rows
    ]


def _page_stats(session: Session, ids: list[int]) -> dict[int, tuple[int, int, int]]:
    rows = session.execute(
        select(
            Page.document_id,
            func.sum(case((Page.state != PageState.PENDING, 1), else_=0)),
            func.sum(case((Page.text_source == TextSource.OCR, 1), else_=0)),
            func.sum(case((Page.state == PageState.OCR_FAILED, 1), else_=0)),
        )
        .where(Page.document_id.in_(ids))
        .group_by(Page.document_id)
    ).all()
    return {doc: (int(done or 0), int(ocr or 0), int(bad or 0)) for doc, done, ocr, bad in rows}


@dataclass
class _Trouble:
    errors: dict[int, list[str]] = field(default_factory=dict)
    open_jobs: dict[int, int] = field(default_factory=dict)
    failed_jobs: set[int] = field(default_factory=set)


def _trouble(session: Session, ids: list[int]) -> _Trouble:
    """Readable errors per document (failed pages, failed jobs) and its open jobs."""
    trouble = _Trouble()
    failed_pages = session.execute(
        select(Page.document_id, Page.number, Page.state_reason)
        .where(Page.document_id.in_(ids), Page.state == PageState.OCR_FAILED)
        .order_by(Page.document_id, Page.number)
        .limit(MAX_ERRORS_PER_DOCUMENT * len(ids))
    ).all()
    for document_id, number, reason in failed_pages:
        trouble.errors.setdefault(document_id, []).append(
            f"page {number}: {reason or 'OCR failed'}"
        )
    jobs = session.execute(
        select(Job.document_id, Job.state, Job.first_page, Job.last_page, Job.last_error).where(
            Job.document_id.in_(ids),
            Job.state.in_([JobState.QUEUED, JobState.RUNNING, JobState.FAILED]),
        )
    ).all()
    for document_id, state, first, last, error in jobs:
        if state is JobState.FAILED:
            where = f"pages {first}-{last}" if last else "processing"
            trouble.errors.setdefault(document_id, []).append(f"{where}: {error or 'failed'}")
            trouble.failed_jobs.add(document_id)
        else:
            trouble.open_jobs[document_id] = trouble.open_jobs.get(document_id, 0) + 1
    return trouble


def _can_retry(document: Document, trouble: _Trouble) -> bool:
    # The job queue says whether anything is still running; a document left queued or
    # processing with no open job was dropped (its worker died for good) and may go again.
    if trouble.open_jobs.get(document.id):
        return False
    stuck = document.state in (DocumentState.QUEUED, DocumentState.PROCESSING)
    return document.retryable or document.id in trouble.failed_jobs or stuck


def _progress(
    session: Session, documents: list[Document], uploads: dict[int, Upload]
) -> list[DocumentProgress]:
    ids = [d.id for d in documents]
    stats = _page_stats(session, ids)
    trouble = _trouble(session, ids)
    views = []
    for document in documents:
        done, ocr, failed = stats.get(document.id, (0, 0, 0))
        upload = uploads.get(document.id)
        public = document.is_public and document.page_count > 0
        views.append(
            DocumentProgress(
                id=document.id,
                title=document.title,
                filename=document.original_filename,
                state=document.state.value,
                reason=document.state_reason,
                retryable=document.retryable,
                can_retry=_can_retry(document, trouble),
                page_count=document.page_count,
                pages_done=done,
                ocr_pages=ocr,
                failed_pages=failed,
                errors=trouble.errors.get(document.id, [])[:MAX_ERRORS_PER_DOCUMENT],
                document_date=document.document_date,
                document_type=document.document_type,
                published=document.published,
                taken_down=document.taken_down_at is not None,
                taken_down_reason=document.taken_down_reason,
                public_url=document_path(document.id, document.slug) if public else None,
                uploaded_by=upload.user.email if upload else None,
                uploaded_at=_aware(upload.created_at) if upload else None,
            )
        )
    return views


def production_detail(session: Session, user: User, production: Production) -> ProductionDetail:
    """Everything the production page shows: metadata, what the viewer may do, each document."""
    owner = owner_of(session, production.id)
    documents = list(
        session.scalars(
            select(Document)
            .join(production_documents, production_documents.c.document_id == Document.id)
            .where(production_documents.c.production_id == production.id)
            .order_by(Document.id)
            .limit(MAX_LISTED_DOCUMENTS)
        )
    )
    uploads: dict[int, Upload] = {}
    for upload in session.scalars(
        select(Upload)
        .where(Upload.production_id == production.id)
        .options(selectinload(Upload.user))
        .order_by(Upload.id.desc())
    ):
        if upload.document_id is not None:
            uploads[upload.document_id] = upload  # the earliest upload wins
    states = _count_states(session, [production.id])[production.id]
    published = production.status == ProductionStatus.PUBLISHED
    can_publish = may_publish(user, owner)
    return ProductionDetail(
        **_summary(production, owner, states),
        description=production.description,
        source_url=production.source_url,
        ocr_languages=production.ocr_languages,
        public_url=production_path(production.id) if published else None,
        can_upload=not published or can_publish,
        can_publish=can_publish and not published,
        can_moderate=user.is_moderator,
        documents=_progress(session, documents, uploads),
        documents_listed=len(documents),
        **_findings_waiting(session, production.id),
    )


def _findings_waiting(session: Session, production_id: int) -> dict[str, int]:
    pending = (
        select(func.count(), func.sum(case((Finding.confidence >= HIGH_CONFIDENCE, 1), else_=0)))
        .select_from(Finding)
        .join(production_documents, production_documents.c.document_id == Finding.document_id)
        .where(
            production_documents.c.production_id == production_id,
            Finding.status == FindingStatus.PENDING,
        )
    )
    total, high = session.execute(pending).one()
    return {"findings_waiting": int(total or 0), "findings_blocking": int(high or 0)}
