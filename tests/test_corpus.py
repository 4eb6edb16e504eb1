"""The whole real-world corpus through ingest, then searched, and some of its scans OCR'd.

Every PDF of ../shared/corpus (FOIA productions, scans, court records, encrypted, broken and
hostile files) goes through the real pipeline in one production, once for this module:

- every file ends in a final state with a reason, within bounds of time and memory;
- every government file with a text layer is found by the app's search on the right page,
  through one distinctive word per file taken from pdfium's own reading of the layer by a
  fixed rule (``distinctive_word``), independent of what the pipeline makes of it;
- OCR is given half a second per page in that run, so that it stays within minutes on two
  cores: most scanned pages end ``ocr_failed`` and their documents ``partial``, which is the
  path of a page that cannot be OCR'd (it fails alone, with a reason). Then four pages of four
  different scans are read again with the production's time limit per page, as a retry
  would, and words that a person reads on them are found by search on those pages.

The database is SQLite only: what is tested is what the pipeline makes of real files, the
same on either database (the job queue on both is tested in tests/test_workers.py).
"""

from __future__ import annotations

import csv
import re
import resource
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili import MeiliClient
from app.meili.managed import Endpoint
from app.models import Document, Page, PageState, TextSource
from app.routes.search import RATE_LIMITER
from app.services.ratelimit import Unlimited
from ingest.index import index_documents
from ingest.process import ProcessOptions, process_pages
from ingest.run import FileOutcome, IngestTarget, ingest_paths
from ingest.source import readable_pdf_path
from ingest.storage import original_path
from tests.conftest import CORPUS, require
from tests.meili_helpers import drop_indexes
from tests.pdfs import layer_texts

FINAL = {"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"}
UNKNOWN_PASSWORD = {
    "pdfjs__saslprep-r6.pdf",
    "pdfminer__aes-256-r6.pdf",
    "pypdf-samples__libreoffice-writer-password.pdf",
    "pypdf__r2-user-password.pdf",
}
BOUND_SECONDS = 15 * 60
BOUND_MEMORY_KIB = int(1.5 * 1024 * 1024)
# Each test may be the one that waits for the module's ingest (run alone, say).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BOUND_SECONDS + 300)]
CORPUS_OCR_SECONDS = 0.5  # per page, for the whole corpus run (see the module docstring)
# The production's time limit for the OCR of one page (READINGROOM_OCR_TIMEOUT_SECONDS).
PRODUCTION_OCR_SECONDS: float = Settings.model_fields["ocr_timeout_seconds"].default

# Pages of four scans (no text layer) and words printed on them, read by a person on each
# page image (rendered by pdfium at 1.2x). The words are in the body type of each page, not in
# a logo, stamp or handwriting, so that any sound OCR of the page finds them, and they are no
# one's personal data (a name, an address: masked in page text until a moderator keeps it,
# ingest/screening.py); two per page, a common word and a rarer one. The scans differ in how
# they were made: an agency's letter under a colour letterhead, a letter scanned sideways
# (/Rotate 270), a skewed two-column flyer in a serif type, a Xerox scan with a signature.
SCAN_PAGES: list[tuple[str, int, tuple[str, ...]]] = [
    ("invinst-cpd__217_Response.pdf", 1, ("spreadsheet", "inaccuracies")),
    ("invinst-cpd__15-6588_Kalven_F.pdf", 1, ("investigator", "electronically")),
    ("ocrmypdf__skew.pdf", 1, ("polyphonic", "synthesizers")),
    ("lucyparsons-1505__FOIA_15-5940.pdf", 1, ("laptops", "forfeited")),
]


# Government files whose distinctive word the search does not find today. Their page is a scan
# with a thin text layer (here only the court's ECF header, where the word is): the page goes
# to OCR, runs out of this run's half second, ends ``ocr_failed`` with its layer as its text,
# and ``ocr_failed`` pages are not sent to the index (ingest/index.py, _INDEXABLE_STATES), so
# the layer's words are stored but cannot be found. Reported in issue 13 (item 9).
NOT_INDEXED_TODAY = {"fl-doctor__gov.uscourts.cand.203070.27.0.pdf"}


