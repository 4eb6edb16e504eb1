"""The whole real-world corpus through ingest: no crash, no hang, every file in a final state.

Every PDF of ../shared/corpus (FOIA productions, scans, court records, encrypted, broken and
hostile files) goes through the real pipeline in one production. OCR is given half a second
per page here so the run stays within minutes on two cores: most scanned pages then end
``ocr_failed`` and their documents ``partial``, which exercises exactly the path this test is
about (a page that cannot be OCR'd fails alone, with a reason). Full OCR quality is tested by
tests/test_findability.py and the demo production.
"""

from __future__ import annotations

import csv
import resource
import time

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Document
from ingest.run import IngestTarget, ingest_paths
from ingest.storage import original_path
from tests.conftest import CORPUS

FINAL = {"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"}
UNKNOWN_PASSWORD = {
    "pdfjs__saslprep-r6.pdf",
    "pdfminer__aes-256-r6.pdf",
    "pypdf-samples__libreoffice-writer-password.pdf",
    "pypdf__r2-user-password.pdf",
}
BOUND_SECONDS = 15 * 60
BOUND_MEMORY_KIB = int(1.5 * 1024 * 1024)


def _manifest() -> dict[str, dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


@pytest.mark.slow
@pytest.mark.timeout(BOUND_SECONDS + 300)
def test_every_corpus_file_ends_in_a_final_state_with_a_reason(
    migrated_settings: Settings,
) -> None:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"the corpus is not at {CORPUS}")
    manifest = _manifest()
    files = sorted(CORPUS / name for name in manifest if (CORPUS / name).exists())
    settings = migrated_settings.model_copy(update={"ocr_timeout_seconds": 0.5})

    started = time.monotonic()
    outcomes = ingest_paths(settings, files, IngestTarget(agency="FBI", production="Corpus"))
    elapsed = time.monotonic() - started

    assert elapsed < BOUND_SECONDS
    by_name = {o.name: o for o in outcomes}
    assert set(by_name) == {f.name for f in files}
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

    # Nothing a user sent is lost: every original is stored, byte for byte.
    with session_scope(settings) as session:
        for document in session.scalars(select(Document)):
            stored = original_path(settings.files_dir, document.sha256)
            source = CORPUS / document.original_filename
            assert stored.read_bytes() == source.read_bytes(), document.original_filename

    # Bounded memory: this process and every child it waited for (repair and OCR workers).
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_self < BOUND_MEMORY_KIB
    assert peak_children < BOUND_MEMORY_KIB
    print(
        f"corpus: {len(files)} files, {sum(o.pages for o in outcomes)} pages in {elapsed:.0f} s; "
        f"peak RSS {peak_self // 1024} MiB (self), {peak_children // 1024} MiB (children)"
    )
