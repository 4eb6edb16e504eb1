"""Two generated releases with known answers, compared through the job queue (issue 11).

The same 200 record pages released twice (bench/_releases.py): another redaction set, the
documents shuffled and two merged, OCR-like noise on a third of the re-release, slip-sheets,
fax covers, blank pages and Bates gaps. The archive is built once per database for the module.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.meili.managed import Endpoint
from app.page_versions import (
    DocumentRelation,
    DocumentVersion,
    FingerprintStatus,
    PageFingerprint,
    PageMatch,
)
from bench._releases import ReleasePair, release_pair
from ingest.versions.align import align
from ingest.versions.job import compare_document
from tests.cli import run_cli
from tests.versions_helpers import Loaded, load_production, run_versions_jobs


@dataclass(frozen=True)
class Archive:
    settings: Settings
    pair: ReleasePair
    a: Loaded
    b: Loaded


@pytest.fixture(scope="module")
def archive(
    meili_endpoint: Endpoint,
    tmp_path_factory: pytest.TempPathFactory,
    module_database_url: str | None,
) -> Archive:
    folder = tmp_path_factory.mktemp("versions")
    settings = Settings(
        data_dir=folder / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=f"v{uuid.uuid4().hex[:12]}_",
        database_url=module_database_url,
    )
    migrate.upgrade(settings)
    pair = release_pair()
    a = load_production(settings, pair.a, folder / "a", release_date=dt.date(2021, 6, 1))
    run_versions_jobs(settings, a.document_ids)
    # The re-release arrives later and is compared with the archive as it is.
    b = load_production(settings, pair.b, folder / "b", release_date=dt.date(2022, 3, 1))
    run_versions_jobs(settings, b.document_ids)
    return Archive(settings, pair, a, b)


def _record_of(archive: Archive) -> dict[int, tuple[str, str | None]]:
    """Page id -> (production, record key)."""
    found: dict[int, tuple[str, str | None]] = {}
    for name, loaded in (("a", archive.a), ("b", archive.b)):
        for place, page_id in loaded.page_ids.items():
            found[page_id] = (name, loaded.records[place])
    return found


def test_version_pairs_are_found_with_precision_and_recall_over_095(archive: Archive) -> None:
    records = _record_of(archive)
    with session_scope(archive.settings) as session:
        matches = session.execute(select(PageMatch.page_a_id, PageMatch.page_b_id)).all()
    found = set()
    for a, b in matches:
        (side_a, key_a), (side_b, key_b) = records[a], records[b]
        found.add((side_a, key_a, side_b, key_b))
    true = {("a", key, "b", key) for key in archive.pair.truth}
    right = found & true
    precision = len(right) / len(found)
    recall = len(right) / len(true)
    print(f"version pairs: {len(found)} found, {len(true)} true, P={precision:.3f} R={recall:.3f}")
    assert precision >= 0.95
    assert recall >= 0.95
    # Within one production the documents are not versions of each other.
    assert not [f for f in found if f[0] == f[2]]


def test_boilerplate_slip_sheets_and_blank_pages_stay_out_of_groups(archive: Archive) -> None:
    kinds = {}
    for loaded, production in ((archive.a, archive.pair.a), (archive.b, archive.pair.b)):
        for document_id, generated in zip(loaded.document_ids, production.documents, strict=True):
            for number, page in enumerate(generated.pages, start=1):
                kinds[loaded.page_ids[(document_id, number)]] = page.kind
    with session_scope(archive.settings) as session:
        rows = session.execute(
            select(PageFingerprint.page_id, PageFingerprint.status, PageFingerprint.group_id)
        ).all()
    by_kind: dict[str, set[FingerprintStatus]] = {}
    for page_id, status, group in rows:
        by_kind.setdefault(kinds[page_id], set()).add(status)
        if kinds[page_id] != "record":
            assert group is None, (kinds[page_id], status)
    assert by_kind["cover"] == {FingerprintStatus.BOILERPLATE}
    assert by_kind["blank"] == {FingerprintStatus.SHORT}
    assert by_kind["slip"] == {FingerprintStatus.WITHHELD}
    assert FingerprintStatus.BOILERPLATE not in by_kind["record"]


def test_each_group_holds_the_versions_of_one_record(archive: Archive) -> None:
    records = _record_of(archive)
    with session_scope(archive.settings) as session:
        rows = session.execute(
            select(PageFingerprint.page_id, PageFingerprint.group_id).where(
                PageFingerprint.group_id.is_not(None)
            )
        ).all()
    groups: dict[int, set[str | None]] = {}
    for page_id, group in rows:
        groups.setdefault(group, set()).add(records[page_id][1])
    assert all(len(keys) == 1 for keys in groups.values())
    assert len(groups) >= 0.95 * len(archive.pair.truth)


def test_documents_whose_pages_match_in_order_are_versions(archive: Archive) -> None:
    titles = {}
    for loaded, production in ((archive.a, archive.pair.a), (archive.b, archive.pair.b)):
        for document_id, generated in zip(loaded.document_ids, production.documents, strict=True):
            titles[document_id] = generated.title
    with session_scope(archive.settings) as session:
        relations = session.execute(
            select(
                DocumentVersion.document_a_id,
                DocumentVersion.document_b_id,
                DocumentVersion.relation,
            )
        ).all()
    same = {(titles[a], titles[b]) for a, b, r in relations if r is DocumentRelation.SAME}
    contained = {(titles[a], titles[b]) for a, b, r in relations if r is DocumentRelation.A_IN_B}
    # An untouched document of the interim release and its re-release.
    assert ("Interim release records r001-r010", "Re-release records r001-r010") in same
    # The two documents the re-release merged into one are each contained in it.
    merged = "Re-release records r071-r080 and more"
    assert ("Interim release records r071-r080", merged) in contained
    assert ("Interim release records r081-r090", merged) in contained
    for a, b in same | contained:
        assert a.startswith("Interim")
        assert b.startswith("Re-release")


def test_redaction_differences_are_found_on_the_redacted_words(archive: Archive) -> None:
    """On pairs without noise, the words one release hid and the other showed are exactly
    the words of the spans redacted in one and not the other."""
    pair = archive.pair
    a_pages = {p.record: p for d in pair.a.documents for p in d.pages if p.record}
    b_pages = {p.record: p for d in pair.b.documents for p in d.pages if p.record}
    checked = 0
    for key in sorted(pair.truth):
        a, b = a_pages[key], b_pages[key]
        if b.noisy:
            continue
        record = pair.records[key]
        alignment = align(a.text, b.text)
        shown_in_b = [w for i in sorted(a.redacted - b.redacted) for w in record.spans[i].words]
        shown_in_a = [w for i in sorted(b.redacted - a.redacted) for w in record.spans[i].words]
        only_b = [
            t.text
            for s in alignment.segments
            if s.kind == "only_b"
            for t in alignment.b[s.b0 : s.b1]
            if not t.label
        ]
        only_a = [
            t.text
            for s in alignment.segments
            if s.kind == "only_a"
            for t in alignment.a[s.a0 : s.a1]
            if not t.label
        ]
        assert sorted(only_b) == sorted(shown_in_b), key
        assert sorted(only_a) == sorted(shown_in_a), key
        checked += 1
    assert checked > 80


def test_a_second_run_compares_nothing_again(archive: Archive) -> None:
    with session_scope(archive.settings) as session:
        before = session.execute(select(PageMatch.id)).all()
        result = compare_document(session, archive.b.document_ids[0])
        after = session.execute(select(PageMatch.id)).all()
    assert result.fingerprinted == 0
    assert result.compared == 0
    assert before == after


def test_a_rebuild_from_the_command_line_finds_the_same_versions(archive: Archive) -> None:
    """Everything is derived: ``readingroom versions rebuild`` drops it all and finds it
    again (the last test of the module, as it rewrites what the others read)."""
    with session_scope(archive.settings) as session:
        before = set(session.execute(select(PageMatch.page_a_id, PageMatch.page_b_id)).all())
    result = run_cli(archive.settings, "versions", "rebuild")
    assert result.exit_code == 0, result.output
    jobs = len(archive.a.document_ids) + len(archive.b.document_ids)
    assert result.output.startswith(f"{jobs} documents compared; ")
    with session_scope(archive.settings) as session:
        after = set(session.execute(select(PageMatch.page_a_id, PageMatch.page_b_id)).all())
    assert after == before
