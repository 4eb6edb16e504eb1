"""Accounts, API tokens, uploads and the audit log.

User ─< ApiToken
User ─< Upload >── Production, Document
User ─< ProductionOwner ── Production (who created a production through the site or the API)
User ─< AuditLog (who did what to which target, and when)

These tables live beside the archive's (same ``Base``, same migrations) but the archive's own
tables do not point at them: a production ingested from the command line has no owner, and
the public side never needs to know who uploaded what.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

# The archive's column helpers, so that roles are stored like every other state (a string).
from app.models import Base, Document, Production, _enum, _utcnow


class Role(StrEnum):
    """What a person may do; each role can do everything the roles before it can."""

    VOLUNTEER = "volunteer"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see app.auth.accounts.normalize_email): one account per address.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"), default=Role.VOLUNTEER)
    # A trusted volunteer may publish their own productions without a moderator.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", order_by="ApiToken.id", cascade="all, delete-orphan"
    )

    @property
    def is_moderator(self) -> bool:
        return self.role.at_least(Role.MODERATOR)


class ApiToken(Base):
    """A secret for scripts: shown once, stored as its sha256, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The token has 256 random bits, so a plain sha256 is enough (no slow hash needed): nobody
    # can guess a preimage, and the lookup by hash stays one indexed query.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ProductionOwner(Base):
    """The account that created a production; it may upload to it and follow its processing."""

    __tablename__ = "production_owners"

    production_id: Mapped[int] = mapped_column(
        ForeignKey("productions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    production: Mapped[Production] = relationship()
    user: Mapped[User] = relationship()


class Upload(Base):
    """One file taken in through the site or the API: who sent it, and what it became.

    A ZIP gives one row per member (``filename`` is ``archive.zip/member.pdf``), each with the
    sha256 and size of the ZIP as it was received.
    """

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    production_id: Mapped[int] = mapped_column(
        ForeignKey("productions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    # "new": a document was created; "duplicate": the same bytes were already in the archive.
    outcome: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    user: Mapped[User] = relationship()
    document: Mapped[Document | None] = relationship()


class AuditLog(Base):
    """Who did what to which target, and when; written in the same commit as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept when an account goes away, so that the history still says someone did it.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_target", "target_type", "target_id"),
    )


__all__ = ["ApiToken", "AuditLog", "ProductionOwner", "Role", "Upload", "User"]
