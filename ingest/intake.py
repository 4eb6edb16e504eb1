"""Intake: store the original, then record it. Nothing a user sent is ever lost.

The original is written under its sha256 before any row names it, and a ``Document`` row (state
``queued``) exists before any processing starts. The same bytes again are not processed again:
the existing document is linked to the new production instead.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Document, DocumentState, Production
from app.slugs import slugify
from ingest.blobstore import get_blobstore
from ingest.storage import StoredFile, store_file

# Columns that hold a file's name and the title made from it (app.models: String(500)).
MAX_NAME_CHARS = 500

# Characters a name must not carry into pages, tables and terminals: C0/C1 controls (a
# newline or an ANSI escape in a CLI table, a NUL that PostgreSQL refuses in text) and the
# bidirectional overrides and isolates that make "invoice\u202efdp.exe" read as
# "invoiceexe.pdf".
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class IntakeOutcome(enum.StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class IntakeResult:
    document: Document
    stored: StoredFile
    outcome: IntakeOutcome


def safe_display_name(name: str) -> str:
    """A file name as it may be shown and stored: unsafe characters become "_", and a name
    longer than the column keeps its start and its end (where the extension is)."""
    cleaned = _UNSAFE_IN_NAME.sub("_", name)
    if len(cleaned) > MAX_NAME_CHARS:
        keep = (MAX_NAME_CHARS - 1) // 2
        cleaned = cleaned[:keep] + "\u2026" + cleaned[-(MAX_NAME_CHARS - 1 - keep) :]
    return cleaned or "upload"


def title_from_filename(name: str) -> str:
    """A readable default title: the file name without extension, separators as spaces."""
    stem = Path(name).stem if "." in name else name
    title = " ".join(stem.replace("_", " ").replace("-", " ").split()) or name
    return title[:MAX_NAME_CHARS]


def intake_file(
    session: Session,
    settings: Settings,
    path: Path,
    production: Production,
    *,
    original_name: str | None = None,
    media_type: str = "application/octet-stream",
) -> IntakeResult:
    """Store ``path`` by hash (locally and in the shared store) and record it in
    ``production``; flushes, the caller commits."""
    stored = store_file(
        path,
        settings.files_dir,
        max_bytes=settings.max_upload_bytes,
        blobstore=get_blobstore(settings),
    )
    return intake_stored(
        session, stored, production, original_name or path.name, media_type=media_type
    )


def intake_stored(
    session: Session,
    stored: StoredFile,
    production: Production,
    name: str,
    *,
    media_type: str = "application/octet-stream",
) -> IntakeResult:
    """Record an original already in the store (e.g. a streamed upload) in ``production``.

    ``stored`` must have been stored with ``blobstore=get_blobstore(settings)``, so that every
    machine can fetch the original this row will name.
    """
    # Names come from senders and archives: a label for people, cleaned before it is stored.
    name = safe_display_name(name)
    existing = session.scalars(select(Document).where(Document.sha256 == stored.sha256)).first()
    if existing is not None:
        if production not in existing.productions:
            existing.productions.append(production)
            if production.status == "published" and existing.state == DocumentState.INDEXED:
                existing.published = True
        session.flush()
        return IntakeResult(existing, stored, IntakeOutcome.DUPLICATE)
    title = title_from_filename(name)
    document = Document(
        title=title,
        slug=slugify(title),
        original_filename=name,
        sha256=stored.sha256,
        bytes=stored.size,
        media_type=media_type,
        state=DocumentState.QUEUED,
        published=production.status == "published",
    )
    document.productions.append(production)
    session.add(document)
    session.flush()
    return IntakeResult(document, stored, IntakeOutcome.NEW)
