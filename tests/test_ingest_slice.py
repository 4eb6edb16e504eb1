"""The thin end-to-end slice: `readingroom ingest` a PDF, then find its page through the site."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.models import Document, DocumentState, Page, PageState
from ingest.storage import original_path
from tests.cli import run_cli
from tests.pdfs import make_text_pdf


def _ingest(settings: Settings, *args: str) -> str:
    result = run_cli(settings, "ingest", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_ingested_page_is_found_by_search_with_its_page_url(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = make_text_pdf(
        tmp_path / "memo.pdf",
        ["Cover sheet for the release", "The pilot used Zyxwvut face matching at the port"],
    )
    _ingest(migrated_settings, str(pdf), "--agency", "ICE", "--production", "Release 1")

    with session_scope(migrated_settings) as session:
        document = session.scalars(select(Document)).one()
        assert document.state is DocumentState.INDEXED
        assert document.page_count == 2
        assert original_path(migrated_settings.files_dir, document.sha256).read_bytes() == (
            pdf.read_bytes()
        )
        pages = session.scalars(select(Page).order_by(Page.number)).all()
        assert [p.state for p in pages] == [PageState.INDEXED, PageState.INDEXED]
        # Each page's content committed once (indexing changes its state, not its content).
        assert [p.write_count for p in pages] == [1, 1]
        assert all(p.written_at is not None for p in pages)
        assert document.productions[0].agency.parent is not None
        assert document.productions[0].agency.parent.abbreviation == "DHS"
        doc_id, slug = document.id, document.slug

    with TestClient(create_app(migrated_settings)) as web:
        answer = web.get("/search.json", params={"q": "Zyxwvut"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["total_documents"] == 1
        hit = body["documents"][0]
        assert hit["id"] == doc_id
        assert hit["url"] == f"/documents/{doc_id}-{slug}"
        assert [p["number"] for p in hit["pages"]] == [2]
        assert hit["pages"][0]["url"] == f"/documents/{doc_id}-{slug}/pages/2"
        assert "<mark>Zyxwvut</mark>" in hit["pages"][0]["snippet"]

        page = web.get(hit["pages"][0]["url"] + ".json").json()
        assert "Zyxwvut face matching" in page["page"]["text"]

        health = web.get("/healthz").json()
        assert health["status"] == "ok"
        assert health["database"]["ok"]
        assert health["search"]["ok"]


def test_same_file_twice_is_stored_once_and_joins_the_second_production(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", ["Quokka records"])
    copy = tmp_path / "renamed.pdf"
    copy.write_bytes(pdf.read_bytes())
    _ingest(migrated_settings, str(pdf), "--agency", "ICE", "--production", "Release 1")
    output = _ingest(migrated_settings, str(copy), "--agency", "ICE", "--production", "Release 2")
    assert "duplicate" in output

    with session_scope(migrated_settings) as session:
        document = session.scalars(select(Document)).one()
        assert sorted(p.title for p in document.productions) == ["Release 1", "Release 2"]
        # The duplicate read nothing again: its one page was written once, by the first.
        assert [p.write_count for p in document.pages] == [1]
    originals = list((migrated_settings.files_dir / "originals").rglob("*"))
    assert len([p for p in originals if p.is_file()]) == 1


def test_draft_production_is_not_searchable(migrated_settings: Settings, tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "secret.pdf", ["Unreleased wombat memo"])
    _ingest(migrated_settings, str(pdf), "--agency", "CBP", "--production", "R", "--draft")
    with TestClient(create_app(migrated_settings)) as web:
        assert web.get("/search.json", params={"q": "wombat"}).json()["total_documents"] == 0
        with session_scope(migrated_settings) as session:
            doc_id = session.scalars(select(Document.id)).one()
        assert web.get(f"/documents/{doc_id}.json").status_code == 404


@pytest.mark.parametrize("bad", ["not a pdf at all", ""])
def test_unreadable_file_ends_failed_with_reason_and_is_kept(
    migrated_settings: Settings, tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "broken.pdf"
    path.write_text(bad)
    _ingest(migrated_settings, str(path), "--agency", "ICE", "--production", "R")
    with session_scope(migrated_settings) as session:
        document = session.scalars(select(Document)).one()
        assert document.state.is_final
        assert document.state is not DocumentState.INDEXED
        assert document.state_reason
        assert original_path(migrated_settings.files_dir, document.sha256).exists()
