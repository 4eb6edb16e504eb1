"""The audit log: who did what to which production, document or token, and when.

Entries are added to the session of the change they describe, so they are committed (or
rolled back) with it: the log never claims a change that did not happen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.auth.models import AuditLog, User

AUDIT_PAGE_SIZE = 100


def record(
    session: Session,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: int | None,
    **detail: Any,
) -> AuditLog:
    """Add an entry (``action`` like ``production.publish``) to the session; the caller commits."""
    entry = AuditLog(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str | None
    action: str
    target_type: str
    target_id: int | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_audit(
    session: Session,
    *,
    page: int = 1,
    target_type: str | None = None,
    target_id: int | None = None,
    per_page: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """Entries newest first, optionally about one target, ``per_page`` at a time."""
    query = select(AuditLog)
    if target_type is not None:
        query = query.where(AuditLog.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditLog.target_id == target_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(joinedload(AuditLog.actor))
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    entries = [
        AuditEntry(
            id=row.id,
            at=row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC),
            actor=row.actor.email if row.actor else None,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            detail=dict(row.detail or {}),
        )
        for row in rows
    ]
    return AuditPage(entries, page, total, per_page)
