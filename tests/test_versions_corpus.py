"""Real releases compared: parts of Chicago PD's FOIA 15-3569 e-mail production (issue 11).

Four files of ../shared/corpus go through the whole pipeline (OCR included: they are scans)
as four productions, and the ``versions`` jobs then compare them. What reading their groups
showed, and what these tests hold:

- the parts are different e-mail threads that share a signature block and a long
  confidentiality notice; their closest pages across parts (a shingle Jaccard near 0.4) are
  different messages, and none of them may be grouped;
- inside one part, a thread prints the same message again and again (quoted in each reply):
  those pages are grouped, and the pages of a group carry the same "Sent:" times;
- a law firm's disclaimer page printed after every message of a thread is boilerplate, in no
  group.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.meili import MeiliClient
from app.meili.managed import Endpoint
from app.models import Job, JobKind, JobState, Page
from app.page_versions import FingerprintStatus, PageFingerprint, PageMatch
from ingest.run import IngestTarget, ingest_paths
from ingest.versions.fingerprint import shingles, words
from tests.conftest import require
from tests.meili_helpers import drop_indexes

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PARTS = [
    "FOIA_15-3569_FINAL_PART_1",
    "FOIA_15-3569_FINAL_PART_10",
    "FOIA_15-3569_FINAL_PART_16",
    "FOIA_15-3569_MR._MARTINEZ",
]
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\s?[AP]M\b")


@dataclass(frozen=True)
class Compared:
    settings: Settings
    documents: dict[str, int]  # part -> document id


@pytest.fixture(scope="module")
def compared(
    tmp_path_factory: pytest.TempPathFactory, meili_endpoint: Endpoint
) -> Iterator[Compared]:
    files = [CORPUS / f"lucyparsons-1505__{part}.pdf" for part in PARTS]
    require(all(f.is_file() for f in files), f"the FOIA 15-3569 files are not in {CORPUS}")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("versions-corpus") / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=f"vc{uuid.uuid4().hex[:10]}_",
    )
    migrate.upgrade(settings)
    documents = {}
    try:
        for part, path in zip(PARTS, files, strict=True):
            # One production per part, released one after the other: each is compared with
            # the parts already in the archive, as a new release would be.
            [outcome] = ingest_paths(
                settings, [path], IngestTarget(agency="CPD", production=part, request="15-3569")
            )
            assert outcome.state == "indexed", outcome
            documents[part] = outcome.document_id
        yield Compared(settings, documents)
    finally:
        client = MeiliClient(meili_endpoint.url, meili_endpoint.key)
        drop_indexes(client, settings.index_prefix)
        client.close()


def _groups(settings: Settings) -> dict[int, list[Page]]:
    with session_scope(settings) as session:
        found: dict[int, list[Page]] = defaultdict(list)
        for page, group in session.execute(
            select(Page, PageFingerprint.group_id)
            .join(PageFingerprint, PageFingerprint.page_id == Page.id)
            .where(PageFingerprint.group_id.is_not(None))
        ).tuples():
            session.expunge(page)
            assert group is not None
            found[group].append(page)
        return dict(found)


def test_every_part_was_compared_by_its_versions_job(compared: Compared) -> None:
    with session_scope(compared.settings) as session:
        jobs = session.scalars(select(Job).where(Job.kind == JobKind.VERSIONS)).all()
        assert sorted(j.document_id for j in jobs) == sorted(compared.documents.values())
        assert {j.state for j in jobs} == {JobState.DONE}


def test_look_alike_pages_of_different_threads_are_not_grouped(compared: Compared) -> None:
    with session_scope(compared.settings) as session:
        pages = session.execute(select(Page.id, Page.document_id, Page.text)).tuples().all()
        across = session.scalars(
            select(PageMatch.id).where(PageMatch.document_a_id != PageMatch.document_b_id)
        ).all()
    # There are look-alikes across parts (one signature block, one notice)...
    prints = {pid: (doc, shingles(words(text or ""))) for pid, doc, text in pages}
    closest = max(
        len(a & b) / len(a | b)
        for i, (doc_a, a) in prints.items()
        for j, (doc_b, b) in prints.items()
        if i < j and doc_a != doc_b and a and b
    )
    assert closest > 0.3
    # ...and none of them is taken for a version of another.
    assert across == []
    for members in _groups(compared.settings).values():
        assert len({p.document_id for p in members}) == 1


def test_a_message_printed_again_in_its_thread_is_grouped_with_its_copies(
    compared: Compared,
) -> None:
    groups = _groups(compared.settings)
    assert len(groups) >= 5
    for members in groups.values():
        assert len(members) <= 3
        times = [set(_TIME.findall(p.text or "")) for p in members]
        if all(times):
            # The copies of one message carry its "Sent:" times.
            assert set.intersection(*times), [p.number for p in members]


def test_a_disclaimer_page_repeated_through_a_thread_is_boilerplate(compared: Compared) -> None:
    with session_scope(compared.settings) as session:
        rows = session.execute(
            select(Page.text, PageFingerprint.status, PageFingerprint.group_id)
            .join(PageFingerprint, PageFingerprint.page_id == Page.id)
            .where(Page.document_id == compared.documents["FOIA_15-3569_FINAL_PART_16"])
        ).all()
    notices = [(status, group) for text, status, group in rows if "Circular 230" in (text or "")]
    assert len(notices) >= 5
    boilerplate = [group for status, group in notices if status is FingerprintStatus.BOILERPLATE]
    assert len(boilerplate) >= 5
    assert all(group is None for group in boilerplate)
