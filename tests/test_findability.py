"""Findability: words printed on scanned pages are found by search, first, on their page.

A small production from the findability benchmark's generator (:mod:`bench.scanpages`): eight
documents of two pages, every kind of page (memo prose, two columns, ruled tables, forms,
stamps over text, redaction boxes, a 200 DPI bilevel fax, a page turned a quarter), every other
page degraded (grey paper, specks, skew up to 3 degrees, blur, noise, JPEG). The documents
share their filler, and near-words (real words one letter away) of some words sit on another
page of the same document and in another document, so that neither the right document nor the
right page is a given. The PDFs are image-only: the only way to their words is OCR. They go
through the real pipeline into a real Meilisearch, and every distinctive word is searched
through ``/search.json``.

A word counts as found when its document is the *first* listed and the first page listed for
it is the word's page: what a person sees who searches a rare word (the benchmark, ``python
-m bench findability``, also reports the looser "document anywhere in the results"). The
required score is what today's pipeline reaches on these pages, a little below; raise it as
OCR improves. The score is printed every run.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest

from app import migrate
from app.config import Settings
from bench.findability import judge, search_words
from bench.scanpages import (
    CLEAN,
    DEGRADED,
    GeneratedDocument,
    common_words,
    plan_production,
    scan_page,
    words_of,
    write_image_pdf,
)
from ingest.run import IngestTarget, ingest_paths

SEED = "readingroom-findability-test-1"
# Every kind, mixed within documents as in real productions; 16 pages, about 230 words.
LAYOUT = (
    ("prose", "ruled-table"),
    ("form", "two-column"),
    ("stamped", "fax"),
    ("redacted", "prose"),
    ("ruled-table", "stamped"),
    ("two-column", "form"),
    ("fax", "redacted"),
    ("prose", "rotated"),
)
# Measured: 229 of 236 words (97.0%) with the pipeline of the working tree of issue 10; two
# points of margin, about one page's words, for a page that times out on a busy machine.
REQUIRED_SCORE = 0.93


@pytest.fixture(scope="module")
def production() -> list[GeneratedDocument]:
    return plan_production(SEED, LAYOUT)


def condition_of(position: int) -> str:
    """Every other page of the production degraded."""
    return DEGRADED if position % 2 else CLEAN


def test_truth_is_what_the_pages_print(production: list[GeneratedDocument]) -> None:
    # The text layer of the vector drawing is what was printed, so it checks the truth.
    on_pages: Counter[str] = Counter()
    for document in production:
        pdf = pdfium.PdfDocument(document.vector_pdf)
        try:
            texts = []
            for index in range(len(pdf)):
                textpage = pdf[index].get_textpage()
                texts.append(set(words_of(textpage.get_text_bounded())))
                textpage.close()
        finally:
            pdf.close()
        for page, printed in zip(document.pages, texts, strict=True):
            on_pages.update(printed)
            assert len(page.truth) >= 10, (document.name, page.number, page.kind)
            assert set(page.truth) <= printed
            assert not set(page.hidden) & printed, "a redacted word was printed"
            assert all(len(w) >= 5 and w not in common_words("en") for w in page.truth)
    truth = [w for d in production for p in d.pages for w in p.truth]
    assert all(on_pages[w] == 1 for w in truth), "a distinctive word on two pages"
    assert any(p.decoys for d in production for p in d.pages)
    assert plan_production(SEED, LAYOUT[:2])[0].pages[0].words == production[0].pages[0].words


def test_scans_are_image_only_pdfs_at_scanner_resolutions(
    production: list[GeneratedDocument], tmp_path: Path
) -> None:
    document = production[2]  # a stamped page, then a fax
    scans = [scan_page(document, page, CLEAN, SEED) for page in document.pages]
    path = write_image_pdf(tmp_path / document.name, scans)
    with pikepdf.open(path) as pdf:
        images = [next(iter(page.images.values())) for page in pdf.pages]
        assert [int(i.BitsPerComponent) for i in images] == [8, 1]
        assert [int(i.Width) for i in images] == [2550, 1700]  # 300 and 200 DPI letter pages
    rendered = pdfium.PdfDocument(path)
    try:
        assert all(rendered[i].get_textpage().get_text_bounded() == "" for i in range(2))
    finally:
        rendered.close()
    degraded = scan_page(document, document.pages[0], DEGRADED, SEED)
    assert degraded.encoding == "jpeg"
    assert degraded.image().size == scans[0].image().size
    assert io.BytesIO(degraded.data).read(2) == b"\xff\xd8"


@pytest.mark.slow
def test_distinctive_words_on_scanned_pages_are_found_first_on_their_page(
    production: list[GeneratedDocument],
    sqlite_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # On SQLite only: what is measured is OCR and search; a second run on PostgreSQL would
    # cost another minute of OCR and measure nothing new.
    migrated_settings = sqlite_settings
    migrate.upgrade(migrated_settings)
    sheets = [(d, p) for d in production for p in d.pages]
    condition = {(d.name, p.number): condition_of(i) for i, (d, p) in enumerate(sheets)}
    paths = [
        write_image_pdf(
            tmp_path / d.name,
            [scan_page(d, p, condition[(d.name, p.number)], SEED) for p in d.pages],
        )
        for d in production
    ]
    outcomes = ingest_paths(
        migrated_settings, paths, IngestTarget(agency="Findability Agency", production="Scans")
    )
    assert [o.state for o in outcomes] == ["indexed"] * len(paths), outcomes
    document_ids = {o.name: o.document_id for o in outcomes}

    printed = [(w, d.name, p) for d, p in sheets for w in p.truth]
    answers = search_words(migrated_settings, [w for w, _, _ in printed])
    missed = []
    for word, name, page in printed:
        verdict = judge(answers[word], document_ids[name], page.number)
        if not verdict.top:
            where = verdict.got or "its document listed, not first"
            how = f"{page.kind} {condition[(name, page.number)]}"
            missed.append(f"{word} ({how}, {name} p{page.number}): {where}")

    score = 1 - len(missed) / len(printed)
    with capsys.disabled():  # the score is the figure the issue asks for: show it every run
        print(f"\nfindability: {len(printed) - len(missed)}/{len(printed)} = {score:.1%}")
        for line in missed:
            print(f"  missed: {line}")
    assert score >= REQUIRED_SCORE, missed
