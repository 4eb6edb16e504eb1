"""Processing one document: open it, read every page, record markings and a final state.

A document is ``processing`` (with a start time) until it is proven done. Each page is written
once per (document, number); a retried run updates pages in place rather than adding rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pypdfium2 as pdfium
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Document, DocumentState, Page, PageState, TextSource
from ingest import PIPELINE_VERSION
from ingest.extract.text import iter_layer_text
from ingest.storage import original_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOptions:
    password: str | None = None
    force_ocr: bool = False


def _fail(document: Document, state: DocumentState, reason: str, *, retryable: bool) -> None:
    document.state = state
    document.state_reason = reason
    document.retryable = retryable


def process_document(
    session: Session, settings: Settings, document_id: int, options: ProcessOptions | None = None
) -> DocumentState:
    """Extract every page of one stored document and commit the result; return its state."""
    options = options or ProcessOptions()
    document = session.get(Document, document_id)
    if document is None:
        raise LookupError(f"no document {document_id}")
    document.state = DocumentState.PROCESSING
    document.processing_started_at = dt.datetime.now(dt.UTC)
    session.commit()

    path = original_path(settings.files_dir, document.sha256)
    try:
        pdf = pdfium.PdfDocument(path, password=options.password)
        page_count = len(pdf)
        pdf.close()
    except pdfium.PdfiumError as exc:
        _fail(
            document,
            DocumentState.FAILED,
            f"the file could not be read as a PDF ({exc})",
            retryable=False,
        )
        session.commit()
        return document.state
    existing = {
        page.number: page
        for page in session.scalars(select(Page).where(Page.document_id == document.id))
    }
    for layer in iter_layer_text(path, password=options.password):
        page = existing.get(layer.number) or Page(document_id=document.id, number=layer.number)
        page.layer_text = layer.text
        page.text = layer.text
        page.text_source = TextSource.LAYER if layer.text.strip() else TextSource.NONE
        page.width, page.height = layer.width, layer.height
        page.state = PageState.EXTRACTED
        page.pipeline_version = PIPELINE_VERSION
        session.add(page)
    document.page_count = page_count
    document.pipeline_version = PIPELINE_VERSION
    document.state = DocumentState.INDEXED
    document.state_reason = None
    document.retryable = False
    session.commit()
    return document.state
