"""What the safety scan found on pages, what moderators decided, and what was burned in.

Document ─< Finding          (failed redactions and personal data, one per page, kind, value)
Document ─< ShieldedPage     (the page text as read, before findings were masked out of it)
Document ─< RedactedVersion  (a public PDF with boxes burned in; the newest one is served)

Every table here is private: nothing in them is ever rendered on a public page, put in the
index or logged. A finding's ``secret`` (the hidden characters, the SSN...) is what the
public must not see until a moderator decides; the page row itself holds the text with every
undecided or redacted finding masked (:mod:`ingest.screening`), and ``ShieldedPage`` keeps
the text as read so that a finding a moderator keeps can be put back.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.models import Base, Document, _enum, _utcnow


class FindingKind(StrEnum):
    # Failed redactions (ingest.hidden_text)
    TEXT_UNDER_BOX = "text_under_box"
    TEXT_UNDER_IMAGE = "text_under_image"
    TEXT_UNDER_WHITE_BOX = "text_under_white_box"
    TEXT_UNDER_ANNOTATION = "text_under_annotation"
    # Personal data (ingest.personal)
    SSN = "ssn"
    A_NUMBER = "a_number"
    DATE_OF_BIRTH = "date_of_birth"
    PHONE = "phone"
    EMAIL = "email"
    STREET_ADDRESS = "street_address"
    PASSPORT = "passport"
    DRIVERS_LICENSE = "drivers_license"
    CREDIT_CARD = "credit_card"
    # A box a moderator drew on the page image
    MANUAL = "manual"

    @property
    def is_failed_redaction(self) -> bool:
        return self.value.startswith("text_under_")

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    FindingKind.TEXT_UNDER_BOX: "text under a box",
    FindingKind.TEXT_UNDER_IMAGE: "text under an image",
    FindingKind.TEXT_UNDER_WHITE_BOX: "text under a white box",
    FindingKind.TEXT_UNDER_ANNOTATION: "text under an annotation",
    FindingKind.SSN: "Social Security number",
    FindingKind.A_NUMBER: "A-number",
    FindingKind.DATE_OF_BIRTH: "date of birth",
    FindingKind.PHONE: "phone number",
    FindingKind.EMAIL: "e-mail address",
    FindingKind.STREET_ADDRESS: "street address",
    FindingKind.PASSPORT: "passport number",
    FindingKind.DRIVERS_LICENSE: "driver's licence number",
    FindingKind.CREDIT_CARD: "credit card number",
    FindingKind.MANUAL: "box drawn by a moderator",
}


class FindingStatus(StrEnum):
    PENDING = "pending"  # masked from the public until a moderator decides
    KEPT = "kept"  # a moderator says it may be public: the text is shown
    REDACTED = "redacted"  # burned into the public PDF, masked in the text for good

    @property
    def masked(self) -> bool:
        return self is not FindingStatus.KEPT


class Finding(Base):
    """One thing on one page that must not go public unseen: a kind, a value, its boxes."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[FindingKind] = mapped_column(_enum(FindingKind, "finding_kind"))
    confidence: Mapped[float] = mapped_column(Float)
    # Where on the page: [[x0, y0, x1, y1], ...] as fractions of the upright page, origin top
    # left (the frame of page images and word boxes).
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The hidden characters or the identifier itself: private, never shown to the public.
    secret: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))  # "layer", "ocr" or "manual"
    # Where it is masked in the page's texts as read (ShieldedPage): {"text": [[start, end],
    # ...], "layer_text": [...], "ocr_text": [...]}.
    spans: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Same page, kind and value give the same fingerprint: a page read again finds its
    # findings (and their decisions) again instead of new ones.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[FindingStatus] = mapped_column(
        _enum(FindingStatus, "finding_status"), default=FindingStatus.PENDING
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    document: Mapped[Document] = relationship()
    decided_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("document_id", "fingerprint", name="uq_findings_document_fingerprint"),
        Index("ix_findings_document_page", "document_id", "page_number"),
        Index("ix_findings_status", "status"),
    )


class ShieldedPage(Base):
    """A page's text as the pipeline read it, kept aside when findings were masked out of it."""

    __tablename__ = "shielded_pages"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    layer_text: Mapped[str | None] = mapped_column(Text)
    ocr_text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )


class RedactedVersion(Base):
    """A public PDF made from the agency's original with redaction boxes burned in.

    Stored in the content-addressed store under its own sha256 (the original stays under its
    own, private); the newest version of a document is what the public downloads and what its
    page images are drawn from.
    """

    __tablename__ = "redacted_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[list[Any]] = mapped_column(JSON, default=list)  # page numbers burned in
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


__all__ = [
    "Finding",
    "FindingKind",
    "FindingStatus",
    "RedactedVersion",
    "ShieldedPage",
]