def _manifest() -> dict[str, dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


@dataclass(frozen=True)
class CorpusRun:
    settings: Settings
    files: list[Path]
    outcomes: dict[str, FileOutcome]
    seconds: float


@pytest.fixture(scope="module")
def corpus_run(
    tmp_path_factory: pytest.TempPathFactory, meili_endpoint: Endpoint
) -> Iterator[CorpusRun]:
    """The corpus ingested once for this module (SQLite, its own indexes, dropped after)."""
    require((CORPUS / "MANIFEST.tsv").is_file(), f"the corpus is not at {CORPUS}")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("corpus") / "var",
        meili_url=meili_endpoint.url,
        meili_key=SecretStr(meili_endpoint.key),
        index_prefix=f"t{uuid.uuid4().hex[:12]}_",
        ocr_timeout_seconds=CORPUS_OCR_SECONDS,
    )
    migrate.upgrade(settings)
    files = sorted(CORPUS / name for name in _manifest() if (CORPUS / name).exists())
    started = time.monotonic()
    outcomes = ingest_paths(settings, files, IngestTarget(agency="FBI", production="Corpus"))
    seconds = time.monotonic() - started
    try:
        yield CorpusRun(settings, files, {o.name: o for o in outcomes}, seconds)
    finally:
        client = MeiliClient(meili_endpoint.url, meili_endpoint.key)
        drop_indexes(client, settings.index_prefix)
        client.close()


_EDGES = re.compile(r"^\W+|\W+$")  # punctuation around a word: quotes, commas, brackets


def _words(text: str) -> Iterator[str]:
    # Whole words between spaces: a piece of a word hyphenated at the end of a line is not one.
    for raw in text.split():
        word = unicodedata.normalize("NFC", _EDGES.sub("", raw))
        if not raw.endswith("-") and word.isalnum():
            yield word


def distinctive_word(pages: list[str]) -> tuple[str, int] | None:
    """A word of the file found on one page only, and that page (1-based).

    The longest word of 8 letters or more that occurs on one page only; in a file without
    one (a table of figures), the longest number of 5 digits or more on one page only. Ties
    go to the earlier page, then alphabetical order. None if the file has neither.
    """
    on_pages: dict[str, set[int]] = {}
    for number, text in enumerate(pages, 1):
        for word in _words(text):
            on_pages.setdefault(word.lower(), set()).add(number)
    spelled = {w.lower(): w for text in pages for w in _words(text)}

    def best(candidates: list[str]) -> tuple[str, int] | None:
        ranked = sorted(candidates, key=lambda w: (-len(w), min(on_pages[w]), w))
        return (spelled[ranked[0]], min(on_pages[ranked[0]])) if ranked else None

    alone = [w for w, numbers in on_pages.items() if len(numbers) == 1]
    return best([w for w in alone if len(w) >= 8 and w.isalpha()]) or best(
        [w for w in alone if len(w) >= 5 and w.isdigit()]
    )


def _unlimited_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    setattr(app.state, RATE_LIMITER, Unlimited())  # dozens of searches in a row, on purpose
    return app


def _pages_found(web: TestClient, word: str, document_id: int) -> list[int]:
    """The pages of the document on which the app's search finds ``word``."""
    answer = web.get("/search.json", params={"q": word, "document": document_id})
    assert answer.status_code == 200, answer.text
    return [p["number"] for hit in answer.json()["documents"] for p in hit["pages"]]


