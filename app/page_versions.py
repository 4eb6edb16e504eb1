"""The versions of each page across releases, as the ``versions`` job found them.

Page ─── PageFingerprint   (words, MinHash signature, status, group; one per page)
Page ─< PageBand           (32 LSH band keys per comparable page: the archive-wide look-up)
Page >─< Page: PageMatch   (two versions of one page, confirmed by alignment, with a score)
Document >─< Document: DocumentVersion (most pages match in order: versions of one record)

All of it is derived from the pages (``ingest.versions``) and keyed by the method's version:
``readingroom versions rebuild`` drops it and computes it again. ``VersionsLock`` is one row
that the group step locks, so that two workers never write the groups of one component at
once (the comparisons themselves run in parallel).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models import Base, _enum, _utcnow


class FingerprintStatus(StrEnum):
    COMPARED = "compared"  # fingerprinted, compared with the archive (once ``compared``)
    SHORT = "short"  # too little text to tell it from other pages: never grouped
    WITHHELD = "withheld"  # a slip-sheet standing for withheld pages: never grouped
    BOILERPLATE = "boilerplate"  # like very many pages (fax covers, forms): never grouped


class PageFingerprint(Base):
    __tablename__ = "page_fingerprints"

    page_id: Mapped[int] = mapped_column(
        ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    method_version: Mapped[int] = mapped_column(Integer)
    text_hash: Mapped[str] = mapped_column(String(32))  # of the page text it was made from
    words: Mapped[int] = mapped_column(Integer)  # distinct words
    status: Mapped[FingerprintStatus] = mapped_column(
        _enum(FingerprintStatus, "fingerprint_status")
    )
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    compared: Mapped[bool] = mapped_column(Boolean, default=False)
    # A slip-sheet's exemptions and how many pages it stands for.
    exemptions: Mapped[list[str]] = mapped_column(JSON, default=list)
    withheld_pages: Mapped[int] = mapped_column(Integer, default=0)
    # The page-version group: the smallest page id of its connected versions (None alone).
    group_id: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    __table_args__ = (
        Index("ix_page_fingerprints_document", "document_id"),
        Index("ix_page_fingerprints_group", "group_id"),
    )


class PageBand(Base):
    __tablename__ = "page_bands"

    page_id: Mapped[int] = mapped_column(
        ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger)
    document_id: Mapped[int] = mapped_column(Integer)  # to leave a page's own document out

    __table_args__ = (Index("ix_page_bands_key", "key"),)


class PageMatch(Base):
    """Two pages that are versions of one page; ``page_a_id < page_b_id``."""

    __tablename__ = "page_matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_a_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    page_b_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    document_a_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    document_b_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column(Float)
    only_a: Mapped[int] = mapped_column(Integer)  # words of A that B does not show
    only_b: Mapped[int] = mapped_column(Integer)
    ocr_words: Mapped[int] = mapped_column(Integer)  # words read differently
    method_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    __table_args__ = (
        UniqueConstraint("page_a_id", "page_b_id", name="uq_page_matches_pages"),
        Index("ix_page_matches_page_b", "page_b_id"),
        Index("ix_page_matches_documents", "document_a_id", "document_b_id"),
        Index("ix_page_matches_document_b", "document_b_id"),
    )


class DocumentRelation(StrEnum):
    SAME = "same"  # most pages of both match in order: versions of one record
    A_IN_B = "a_in_b"  # most of A's pages are in B, in order (B is longer)
    B_IN_A = "b_in_a"
    SHARES = "shares"  # some pages in common


class DocumentVersion(Base):
    """Two documents sharing versions of pages; ``document_a_id < document_b_id``."""

    __tablename__ = "document_versions"

    document_a_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    document_b_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    relation: Mapped[DocumentRelation] = mapped_column(_enum(DocumentRelation, "document_relation"))
    shared_pages: Mapped[int] = mapped_column(Integer)
    ordered_pages: Mapped[int] = mapped_column(Integer)  # of the shared ones, in order
    pages_a: Mapped[int] = mapped_column(Integer)  # comparable pages of each
    pages_b: Mapped[int] = mapped_column(Integer)
    method_version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_document_versions_document_b", "document_b_id"),)


class VersionsLock(Base):
    __tablename__ = "versions_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)


__all__ = [
    "DocumentRelation",
    "DocumentVersion",
    "FingerprintStatus",
    "PageBand",
    "PageFingerprint",
    "PageMatch",
    "VersionsLock",
]
