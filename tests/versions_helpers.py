"""Helpers of the versions tests: generated releases written to the archive, and the jobs run.

A generated production (``bench._releases``) is written as born-digital PDFs (one per
document, its pages' text as printed) with their page rows, the way the pipeline leaves them
(text, Bates number, exemptions): the comparison reads only those rows, and the compare view
draws the PDFs. Then the ``versions`` jobs run through the real job queue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.models import Document, DocumentState, Job, JobState, Page, PageState, TextSource
from app.services.catalog import (
    get_or_create_agency,
    get_or_create_production,
    get_or_create_request,
)
from app.slugs import slugify
from bench._releases import GenProduction
from ingest import PIPELINE_VERSION
from ingest.jobs import worker_name
from ingest.markings import find_exemptions
from ingest.storage import store_file
from ingest.tasks import WorkerContext, work_once
from ingest.versions.job import enqueue_versions
from tests.archive_helpers import add_document
from tests.pdfs import make_text_pdf


@dataclass(frozen=True)
class Loaded:
    production_id: int
    document_ids: list[int]
    # (document id, page number) -> the generated page's record key (None: cover, slip...)
    records: dict[tuple[int, int], str | None]
    page_ids: dict[tuple[int, int], int]


def load_production(
    settings: Settings,
    production: GenProduction,
    folder: Path,
    *,
    request: str = "2021-ICFO-00042",
    release_date: dt.date | None = None,
) -> Loaded:
    """Write a generated production's documents and pages as the pipeline would."""
    folder.mkdir(parents=True, exist_ok=True)
    records: dict[tuple[int, int], str | None] = {}
    page_ids: dict[tuple[int, int], int] = {}
    ids: list[int] = []
    with session_scope(settings) as session:
        agency = get_or_create_agency(session, "ICE")
        release = get_or_create_production(
            session,
            agency,
            production.title,
            request=get_or_create_request(session, request, agency),
            release_date=release_date,
            published=True,
        )
        for n, generated in enumerate(production.documents):
            pdf = make_text_pdf(
                folder / f"{slugify(production.title)}-{n}.pdf", [p.text for p in generated.pages]
            )
            stored = store_file(pdf, settings.files_dir)
            document = Document(
                title=generated.title,
                slug=slugify(generated.title),
                original_filename=pdf.name,
                sha256=stored.sha256,
                bytes=stored.size,
                media_type="application/pdf",
                page_count=len(generated.pages),
                state=DocumentState.INDEXED,
                published=True,
                pipeline_version=PIPELINE_VERSION,
            )
            document.productions.append(release)
            session.add(document)
            session.flush()
            for number, page in enumerate(generated.pages, start=1):
                row = Page(
                    document_id=document.id,
                    number=number,
                    text=page.text,
                    text_source=TextSource.LAYER,
                    width=612.0,
                    height=792.0,
                    bates_number=page.bates,
                    exemptions=find_exemptions(page.text),
                    redaction_count=page.text.count("(b)(6)"),
                    state=PageState.INDEXED,
                    pipeline_version=PIPELINE_VERSION,
                )
                session.add(row)
                session.flush()
                records[(document.id, number)] = page.record
                page_ids[(document.id, number)] = row.id
            ids.append(document.id)
        production_id = release.id
    return Loaded(production_id, ids, records, page_ids)


def run_versions_jobs(
    settings: Settings, document_ids: list[int], *, client: MeiliClient | None = None
) -> None:
    """Queue a ``versions`` job per document and run them all through the job queue (with
    ``client``, the jobs re-index the documents whose version groups changed)."""
    with session_scope(settings) as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            assert document is not None
            assert enqueue_versions(session, document) is not None
    ctx = WorkerContext(settings, client, worker_name())
    while work_once(ctx):
        pass
    with session_scope(settings) as session:
        states = session.scalars(select(Job.state).where(Job.document_id.in_(document_ids))).all()
        failed = session.scalars(select(Job.last_error).where(Job.state == JobState.FAILED)).all()
    assert set(states) == {JobState.DONE}, failed


Line = list[tuple[str, bool]]  # words of one printed line, each with "hidden by a box"


def make_boxed_pdf(path: Path, pages: list[list[Line]]) -> Path:
    """A born-digital PDF whose hidden words are black boxes drawn where the words would
    stand (no text under them, as a proper redaction leaves it): every page lays its words
    out the same way, so two versions of a page line up word for word."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    size = 11.0
    for lines in pages:
        y = 720.0
        for line in lines:
            x = 72.0
            for word, hidden in line:
                width = stringWidth(word, "Helvetica", size)
                if hidden:
                    pdf.setFillColorRGB(0, 0, 0)
                    pdf.rect(x - 1, y - 3, width + 2, size + 2, stroke=0, fill=1)
                else:
                    pdf.setFillColorRGB(0, 0, 0)
                    pdf.setFont("Helvetica", size)
                    pdf.drawString(x, y, word)
                x += width + stringWidth(" ", "Helvetica", size)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def printed_text(lines: list[Line]) -> str:
    """What the text layer of such a page holds: the words not hidden, line by line."""
    return "\n".join(" ".join(w for w, hidden in line if not hidden) for line in lines)


@dataclass(frozen=True)
class GivenPage:
    lines: list[Line]
    bates: str | None


def load_boxed_document(
    settings: Settings,
    folder: Path,
    title: str,
    pages: list[GivenPage],
    *,
    production: str,
    request: str = "2021-ICFO-00042",
    release_date: dt.date | None = None,
) -> int:
    """One document of such pages in a published production; returns its id."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf = make_boxed_pdf(
        folder / f"{slugify(production)}-{slugify(title)}.pdf", [p.lines for p in pages]
    )
    texts = [printed_text(page.lines) for page in pages]
    return add_document(
        settings,
        pdf,
        texts,
        title=title,
        production=production,
        request=request,
        release_date=release_date,
        page_fields=[
            {
                "bates_number": page.bates,
                "exemptions": find_exemptions(text),
                "redaction_count": sum(1 for line in page.lines for _, hidden in line if hidden),
            }
            for page, text in zip(pages, texts, strict=True)
        ],
    )
