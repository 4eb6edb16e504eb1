"""``readingroom check``: every kind of drift between the database and the index is found,
``--repair`` fixes what the index can fix, and damaged originals stay reported."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.models import Document, Page, PageState
from ingest.index import page_record_id
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import original_path
from tests.cli import run_cli
from tests.pdfs import make_text_pdf

pytestmark = pytest.mark.reliability


def _check(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(settings, "check", "--json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def page_text(word: str, number: int) -> str:
    """Enough words that the text layer is trusted: no OCR, so the test stays fast."""
    line = f"The {word} memorandum page {number} describes the release of agency records"
    return "\n".join([line, "to the requester under the Freedom of Information Act."] * 3)


def _ingest(settings: Settings, tmp_path: Path) -> dict[str, int]:
    """Three public documents and one in a draft production; returns title -> document id."""
    public = [
        make_text_pdf(tmp_path / f"{name}.pdf", [page_text(name, 1), page_text(name, 2)])
        for name in ("alder", "birch", "cedar")
    ]
    draft = make_text_pdf(tmp_path / "draft.pdf", [page_text("dogwood", 1)])
    outcomes = ingest_paths(settings, public, IngestTarget(agency="ICE", production="Release 1"))
    outcomes += ingest_paths(
        settings, [draft], IngestTarget(agency="ICE", production="Draft", published=False)
    )
    assert [o.state for o in outcomes] == ["indexed"] * 4
    return {Path(o.name).stem: o.document_id for o in outcomes}


def test_check_finds_each_kind_of_drift_and_repair_fixes_the_index(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    settings = migrated_settings
    ids = _ingest(settings, tmp_path)
    code, clean = _check(settings)
    assert code == 0, clean
    assert clean["result"]["consistent"] is True
    assert clean["result"]["pages"]["expected"] == 6
    assert clean["result"]["documents"]["expected"] == 3

    pages_uid = settings.pages_index
    # Drift, one of each kind:
    # - a page record lost from the index (missing);
    meili.wait(meili.delete_documents(pages_uid, [page_record_id(ids["alder"], 2)]))
    # - records of a deleted document and of the draft left in the index (extra);
    ghost = {"id": "9999-00001", "document_id": 9999, "text": "ghost", "published": True}
    draft_page = {"id": page_record_id(ids["draft"], 1), "document_id": ids["draft"]}
    meili.wait(meili.add_documents(pages_uid, [ghost, draft_page]))
    with session_scope(settings) as session:
        # - a document taken down without its records being removed (extra);
        cedar = session.get(Document, ids["cedar"])
        assert cedar is not None
        cedar.taken_down_at = dt.datetime.now(dt.UTC)
        # - page text corrected in the database only (stale);
        page = session.scalars(
            select(Page).where(Page.document_id == ids["birch"], Page.number == 1)
        ).one()
        page.text = "birch page one, corrected by the agency"
        # - a page still waiting for the index (pending_index).
        waiting = session.scalars(
            select(Page).where(Page.document_id == ids["birch"], Page.number == 2)
        ).one()
        waiting.state = PageState.PENDING_INDEX
        alder_sha = session.get(Document, ids["alder"]).sha256  # type: ignore[union-attr]
        birch_sha = session.get(Document, ids["birch"]).sha256  # type: ignore[union-attr]
    # - one original deleted and one whose bytes changed.
    alder_path = original_path(settings.files_dir, alder_sha)
    alder_bytes = alder_path.read_bytes()
    alder_path.unlink()
    birch_path = original_path(settings.files_dir, birch_sha)
    birch_bytes = birch_path.read_bytes()
    birch_path.chmod(0o644)
    birch_path.write_bytes(birch_bytes + b"tampered")

    code, found = _check(settings)
    result = found["result"]
    assert code == 1
    assert result["consistent"] is False
    assert result["pages"]["examples"]["missing"] == [page_record_id(ids["alder"], 2)]
    assert result["pages"]["examples"]["stale"] == [page_record_id(ids["birch"], 1)]
    assert result["pages"]["extra"] == 4  # ghost, draft page, cedar's two pages
    assert result["pages"]["extra_reasons"] == {
        "document deleted": 1,
        "document not published": 1,
        "document taken down": 2,
    }
    assert result["documents"]["examples"]["extra"] == [str(ids["cedar"])]
    assert result["pending_index"] == 1
    assert result["originals"]["missing"] == [ids["alder"]]
    assert result["originals"]["corrupt"] == [ids["birch"]]

    code, repaired = _check(settings, "--repair")
    assert repaired["repaired"] == {
        "documents_reindexed": 2,  # alder (missing page), birch (stale, pending)
        "pages_indexed": 4,
        "page_records_deleted": 4,
        "document_records_deleted": 1,
    }
    after = repaired["result"]
    # The index is whole again; the originals cannot be mended from the index.
    assert after["pages"] | {"examples": None} == {
        "expected": 4,
        "indexed": 4,
        "missing": 0,
        "extra": 0,
        "stale": 0,
        "extra_reasons": {},
        "examples": None,
    }
    assert after["pending_index"] == 0
    assert after["originals"]["missing_count"] == 1
    assert after["originals"]["corrupt_count"] == 1
    assert code == 1
    hit = meili.search(pages_uid, {"q": "corrected", "filter": "published = true"})["hits"]
    assert [h["id"] for h in hit] == [page_record_id(ids["birch"], 1)]
    assert meili.get_document(pages_uid, "9999-00001") is None

    alder_path.write_bytes(alder_bytes)
    birch_path.write_bytes(birch_bytes)
    code, final = _check(settings)
    assert code == 0, final
    assert final["result"]["consistent"] is True


def test_pending_pages_of_a_hidden_document_are_no_problem(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    settings = migrated_settings
    ids = _ingest(settings, tmp_path)
    with session_scope(settings) as session:
        for page in session.scalars(select(Page).where(Page.document_id == ids["draft"])):
            page.state = PageState.PENDING_INDEX
    # Nothing waits for a draft's pages: publishing indexes them. They are counted, not fixed.
    code, found = _check(settings, "--repair", "--no-hash")
    assert code == 0, found
    assert found["result"]["pending_index"] == 0
    assert found["result"]["pending_hidden"] == 1
    assert "repaired" not in found
    assert meili.get_document(settings.pages_index, page_record_id(ids["draft"], 1)) is None


def test_check_reports_an_unreachable_index_and_exits_1(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    _ingest(migrated_settings, tmp_path)
    # A port nothing listens on: the index cannot be compared, originals still are.
    down = migrated_settings.model_copy(update={"meili_url": "http://127.0.0.1:9"})
    code, found = _check(down, "--repair")
    assert code == 1
    assert "did not answer" in found["result"]["index_error"]
    assert found["result"]["originals"]["checked"] == 4
    assert "repaired" not in found
