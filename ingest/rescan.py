"""Scanning documents already in the archive for the safety scan's findings.

Material published before the scan existed (or read by an older scan) is read again from its
stored original: each page's text layer for hidden text and personal data, its OCR text for
personal data, exactly as :mod:`ingest.screening` does when the pipeline writes a page. What
is found is recorded, and its text masked out of the page rows; the caller re-indexes the
documents that changed and forgets their cached page images.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.findings import Finding, ShieldedPage
from app.models import Document, Page
from ingest.errors import IngestError
from ingest.extract.layout import scan_layout
from ingest.extract.text import clean_text
from ingest.pages import PageResult
from ingest.screening import screen_layer, shield_pages
from ingest.source import readable_pdf_path

log = logging.getLogger(__name__)


@dataclass
class RescanReport:
    documents: int = 0
    pages: int = 0
    findings: int = 0
    changed: dict[int, list[int]] = field(default_factory=dict)  # document id: page numbers
    unreadable: list[int] = field(default_factory=list)


def _read_layers(path: Path, numbers: list[int]) -> dict[int, tuple[str, list[object]]]:
    """Each page's cleaned text layer and what screen_layer finds in it."""
    found: dict[int, tuple[str, list[object]]] = {}
    pdf = pdfium.PdfDocument(path)
    try:
        for number in numbers:
            if not 1 <= number <= len(pdf):
                continue
            page = pdf[number - 1]
            try:
                textpage = page.get_textpage()
                try:
                    text = clean_text(textpage.get_text_bounded())
                    screen = screen_layer(page, textpage, scan_layout(page, textpage), text)
                finally:
                    textpage.close()
            finally:
                page.close()
            found[number] = (text, list(screen))
    finally:
        pdf.close()
    return found


def rescan_document(session: Session, settings: Settings, document: Document) -> list[int]:
    """Scan one document's pages again; write the masked pages (uncommitted). Returns the
    numbers of the pages whose public text or findings changed."""
    pages = list(
        session.scalars(select(Page).where(Page.document_id == document.id).order_by(Page.number))
    )
    if not pages:
        return []
    path = readable_pdf_path(settings, document.sha256)
    layers = _read_layers(path, [p.number for p in pages])
    shielded = {
        s.number: s
        for s in session.scalars(
            select(ShieldedPage).where(ShieldedPage.document_id == document.id)
        )
    }
    results: list[PageResult] = []
    for page in pages:
        kept = shielded.get(page.number)  # the text as read, if a scan masked this page before
        layer_text, screen = layers.get(page.number, (page.layer_text or "", []))
        result = PageResult(
            page.number,
            page.width or 0.0,
            page.height or 0.0,
            kept.layer_text if kept and kept.layer_text is not None else layer_text,
            ocr_text=kept.ocr_text if kept else page.ocr_text,
            bates_number=page.bates_number,
            screen=screen,  # type: ignore[arg-type]
        )
        result.ocr_words = _ocr_words(settings, page)
        results.append(result)
    before = _snapshot(session, document.id)
    overrides = shield_pages(
        session,
        document,
        results,
        texts={
            page.number: {
                "text": shielded[page.number].text if page.number in shielded else page.text,
                "layer_text": results[i].layer_text,
                "ocr_text": results[i].ocr_text,
            }
            for i, page in enumerate(pages)
        },
    )
    changed = []
    for page in pages:
        values = overrides.get(page.number)
        if values is None:
            continue
        if page.text != values["text"]:
            changed.append(page.number)
        page.text = values["text"] or ""
        page.layer_text = values["layer_text"]
        page.ocr_text = values["ocr_text"]
    session.flush()
    after = _snapshot(session, document.id)
    changed += [n for n in after - before if n not in changed]
    return sorted(set(changed))


def _snapshot(session: Session, document_id: int) -> set[int]:
    return {
        number
        for (number,) in session.execute(
            select(Finding.page_number).where(Finding.document_id == document_id)
        )
    }


def _ocr_words(
    settings: Settings, page: Page
) -> list[tuple[str, float, float, float, float]] | None:
    if not page.words_path:
        return None
    import json

    path = (settings.files_dir / page.words_path).resolve()
    if not path.is_relative_to(settings.files_dir.resolve()):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [tuple(w) for w in data.get("words", []) if isinstance(w, list) and len(w) == 5]


def rescan(session: Session, settings: Settings, document_ids: Iterable[int]) -> RescanReport:
    """Scan these documents again, committing each; what changed is in the report."""
    report = RescanReport()
    for document_id in document_ids:
        document = session.get(Document, document_id)
        if document is None:
            continue
        try:
            changed = rescan_document(session, settings, document)
        except (IngestError, OSError, pdfium.PdfiumError) as exc:
            session.rollback()
            log.warning("document %s could not be scanned again: %s", document_id, exc)
            report.unreadable.append(document_id)
            continue
        session.commit()
        report.documents += 1
        report.pages += document.page_count
        if changed:
            report.changed[document_id] = changed
    report.findings = sum(
        1
        for _ in session.scalars(
            select(Finding.id).where(Finding.document_id.in_(list(report.changed) or [-1]))
        )
    )
    return report
