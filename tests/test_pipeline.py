"""The ingest pipeline end to end: inputs of every kind reach one final state, nothing is lost."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

import ingest.run as run_module
from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.models import Document, DocumentState, Page, PageState, TextSource
from app.services.search import SearchQuery, search_pages
from ingest.process import ProcessOptions
from ingest.run import FileOutcome, IngestTarget, ingest_paths, retry_documents
from ingest.storage import original_path
from tests.cli import run_cli
from tests.conftest import corpus_file
from tests.pdfs import make_text_pdf
from tests.scans import scan_pdf, scan_tiff

TARGET = IngestTarget(agency="ICE", production="Release 1", request="2021-ICFO-00001")


def _documents(settings: Settings) -> list[Document]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Document).order_by(Document.id)))


def _pages(settings: Settings, document_id: int) -> list[Page]:
    with session_scope(settings) as session:
        return list(
            session.scalars(
                select(Page).where(Page.document_id == document_id).order_by(Page.number)
            )
        )


def _found_pages(settings: Settings, meili: MeiliClient, q: str) -> list[tuple[int, int]]:
    results = search_pages(meili, settings, SearchQuery(q=q))
    return [(d.id, p.number) for d in results.documents for p in d.pages]


@pytest.mark.slow
def test_multipage_tiff_scan_becomes_one_ocrd_searchable_document(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    tiff = scan_tiff(
        tmp_path / "scan.tif",
        [
            ["Surveillance contract renewal", "ICE-2021-000101"],
            ["Quarterly invoice for biometrics", "(b)(6) withheld", "ICE-2021-000102"],
        ],
    )
    [outcome] = ingest_paths(migrated_settings, [tiff], TARGET)
    assert outcome.state == "indexed"
    assert outcome.pages == 2
    [document] = _documents(migrated_settings)
    assert document.media_type == "image/tiff"
    assert document.bates_start == "ICE-2021-000101"
    assert document.bates_end == "ICE-2021-000102"
    pages = _pages(migrated_settings, document.id)
    assert [p.text_source for p in pages] == [TextSource.OCR, TextSource.OCR]
    assert pages[1].exemptions == ["b6"]
    assert pages[0].words_path is not None
    assert (migrated_settings.files_dir / pages[0].words_path).exists()
    assert _found_pages(migrated_settings, meili, "invoice") == [(document.id, 2)]
    # The original TIFF is what was stored, untouched.
    assert original_path(migrated_settings.files_dir, document.sha256).read_bytes() == (
        tiff.read_bytes()
    )


def test_zip_production_unpacks_safely_and_keeps_what_it_cannot_read(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "production.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            "Vol001/memo.pdf", make_text_pdf(tmp_path / "m.pdf", ["Zip memo text"]).read_bytes()
        )
        zf.writestr(
            "../../escape.pdf", make_text_pdf(tmp_path / "e.pdf", ["Escaped?"]).read_bytes()
        )
        zf.writestr("Vol001/notes.docx", b"PK-not-really a word file")
        zf.writestr("Vol001/readme.txt", b"plain text is not a record format we read")
    outcomes = ingest_paths(migrated_settings, [archive], TARGET)
    states = {o.name: o.state for o in outcomes}
    assert states["production.zip/Vol001/memo.pdf"] == "indexed"
    assert states["production.zip/../../escape.pdf"] == "indexed"
    assert states["production.zip/Vol001/readme.txt"] == "unsupported"
    unsupported = [o for o in outcomes if o.state == "unsupported"]
    assert all(o.reason and "not a PDF" in o.reason for o in unsupported)
    # Nothing was written outside the data folder; every member and the archive were stored.
    assert not (tmp_path.parent / "escape.pdf").exists()
    for document in _documents(migrated_settings):
        assert original_path(migrated_settings.files_dir, document.sha256).exists()
    archive_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    stored = original_path(migrated_settings.files_dir, archive_sha)
    assert stored.read_bytes() == archive.read_bytes()


def test_broken_zip_is_kept_as_a_failed_document_with_a_reason(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "broken.zip"
    good = tmp_path / "ok.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a.pdf", make_text_pdf(tmp_path / "a.pdf", ["A"]).read_bytes())
    archive.write_bytes(good.read_bytes()[:-30])  # cut the central directory short
    [outcome] = ingest_paths(migrated_settings, [archive], TARGET)
    assert outcome.state == "failed"
    assert outcome.reason
    [document] = _documents(migrated_settings)
    assert original_path(migrated_settings.files_dir, document.sha256).read_bytes() == (
        archive.read_bytes()
    )


def test_encrypted_pdf_waits_for_its_password_then_retry_indexes_it(
    migrated_settings: Settings, meili: MeiliClient
) -> None:
    locked = corpus_file("pypdf-samples__libreoffice-writer-password.pdf")
    [outcome] = ingest_paths(migrated_settings, [locked], TARGET)
    assert outcome.state == "encrypted"
    assert outcome.reason is not None
    assert "password" in outcome.reason
    [document] = _documents(migrated_settings)
    assert document.retryable

    result = run_cli(migrated_settings, "retry", "--password", "openpassword", "--json")
    assert result.exit_code == 0, result.output
    [document] = _documents(migrated_settings)
    assert document.state is DocumentState.INDEXED
    assert document.page_count >= 1
    assert all(p.state is PageState.INDEXED for p in _pages(migrated_settings, document.id))


@pytest.mark.slow
def test_ocr_timeout_leaves_a_partial_document_and_retry_redoes_only_failed_pages(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed.pdf"
    make_text_pdf(tmp_path / "digital.pdf", ["Born digital cover page with enough words to read"])
    scan = scan_pdf(tmp_path / "scan.pdf", [["Handwritten ledger of detainee transfers"]])
    import pikepdf

    with pikepdf.open(tmp_path / "digital.pdf") as pdf, pikepdf.open(scan) as scanned:
        pdf.pages.extend(scanned.pages)
        pdf.save(mixed)

    hurried = migrated_settings.model_copy(update={"ocr_timeout_seconds": 0.01})
    [outcome] = ingest_paths(hurried, [mixed], TARGET)
    assert outcome.state == "partial"
    assert outcome.reason is not None
    assert "1 of 2 pages" in outcome.reason
    [document] = _documents(migrated_settings)
    first, second = _pages(migrated_settings, document.id)
    assert first.state is PageState.INDEXED
    assert first.text_source is TextSource.LAYER
    assert second.state is PageState.OCR_FAILED
    assert second.state_reason
    # The readable page is searchable even though its neighbour failed.
    assert _found_pages(migrated_settings, meili, "cover") == [(document.id, 1)]

    [retried] = retry_documents(migrated_settings, [document.id])
    assert retried.state == "indexed"
    first_again, second_again = _pages(migrated_settings, document.id)
    assert first_again.id == first.id  # updated in place, never duplicated
    assert second_again.text_source is TextSource.OCR
    assert _found_pages(migrated_settings, meili, "ledger") == [(document.id, 2)]


def test_a_pdf_over_the_page_limit_fails_with_its_count_and_retries_once_raised(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    five = make_text_pdf(
        tmp_path / "five.pdf",
        [f"Page {n} of the detention contract release, printed in full" for n in range(1, 6)],
    )
    strict = migrated_settings.model_copy(update={"max_pages": 4})
    [outcome] = ingest_paths(strict, [five], TARGET)
    assert outcome.state == "failed"
    assert outcome.reason is not None
    assert "5 pages, over the limit of 4 (READINGROOM_MAX_PAGES)" in outcome.reason
    [document] = _documents(migrated_settings)
    assert document.retryable
    assert _pages(migrated_settings, document.id) == []
    assert original_path(migrated_settings.files_dir, document.sha256).exists()

    [retried] = retry_documents(migrated_settings, [document.id])  # the default limit
    assert retried.state == "indexed"
    assert [p.number for p in _pages(migrated_settings, document.id)] == [1, 2, 3, 4, 5]


def test_index_outage_leaves_pages_pending_then_reindex_pending_catches_up(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    down = migrated_settings.model_copy(
        update={"meili_url": "http://127.0.0.1:9", "meili_key": SecretStr("x")}
    )
    pdf = make_text_pdf(tmp_path / "late.pdf", ["Pangolin procurement memo"])
    [outcome] = ingest_paths(down, [pdf], TARGET)
    assert outcome.state == "indexed"  # processed; the index will catch up
    [document] = _documents(migrated_settings)
    assert [p.state for p in _pages(migrated_settings, document.id)] == [PageState.PENDING_INDEX]

    result = run_cli(migrated_settings, "reindex", "--pending")
    assert result.exit_code == 0, result.output
    assert [p.state for p in _pages(migrated_settings, document.id)] == [PageState.INDEXED]
    assert _found_pages(migrated_settings, meili, "pangolin") == [(document.id, 1)]


def test_the_ingest_indexer_sends_large_batches_or_after_a_delay(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three final documents of 2 pages each, waiting for the index (read while it was down).
    down = migrated_settings.model_copy(
        update={"meili_url": "http://127.0.0.1:9", "meili_key": SecretStr("x")}
    )
    pdfs = [
        make_text_pdf(tmp_path / f"memo{n}.pdf", [f"Okapi memo {n} first page", "Second page"])
        for n in range(3)
    ]
    ids = [o.document_id for o in ingest_paths(down, pdfs, TARGET)]

    def indexed() -> set[int]:
        return {
            d
            for d in ids
            if all(p.state is PageState.INDEXED for p in _pages(migrated_settings, d))
        }

    monkeypatch.setattr(run_module, "INDEX_BATCH_PAGES", 8)
    monkeypatch.setattr(run_module, "INDEX_DELAY_SECONDS", 3600.0)
    indexer = run_module._Indexer(migrated_settings, meili, set(ids[:2]))
    indexer.stop()  # its thread would look every second; here each look is made by hand
    indexer.index_finished(everything=False)
    assert indexed() == set()  # 4 pages waiting, under a batch, not waited long: kept
    indexer._only.add(ids[2])
    monkeypatch.setattr(run_module, "INDEX_BATCH_PAGES", 6)
    indexer.index_finished(everything=False)
    assert indexed() == set(ids)  # 6 pages: a batch

    # One document's pages waiting again: kept under the delay, sent once it has passed.
    with session_scope(migrated_settings) as session:
        session.execute(
            update(Page).where(Page.document_id == ids[0]).values(state=PageState.PENDING_INDEX)
        )
    monkeypatch.setattr(run_module, "INDEX_BATCH_PAGES", 8)
    later = run_module._Indexer(migrated_settings, meili, {ids[0]})
    later.stop()
    later.index_finished(everything=False)
    assert ids[0] not in indexed()
    monkeypatch.setattr(run_module, "INDEX_DELAY_SECONDS", 0.0)
    later.index_finished(everything=False)
    assert indexed() == set(ids)
    # Sorted: the three pages tie on relevance, and ties come in no promised order.
    assert sorted(_found_pages(migrated_settings, meili, "okapi")) == sorted((d, 1) for d in ids)

    # No job left to claim (the run's last jobs are running): what is final goes at once,
    # under a batch and before the delay; a job claimable again brings the batching back.
    monkeypatch.setattr(run_module, "INDEX_DELAY_SECONDS", 3600.0)
    drained = run_module._Indexer(migrated_settings, meili, {ids[1]})
    drained.stop()
    for waiting in (True, False):
        with session_scope(migrated_settings) as session:
            session.execute(
                update(Page).where(Page.document_id == ids[1]).values(state=PageState.PENDING_INDEX)
            )
        drained.set_drained(not waiting)
        drained.index_finished(everything=False)
        assert (ids[1] in indexed()) is not waiting


def test_full_reindex_swaps_in_a_rebuilt_index_without_losing_results(
    migrated_settings: Settings, meili: MeiliClient, tmp_path: Path
) -> None:
    from ingest.index import rebuild

    pdf = make_text_pdf(tmp_path / "r.pdf", ["Capybara surveillance summary", "second page"])
    ingest_paths(migrated_settings, [pdf], TARGET)
    before = _found_pages(migrated_settings, meili, "capybara")
    with session_scope(migrated_settings) as session:
        assert rebuild(meili, migrated_settings, session) == 2
    assert _found_pages(migrated_settings, meili, "capybara") == before
    names = {index["uid"] for index in meili.list_indexes()}
    assert not any(name.endswith("_rebuild") for name in names)


def test_document_metadata_and_markings_are_recorded(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = make_text_pdf(
        tmp_path / "email.pdf",
        [
            "From: Analyst One <a1@ice.example>\nSent: Tuesday, March 9, 2021 10:14 AM\n"
            "To: Chief <c@ice.example>\nSubject: Trial accounts for the pilot\n\n"
            "Please see the (b)(6), (b)(7)(C) redacted names.\n\nICE-2021-000201",
            "Second page of the thread (b)(7)(E)\n\nICE-2021-000202",
        ],
        title="Trial accounts email",
    )
    ingest_paths(migrated_settings, [pdf], TARGET)
    [document] = _documents(migrated_settings)
    assert document.document_type == "email"
    assert str(document.document_date) == "2021-03-09"
    assert document.email_headers["subject"] == "Trial accounts for the pilot"
    assert document.title == "Trial accounts email"
    assert (document.bates_start, document.bates_end) == ("ICE-2021-000201", "ICE-2021-000202")
    assert document.pdf_metadata["title"] == "Trial accounts email"
    first, second = _pages(migrated_settings, document.id)
    assert first.exemptions == ["b6", "b7C"]
    assert second.exemptions == ["b7E"]


def test_cli_ingest_reports_each_file_and_exits_zero_on_final_states(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "release"
    (folder / "sub").mkdir(parents=True)
    make_text_pdf(folder / "a.pdf", ["Alpha"])
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01 not a record")
    args = ["ingest", str(folder), "--agency", "ICE", "--production", "P", "--json"]
    result = run_cli(migrated_settings, *args)
    status = run_cli(migrated_settings, "status", "--json")
    assert result.exit_code == 0, result.output
    import json

    outcomes = {o["name"]: o["state"] for o in json.loads(result.stdout)}
    assert outcomes == {"a.pdf": "indexed", "b.bin": "unsupported"}
    report = json.loads(status.stdout)
    assert report["states"] == {"indexed": 1, "unsupported": 1}
    assert report["attention"][0]["reason"].startswith("this file is not a PDF")


def test_outcome_type_is_what_cli_prints() -> None:
    # The JSON printed by `ingest --json` is the dataclass; keep its keys stable.
    assert list(FileOutcome.__dataclass_fields__) == [
        "name",
        "document_id",
        "state",
        "reason",
        "pages",
    ]
    assert ProcessOptions().languages is None