def test_every_corpus_file_ends_in_a_final_state_with_a_reason(corpus_run: CorpusRun) -> None:
    manifest = _manifest()
    settings, by_name = corpus_run.settings, corpus_run.outcomes
    assert corpus_run.seconds < BOUND_SECONDS
    assert set(by_name) == {f.name for f in corpus_run.files}
    for name, outcome in by_name.items():
        assert outcome.state in FINAL, name
        if outcome.state not in {"indexed", "duplicate"}:
            assert outcome.reason, f"{name} ended {outcome.state} without a reason"
        if outcome.state in {"indexed", "partial"}:
            assert outcome.pages > 0, name
        row = manifest[name]
        if name in UNKNOWN_PASSWORD:
            assert outcome.state == "encrypted", name
        elif row["kind"] == "government" and row["pages"].isdigit():
            assert outcome.state in {"indexed", "partial"}, (name, outcome.reason)
            assert outcome.pages == int(row["pages"]), name
    assert by_name["fl-doctor__empty.pdf"].state == "failed"
    assert by_name["pdfjs__Pages-tree-refs.pdf"].state == "failed"  # cyclic page tree

    with session_scope(settings) as session:
        for document in session.scalars(select(Document)):
            # Nothing a user sent is lost: every original is stored, byte for byte.
            stored = original_path(settings.files_dir, document.sha256)
            source = CORPUS / document.original_filename
            assert stored.read_bytes() == source.read_bytes(), document.original_filename
        # Each page was read and committed once: no job redid a page.
        counts = Counter(session.scalars(select(Page.write_count)))
        assert set(counts) == {1}, counts

    # Bounded memory: this process and every child it waited for (repair and OCR workers).
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_self < BOUND_MEMORY_KIB
    assert peak_children < BOUND_MEMORY_KIB
    print(
        f"corpus: {len(corpus_run.files)} files, {sum(o.pages for o in by_name.values())} "
        f"pages in {corpus_run.seconds:.0f} s; peak RSS {peak_self // 1024} MiB (self), "
        f"{peak_children // 1024} MiB (children)"
    )


def test_every_government_text_layer_is_found_by_search_on_its_page(
    corpus_run: CorpusRun,
) -> None:
    government = [
        name
        for name, row in _manifest().items()
        if row["kind"] == "government" and row["has_text_layer"] == "yes"
    ]
    assert len(government) >= 30  # the corpus's text-layer government files, every one
    missed = set()
    with TestClient(_unlimited_app(corpus_run.settings)) as web:
        for name in government:
            chosen = distinctive_word(layer_texts(CORPUS / name))
            assert chosen is not None, f"{name}: no distinctive word in its text layer"
            word, page = chosen
            found = _pages_found(web, word, corpus_run.outcomes[name].document_id)
            if page not in found:
                missed.add(name)
                print(f"not found: {word!r} on page {page} of {name} (found on {found})")
    # Exactly these, so that the list goes as soon as the index finds them.
    assert missed == NOT_INDEXED_TODAY


def _read_again(settings: Settings, document_id: int, number: int) -> tuple[list[int], float]:
    """What a retry's page-range job does with a page that ran out of time: read it again."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        started = time.monotonic()
        done = process_pages(
            session,
            settings,
            document,
            readable_pdf_path(settings, document.sha256),
            None,
            range(number, number + 1),
            ProcessOptions(),
        )
        return done, time.monotonic() - started


def test_corpus_scans_are_ocrd_within_the_production_time_limit_and_found(
    corpus_run: CorpusRun, meili: MeiliClient
) -> None:
    settings = corpus_run.settings.model_copy(
        update={"ocr_timeout_seconds": PRODUCTION_OCR_SECONDS}
    )
    ids = {name: corpus_run.outcomes[name].document_id for name, _, _ in SCAN_PAGES}
    # Two pages at a time, one per core, as the pool of one job would read them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda item: _read_again(settings, ids[item[0]], item[1]), SCAN_PAGES))
    with session_scope(settings) as session:
        for (name, number, _), (done, _seconds) in zip(SCAN_PAGES, runs, strict=True):
            assert done == [number], f"{name} page {number} was not left to be read again"
            page = session.scalars(
                select(Page).where(Page.document_id == ids[name], Page.number == number)
            ).one()
            assert page.state is PageState.EXTRACTED, (name, page.state_reason)
            assert page.text_source is TextSource.OCR, name
        index_documents(meili, settings, session, list(ids.values()))
    with TestClient(_unlimited_app(settings)) as web:
        for name, number, words_read in SCAN_PAGES:
            for word in words_read:
                found = _pages_found(web, word, ids[name])
                assert number in found, (name, number, word, found)
    print("real OCR of corpus scan pages: " + ", ".join(f"{t:.1f} s" for _, t in runs))
