"""The archive's data model: the database is the source of truth.

Agency ─< FoiaRequest ─< Production >─< Document ─< Page
                                          └──< Job (document, page range)

A document is stored once per sha256 and can belong to several productions (the same record
released twice). States follow ARCHITECTURE.md: a document is ``processing`` until it is proven
done, and every state but ``indexed`` and ``duplicate`` carries a reason a volunteer can act on.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so that Alembic migrations and `alembic check` agree on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _enum(enum_cls: type[StrEnum], name: str) -> Enum:
    # Stored as plain strings: new states can be added without a database enum migration.
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class DocumentState(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    INDEXED = "indexed"
    PARTIAL = "partial"
    DUPLICATE = "duplicate"
    ENCRYPTED = "encrypted"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self not in {DocumentState.QUEUED, DocumentState.PROCESSING}


class PageState(StrEnum):
    PENDING = "pending"
    EXTRACTED = "extracted"
    OCR_FAILED = "ocr_failed"
    INDEXED = "indexed"
    PENDING_INDEX = "pending_index"


class TextSource(StrEnum):
    LAYER = "layer"
    OCR = "ocr"
    NONE = "none"


class ProductionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    abbreviation: Mapped[str] = mapped_column(String(40), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))

    parent: Mapped[Agency | None] = relationship(remote_side=[id])


class FoiaRequest(Base):
    __tablename__ = "foia_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(120), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    requester: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(Text)
    filed_date: Mapped[dt.date | None] = mapped_column(Date)
    court_case: Mapped[str | None] = mapped_column(String(120))

    agency: Mapped[Agency] = relationship()


production_documents = Table(
    "production_documents",
    Base.metadata,
    Column("production_id", ForeignKey("productions.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False, default=_utcnow),
)


class Production(Base):
    __tablename__ = "productions"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("foia_requests.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    release_date: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(2000))
    ocr_languages: Mapped[str] = mapped_column(String(60), default="eng")
    status: Mapped[ProductionStatus] = mapped_column(
        _enum(ProductionStatus, "production_status"), default=ProductionStatus.DRAFT
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    agency: Mapped[Agency] = relationship()
    request: Mapped[FoiaRequest | None] = relationship()
    documents: Mapped[list[Document]] = relationship(
        secondary=production_documents, back_populates="productions"
    )

    __table_args__ = (UniqueConstraint("agency_id", "title", name="uq_productions_agency_title"),)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str] = mapped_column(String(120))
    original_filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[DocumentState] = mapped_column(
        _enum(DocumentState, "document_state"), default=DocumentState.QUEUED, index=True
    )
    state_reason: Mapped[str | None] = mapped_column(Text)
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    document_date: Mapped[dt.date | None] = mapped_column(Date)
    document_type: Mapped[str | None] = mapped_column(String(40))
    pdf_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    email_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bates_start: Mapped[str | None] = mapped_column(String(80), index=True)
    bates_end: Mapped[str | None] = mapped_column(String(80))
    pipeline_version: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_down_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    taken_down_reason: Mapped[str | None] = mapped_column(Text)
    processing_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )

    productions: Mapped[list[Production]] = relationship(
        secondary=production_documents, back_populates="documents"
    )
    pages: Mapped[list[Page]] = relationship(
        back_populates="document", order_by="Page.number", cascade="all, delete-orphan"
    )

    @property
    def is_public(self) -> bool:
        return self.published and self.taken_down_at is None


class Page(Base):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    layer_text: Mapped[str | None] = mapped_column(Text)
    ocr_text: Mapped[str | None] = mapped_column(Text)
    text_source: Mapped[TextSource] = mapped_column(
        _enum(TextSource, "text_source"), default=TextSource.NONE
    )
    ocr_confidence: Mapped[float | None] = mapped_column(Float)
    words_path: Mapped[str | None] = mapped_column(String(500))
    width: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    bates_number: Mapped[str | None] = mapped_column(String(80), index=True)
    exemptions: Mapped[list[str]] = mapped_column(default=list)
    redaction_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[PageState] = mapped_column(
        _enum(PageState, "page_state"), default=PageState.PENDING, index=True
    )
    state_reason: Mapped[str | None] = mapped_column(Text)
    pipeline_version: Mapped[int] = mapped_column(Integer, default=0)
    # How many times this page's content has been committed, and when it last was. A row is
    # written once when it is inserted; a forced re-OCR or the retry of a failed page adds
    # one, and a job taken up again after its worker died adds nothing to the pages it had
    # committed. It is also the row's version for conditional writes (ingest.process): a
    # worker writes a page only if nobody has written it since it looked, so two workers on
    # one page range never both write a page.
    write_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    written_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    document: Mapped[Document] = relationship(back_populates="pages")

    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_pages_document_number"),)


class JobKind(StrEnum):
    PLAN = "plan"  # open the file, count pages, split into page ranges (or do it all)
    PAGES = "pages"  # read one page range of a document
    VERSIONS = "versions"  # compare a finished document's pages with the archive (issue 11)


class Job(Base):
    """One unit of work: a page range of one document, run by the in-process pool or Celery.

    A job is claimed by setting ``running`` with a lease; a worker that dies leaves an expired
    lease behind, and the sweeper puts the job back in the queue. Jobs are taken fairly across
    productions (the production served least recently goes first), so one volunteer's huge
    upload does not starve a small one.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    production_id: Mapped[int | None] = mapped_column(
        ForeignKey("productions.id", ondelete="SET NULL")
    )
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"), default=JobKind.PLAN)
    first_page: Mapped[int] = mapped_column(Integer, default=1)
    last_page: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    worker: Mapped[str | None] = mapped_column(String(200))
    enqueued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    document: Mapped[Document] = relationship()

    __table_args__ = (
        Index("ix_jobs_state_enqueued", "state", "enqueued_at"),
        Index("ix_jobs_document_id", "document_id"),
        # Fair claims look up each production's latest start (ingest.jobs._next_candidate).
        Index("ix_jobs_production_started", "production_id", "started_at"),
    )


__all__ = [
    "Agency",
    "Base",
    "Document",
    "DocumentState",
    "FoiaRequest",
    "Job",
    "JobKind",
    "JobState",
    "Page",
    "PageState",
    "Production",
    "ProductionStatus",
    "TextSource",
    "func",
    "production_documents",
]
