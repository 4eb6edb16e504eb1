"""Findability benchmark: are distinctive words of scanned pages found on their page?

The same scanned pages go to readingroom and to plain tesseract, and both readings are
searched the same way, through the app's ``/search.json`` (issue 10, item 5).

**Pages.** Generated pages of known text (:mod:`bench.scanpages`): 15 documents of 2 to 4
pages, 42 pages of eight kinds mixed within documents (prose, two-column, ruled-table, form,
stamped, redacted, fax, rotated), and real pages of the corpus (kind ``corpus``): the first
two pages of each ``government`` file with a text layer, rendered at 200 DPI grey, kept when
they have at least 12 distinctive words (below). Every page is scanned in two conditions,
``clean`` (the render as it is: 300 DPI grey, 200 DPI bilevel for faxes, stored lossless) and
``degraded`` (grey paper, specks, skew of 0.5 to 3 degrees, blur, sensor noise, JPEG at
quality 40 to 65; faxes thresholded after the damage), and stored as image-only PDFs, one
installation per condition so that a page's words are on one page of the index.

**Truth.** A distinctive word has 5+ letters and is not among wordfreq's 5,000 most common
words (English, and Spanish too for Spanish files). Generated pages: every distinctive word
printed on the page (redacted ones are not printed). Corpus pages: the words of the page's
text layer (pdfium) that wordfreq knows (no hyphenation fragments), appear on no other chosen
page of the file, and show on the render (their boxes neither blank nor solid black, so
that text under a redaction box or in white ink is not expected); 12 drawn with a fixed seed.
Spanish files (``cal-laboral-es__*``) are ingested with ``eng+spa`` and tesseract is given
``-l eng+spa`` for them; every other page ``-l eng``.

**Both sides.** readingroom: the image PDFs through :func:`ingest.run.ingest_paths` (its own
data folder and index prefix, one managed Meilisearch). Plain tesseract: ``tesseract IMAGE
OUT -l eng txt pdf -c textonly_pdf=1`` (default page segmentation, ``OMP_THREAD_LIMIT=1``,
one process per core) on the very image of each page; the PDFs it writes hold its reading as
an invisible text layer over no image, and are ingested into a second installation, so its
text is indexed and searched by the same code. The benchmark checks that the pipeline kept
tesseract's text as it was for every page (a page it would OCR renders blank).

**Scores**, per kind of page and condition: *found*, the share of truth words whose document
is among the results of ``/search.json?q=WORD`` (typo tolerance on, as users have it) with
their page the first listed for it; *exact*, the share present verbatim (case and accents
folded, as a token) in the indexed text of their page, which shows OCR quality without typo
tolerance; and *OCR seconds*: the pages OCR'd by a pool of one process per core, running
:func:`ingest.ocr.ocr_pdf_page` on the image PDFs (the pipeline's per-page OCR) or plain
tesseract on the images (its PDF and text writers cost next to nothing beside recognition).
Wall time is the pool's; per kind, the sum of its pages' seconds.

    python -m bench findability [--quick] [--only KIND,...] [--keep DIR] [--verbose]

Figures go to stdout and to ``bench/results/findability.json``. On a shared machine the OCR
ratio is the figure to trust, not the seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import subprocess
import tempfile
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import wordfreq
from pydantic import SecretStr
from sqlalchemy import select

from app import migrate
from app.config import Settings
from app.db import session_scope
from app.main import create_app
from app.meili.managed import ManagedMeilisearch
from app.models import Page, PageState
from app.routes.search import RATE_LIMITER
from app.services.ratelimit import Unlimited
from bench._results import Row, record, table
from bench.ingest import CORPUS, _section, bench_settings, read_manifest
from bench.scanpages import (
    CONDITIONS,
    KINDS,
    WORD_RE,
    ScanImage,
    common_words,
    plan_production,
    scan_image,
    scan_page,
    words_of,
    write_image_pdf,
)
from ingest.ocr import OcrError, ocr_pdf_page
from ingest.procs import forkserver_context
from ingest.run import IngestTarget, ingest_paths
from ingest.screening import MASK

SEED = "readingroom-findability-bench-1"
CORPUS_KIND = "corpus"
CORPUS_DPI = 200
CORPUS_PAGES_PER_FILE = 2
MIN_LETTERS = 5
TRUTH_WORDS_PER_CORPUS_PAGE = 12  # drawn from the eligible words; pages with fewer are left out
SPANISH_PREFIX = "cal-laboral-es__"
OCR_TIMEOUT = 120.0  # the pipeline's own per-page default (ingest.pages.ExtractOptions)
# Pages per document of the generated production (42 pages); --quick has one page of each
# kind, two to a document, and two corpus files.
DOCUMENT_PAGES = (3, 2, 4, 2, 3, 4, 2, 3, 2, 4, 3, 2, 3, 2, 3)
QUICK_LAYOUT = [[KINDS[i], KINDS[i + 1]] for i in range(0, len(KINDS), 2)]
QUICK_CORPUS_DOCUMENTS = 2

TARGET_CLEAN = 0.97
TARGET_DEGRADED = 0.92
TARGET_TABLES = 0.90
TARGET_OCR_RATIO = 1.6
SIDES = ("readingroom", "tesseract")


# --- the pages -------------------------------------------------------------------------------


@dataclass
class BenchPage:
    """One page of the benchmark and its truth, scanned in each condition."""

    kind: str
    number: int  # 1-based, within its document
    words: list[str]
    scans: dict[str, ScanImage] = field(default_factory=dict)


@dataclass
class BenchDocument:
    """One file of the production, with the languages it is read in."""

    name: str
    languages: str
    pages: list[BenchPage]


def benchmark_layout(seed: str, counts: Sequence[int]) -> list[list[str]]:
    """The kinds of each document's pages: every kind about as often, mixed within documents."""
    kinds = [KINDS[i % len(KINDS)] for i in range(sum(counts))]
    random.Random(f"{seed}:layout").shuffle(kinds)
    layout, start = [], 0
    for count in counts:
        layout.append(kinds[start : start + count])
        start += count
    return layout


def generated_documents(seed: str, quick: bool, only: set[str]) -> list[BenchDocument]:
    """The generated production, scanned in both conditions; ``only`` keeps some kinds.

    The whole production is planned whatever ``only`` says, so a page is the same page with
    the same words in a run of one kind as in a full run.
    """
    layout = QUICK_LAYOUT if quick else benchmark_layout(seed, DOCUMENT_PAGES)
    documents = []
    for generated in plan_production(seed, layout):
        kept = [page for page in generated.pages if page.kind in only]
        if not kept:
            continue
        pages = [
            BenchPage(
                page.kind,
                number,
                page.truth,
                {c: scan_page(generated, page, c, seed) for c in CONDITIONS},
            )
            for number, page in enumerate(kept, start=1)
        ]
        documents.append(BenchDocument(generated.name, "eng", pages))
    return documents


# --- real pages of the corpus ---------------------------------------------------------------


def fold(word: str) -> str:
    """``word`` case-folded and without accents, as Meilisearch compares words."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _layer_words(page: pdfium.PdfPage, render: np.ndarray[Any, Any]) -> tuple[set[str], set[str]]:
    """The words of a page's text layer, and those that show on ``render`` (unrotated).

    A word shows when the box of one of its occurrences on the render holds some ink but is
    not solid: neither blank (white text, text outside the page) nor black (under a box).
    """
    left, _, _, top = page.get_cropbox()
    scale = render.shape[1] / (page.get_cropbox()[2] - left)
    textpage = page.get_textpage()
    every: set[str] = set()
    shown: set[str] = set()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range(0, count) if count else ""
        if len(text) != count:  # characters beyond the BMP: indices no longer line up
            text = ""
        for match in WORD_RE.finditer(text):
            word = match.group().casefold()
            every.add(word)
            if word in shown:
                continue
            boxes = [textpage.get_charbox(i) for i in range(match.start(), match.end())]
            x0 = int((min(b[0] for b in boxes) - left) * scale)
            x1 = int((max(b[2] for b in boxes) - left) * scale) + 1
            y0 = int((top - max(b[3] for b in boxes)) * scale)
            y1 = int((top - min(b[1] for b in boxes)) * scale) + 1
            region = render[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
            if region.size and 0.03 < float((region < 160).mean()) < 0.8:
                shown.add(word)
    finally:
        textpage.close()
    return every, shown


def _eligible(word: str, spanish: bool) -> bool:
    if len(word) < MIN_LETTERS or word in common_words("en"):
        return False
    if spanish and word in common_words("es"):
        return False
    # Known to wordfreq: a real word, not a fragment of a hyphenated one or broken encoding.
    known = wordfreq.get_frequency_dict("en").get(word, 0.0) > 0
    return known or (spanish and wordfreq.get_frequency_dict("es").get(word, 0.0) > 0)


def corpus_documents(corpus: Path, quick: bool) -> list[BenchDocument]:
    """Real pages of the corpus with their truth words, scanned in both conditions.

    The rule: every ``government`` file with a text layer, in name order; its first two pages;
    a page kept when at least 12 of its words are eligible (see the module docstring), of
    which 12 are drawn with a seed of the file and page. Nothing of ``ingest`` is asked.
    """
    documents = []
    for entry in read_manifest(corpus):
        if entry.kind != "government" or entry.text_layer != "yes":
            continue
        spanish = entry.name.startswith(SPANISH_PREFIX)
        pdf = pdfium.PdfDocument(corpus / entry.name)
        try:
            layers, renders = [], []
            for index in range(min(CORPUS_PAGES_PER_FILE, len(pdf))):
                page = pdf[index]
                try:
                    rotation = page.get_rotation()
                    page.set_rotation(0)  # character boxes are in unrotated page space
                    flat = page.render(scale=CORPUS_DPI / 72, grayscale=True).to_pil()
                    layers.append(_layer_words(page, np.asarray(flat.convert("L"))))
                    page.set_rotation(rotation)
                    scan = flat
                    if rotation:
                        scan = page.render(scale=CORPUS_DPI / 72, grayscale=True).to_pil()
                    renders.append(scan.convert("L"))
                finally:
                    page.close()
        finally:
            pdf.close()
        pages: list[BenchPage] = []
        for index, (_, shown) in enumerate(layers):
            elsewhere = set().union(*(w for i, (w, _) in enumerate(layers) if i != index))
            eligible = sorted(w for w in shown - elsewhere if _eligible(w, spanish))
            if len(eligible) < TRUTH_WORDS_PER_CORPUS_PAGE:
                continue
            rng = random.Random(f"{SEED}:{entry.name}:{index}")
            words = rng.sample(eligible, TRUTH_WORDS_PER_CORPUS_PAGE)
            scans = {
                c: scan_image(
                    renders[index],
                    c,
                    random.Random(f"{SEED}:{c}:{entry.name}:{index}"),
                    dpi=CORPUS_DPI,
                )
                for c in CONDITIONS
            }
            pages.append(BenchPage(CORPUS_KIND, len(pages) + 1, words, scans))
        if pages:
            documents.append(BenchDocument(entry.name, "eng+spa" if spanish else "eng", pages))
    if quick:
        step = max(1, len(documents) // QUICK_CORPUS_DOCUMENTS)
        documents = documents[step // 2 :: step][:QUICK_CORPUS_DOCUMENTS]
    return documents


# --- OCR, both sides -------------------------------------------------------------------------


@dataclass(frozen=True)
class PageJob:
    """One page to OCR: in its image PDF (the pipeline) and as its image (tesseract)."""

    document: str
    number: int
    kind: str
    languages: str
    pdf: Path
    image: Path
    tesseract_out: Path  # tesseract writes <this>.txt and <this>.pdf

    def tesseract_file(self, suffix: str) -> Path:
        # Not with_suffix: corpus file names hold dots ("gov.uscourts.cacd.798862.49.4").
        return self.tesseract_out.parent / f"{self.tesseract_out.name}{suffix}"


def write_condition(
    documents: Sequence[BenchDocument], condition: str, folder: Path
) -> list[PageJob]:
    """Write each document's image PDF and each page's image file for one condition."""
    for name in ("pdf", "images", "tesseract"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    jobs = []
    for document in documents:
        pdf = write_image_pdf(
            folder / "pdf" / document.name, [p.scans[condition] for p in document.pages]
        )
        stem = Path(document.name).stem
        for page in document.pages:
            scan = page.scans[condition]
            image = folder / "images" / f"{stem}-p{page.number}{scan.suffix}"
            image.write_bytes(scan.data)  # the very bytes the PDF embeds (or its pixels)
            out = folder / "tesseract" / f"{stem}-p{page.number}"
            jobs.append(
                PageJob(document.name, page.number, page.kind, document.languages, pdf, image, out)
            )
    return jobs


def tesseract_page(job: PageJob) -> float:
    """Plain tesseract on one page image, single-threaded; its seconds.

    One recognition, two writers: the text, and a PDF of the text alone (no image) that
    carries its reading into the baseline installation.
    """
    start = time.perf_counter()
    subprocess.run(
        [
            "tesseract",
            str(job.image),
            str(job.tesseract_out),
            "-l",
            job.languages,
            "-c",
            "textonly_pdf=1",
            "txt",
            "pdf",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        timeout=600,
    )
    return time.perf_counter() - start


def pipeline_page(job: PageJob) -> tuple[float, str | None]:
    """The pipeline's per-page OCR on one page of its image PDF: seconds, and any failure."""
    start = time.perf_counter()
    try:
        ocr_pdf_page(job.pdf, job.number - 1, languages=job.languages, timeout=OCR_TIMEOUT)
    except OcrError as exc:
        return time.perf_counter() - start, str(exc)
    return time.perf_counter() - start, None


def _warm(_: int) -> int:
    time.sleep(0.3)  # long enough for the pool to start a process per task
    return os.getpid()


@dataclass
class OcrTiming:
    """A pool's wall time over all the pages of one condition, and each page's seconds."""

    wall: float
    pages: list[float]
    failures: list[str] = field(default_factory=list)


def time_tesseract(jobs: Sequence[PageJob], workers: int) -> OcrTiming:
    """Plain tesseract over the pages, ``workers`` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        seconds = list(pool.map(tesseract_page, jobs))
        return OcrTiming(time.perf_counter() - start, seconds)


def time_pipeline(jobs: Sequence[PageJob], workers: int) -> OcrTiming:
    """:func:`ingest.ocr.ocr_pdf_page` over the pages in a pool of ``workers`` processes.

    The pool's processes are started, and have imported the pipeline, before the clock starts.
    """
    with ProcessPoolExecutor(max_workers=workers, mp_context=forkserver_context()) as pool:
        list(pool.map(_warm, range(workers)))
        start = time.perf_counter()
        outcomes = list(pool.map(pipeline_page, jobs))
        wall = time.perf_counter() - start
    failures = [
        f"{j.document} p{j.number}: {e}" for j, (_, e) in zip(jobs, outcomes, strict=True) if e
    ]
    return OcrTiming(wall, [seconds for seconds, _ in outcomes], failures)


def baseline_pdfs(
    documents: Sequence[BenchDocument], jobs: Sequence[PageJob], folder: Path
) -> dict[str, Path]:
    """Each document as tesseract read it: its pages' text-only PDFs joined, same file name."""
    folder.mkdir(parents=True, exist_ok=True)
    by_document: dict[str, list[PageJob]] = {}
    for job in jobs:
        by_document.setdefault(job.document, []).append(job)
    paths = {}
    for document in documents:
        joined = pikepdf.Pdf.new()
        parts = [pikepdf.open(j.tesseract_file(".pdf")) for j in by_document[document.name]]
        try:
            for part in parts:
                joined.pages.extend(part.pages)
            joined.save(folder / document.name)
        finally:
            for part in parts:
                part.close()
        paths[document.name] = folder / document.name
    return paths


# --- ingest and search -----------------------------------------------------------------------


@dataclass
class Installation:
    """One readingroom installation: the pages of one side in one condition."""

    side: str
    condition: str
    settings: Settings
    document_ids: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    texts: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    page_states: dict[tuple[int, int], PageState] = field(default_factory=dict)

    def pages_not_indexed(self) -> list[str]:
        """Pages the pipeline did not put in the index (held back, failed...), for a person."""
        names = {number: name for name, number in self.document_ids.items()}
        return [
            f"{self.side} {self.condition} {names[d]} p{n}: page {state.value}"
            for (d, n), state in sorted(self.page_states.items())
            if state != PageState.INDEXED
        ]


def ingest(
    installation: Installation, documents: Sequence[BenchDocument], pdfs: dict[str, Path]
) -> None:
    """Ingest the documents (a production per language set); read back their pages' text."""
    settings = installation.settings
    migrate.upgrade(settings)
    for languages in sorted({d.languages for d in documents}):
        target = IngestTarget(
            agency="Findability Agency",
            production=f"Findability {installation.condition} {languages}",
            languages=languages,
        )
        paths = [pdfs[d.name] for d in documents if d.languages == languages]
        for outcome in ingest_paths(settings, paths, target):
            installation.document_ids[outcome.name] = outcome.document_id
            installation.states[outcome.state] = installation.states.get(outcome.state, 0) + 1
    ids = list(installation.document_ids.values())
    with session_scope(settings) as session:
        rows = session.execute(
            select(Page.document_id, Page.number, Page.text, Page.text_source, Page.state).where(
                Page.document_id.in_(ids)
            )
        )
        for document_id, number, text, source, state in rows:
            installation.texts[(document_id, number)] = (text or "", str(source))
            installation.page_states[(document_id, number)] = PageState(state)


def search_words(settings: Settings, words: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``/search.json?q=WORD`` for each word, through the app, rate limit off."""
    # Imported here, not at the top: the OCR pool's workers import this module, and need none
    # of the web stack (nor its deprecation warning about httpx, one per worker).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    app = create_app(settings)
    setattr(app.state, RATE_LIMITER, Unlimited())
    answers: dict[str, dict[str, Any]] = {}
    with TestClient(app) as client:
        for word in words:
            if word not in answers:
                response = client.get("/search.json", params={"q": word})
                response.raise_for_status()
                answers[word] = response.json()
    return answers


@dataclass(frozen=True)
class Verdict:
    """How one search for a word went, judged against the word's document and page."""

    found: bool  # its document is among the results, with its page the first listed
    top: bool  # ... and its document is the first listed
    got: str  # what came instead, for a person


def judge(answer: dict[str, Any], document_id: int, page: int) -> Verdict:
    """Judge a ``/search.json`` answer for a word printed on ``page`` of ``document_id``."""
    documents = answer["documents"]
    for rank, document in enumerate(documents):
        if document["id"] == document_id:
            first = document["pages"][0]["number"] if document["pages"] else None
            found = first == page
            got = "" if found else f"its document listed with page {first} first"
            return Verdict(found, found and rank == 0, got)
    if not documents:
        return Verdict(False, False, "no results")
    head = documents[0]
    pages = [p["number"] for p in head["pages"]]
    return Verdict(False, False, f"not listed; first {head['title']!r} pages {pages}")


@dataclass
class WordResult:
    """One truth word, searched on both sides."""

    word: str
    kind: str
    condition: str
    document: str
    page: int
    found: dict[str, bool] = field(default_factory=dict)
    top: dict[str, bool] = field(default_factory=dict)
    exact: dict[str, bool] = field(default_factory=dict)
    got: dict[str, str] = field(default_factory=dict)


def score_installation(
    installation: Installation, documents: Sequence[BenchDocument], results: list[WordResult]
) -> None:
    """Search every truth word of the installation and fill in its side of ``results``."""
    words = [w for d in documents for p in d.pages for w in p.words]
    answers = search_words(installation.settings, words)
    condition = installation.condition
    by_key = {(r.condition, r.document, r.page, r.word): r for r in results}
    side = installation.side
    for document in documents:
        document_id = installation.document_ids[document.name]
        for page in document.pages:
            text, _ = installation.texts.get((document_id, page.number), ("", ""))
            tokens = {fold(t) for t in words_of(text)}
            for word in page.words:
                result = by_key.get((condition, document.name, page.number, word))
                if result is None:
                    result = WordResult(word, page.kind, condition, document.name, page.number)
                    results.append(result)
                    by_key[(condition, document.name, page.number, word)] = result
                verdict = judge(answers[word], document_id, page.number)
                result.found[side] = verdict.found
                result.top[side] = verdict.top
                result.got[side] = verdict.got
                result.exact[side] = fold(word) in tokens


def check_baseline(
    installation: Installation, documents: Sequence[BenchDocument], jobs: Sequence[PageJob]
) -> list[str]:
    """Pages whose indexed text does not hold tesseract's words (should be none).

    Compared as counts of words: pdfium reads the invisible layer in its own order, which
    can differ from tesseract's text file where lines of two columns interleave.
    """
    problems = []
    text_of = {(j.document, j.number): j.tesseract_file(".txt") for j in jobs}
    for document in documents:
        document_id = installation.document_ids.get(document.name)
        for page in document.pages:
            if document_id is None:
                problems.append(f"{document.name}: not ingested")
                break
            indexed, source = installation.texts.get((document_id, page.number), ("", "none"))
            read = text_of[(document.name, page.number)].read_text(errors="replace")
            extra = Counter(words_of(indexed)) - Counter(words_of(read))
            missing = Counter(words_of(read)) - Counter(words_of(indexed))
            # Personal data the safety scan masked (ingest.screening) is gone from the page's
            # text on both sides alike, until a moderator keeps it: not tesseract's fault.
            if extra or (missing and MASK not in indexed):
                problems.append(
                    f"{installation.condition} {document.name} p{page.number}: indexed text "
                    f"({source}) is not tesseract's"
                )
    return problems


# --- the report ------------------------------------------------------------------------------


def _share(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(
    results: Sequence[WordResult],
    documents: Sequence[BenchDocument],
    jobs: dict[str, list[PageJob]],
    timings: dict[str, dict[str, OcrTiming]],
) -> dict[str, Any]:
    """Rows per (kind, condition) and per condition, and the targets met or missed."""
    kinds = [
        k for k in (*KINDS, CORPUS_KIND) if any(p.kind == k for d in documents for p in d.pages)
    ]
    rows: list[dict[str, Any]] = []

    def row(
        label: str, condition: str, words: list[WordResult], pages: int, seconds: dict[str, float]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "kind": label,
            "condition": condition,
            "pages": pages,
            "words": len(words),
        }
        for side in SIDES:
            values[f"{side}_found"] = _share([w.found[side] for w in words])
            values[f"{side}_top"] = _share([w.top[side] for w in words])
            values[f"{side}_exact"] = _share([w.exact[side] for w in words])
            values[f"{side}_ocr_seconds"] = seconds[side]
        values["ocr_ratio"] = seconds["readingroom"] / seconds["tesseract"]
        return values

    for condition in CONDITIONS:
        for kind in kinds:
            page_seconds = {
                side: sum(
                    s
                    for j, s in zip(jobs[condition], timings[condition][side].pages, strict=True)
                    if j.kind == kind
                )
                for side in SIDES
            }
            pages = sum(1 for j in jobs[condition] if j.kind == kind)
            words = [r for r in results if r.condition == condition and r.kind == kind]
            rows.append(row(kind, condition, words, pages, page_seconds))
    overall = []
    for condition in CONDITIONS:
        words = [r for r in results if r.condition == condition]
        walls = {side: timings[condition][side].wall for side in SIDES}
        overall.append(row("all", condition, words, len(jobs[condition]), walls))
    total_walls = {side: sum(timings[c][side].wall for c in CONDITIONS) for side in SIDES}
    ratio = total_walls["readingroom"] / total_walls["tesseract"]
    return {"rows": rows, "overall": overall, "ocr_seconds": total_walls, "ocr_ratio": ratio}


def summary_rows(summary: dict[str, Any] | None) -> list[Row]:
    """The figures recorded for ``bench/results`` (``bench._results``), each with its target."""
    if not summary:
        return []
    base = "plain tesseract"

    def found(measure: str, r: dict[str, Any], goal: float) -> Row:
        return Row(
            f"found, {measure} ({r['words']} words)",
            r["readingroom_found"],
            baseline=r["tesseract_found"],
            target=f">= {goal}",
            met=r["readingroom_found"] >= goal,
            baseline_name=base,
        )

    rows = [
        found(
            f"{r['condition']}, all kinds, {r['pages']} p",
            r,
            TARGET_CLEAN if r["condition"] == "clean" else TARGET_DEGRADED,
        )
        for r in summary["overall"]
    ]
    rows += [
        found(f"ruled tables {r['condition']}", r, TARGET_TABLES)
        for r in summary["rows"]
        if r["kind"] == "ruled-table"
    ]
    below = [
        f"{r['kind']} {r['condition']}"
        for r in summary["rows"]
        if r["readingroom_found"] < r["tesseract_found"]
    ]
    count = len(summary["rows"])
    rows.append(
        Row(
            f"kinds x conditions found at or above {base}",
            count - len(below),
            target=f"all {count}" + (f" (below: {', '.join(below)})" if below else ""),
            met=not below,
        )
    )
    for r in summary["overall"]:
        rows.append(
            Row(
                f"exact word in page text (typos off), {r['condition']}",
                r["readingroom_exact"],
                baseline=r["tesseract_exact"],
                baseline_name=base,
            )
        )
    seconds = summary["ocr_seconds"]
    rows.append(
        Row(
            "OCR wall s, all pages, both conditions (one process per core)",
            seconds["readingroom"],
            baseline=seconds["tesseract"],
            target=f"<= {TARGET_OCR_RATIO}x",
            met=summary["ocr_ratio"] <= TARGET_OCR_RATIO,
            unit="s",
            baseline_name=base,
        )
    )
    return rows


def report(summary: dict[str, Any]) -> str:
    """The table: a row per kind and condition, the overall rows, then the targets."""
    head = (
        f"{'kind':<12} {'cond':<9} {'pages':>5} {'words':>5}  {'found rr':>8} {'tess':>6}"
        f"  {'exact rr':>8} {'tess':>6}  {'OCR s rr':>8} {'tess':>6} {'ratio':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in [*summary["rows"], *summary["overall"]]:
        if r["kind"] == "all" and r["condition"] == CONDITIONS[0]:
            lines.append("-" * len(head))
        lines.append(
            f"{r['kind']:<12} {r['condition']:<9} {r['pages']:>5} {r['words']:>5}"
            f"  {r['readingroom_found']:>8.3f} {r['tesseract_found']:>6.3f}"
            f"  {r['readingroom_exact']:>8.3f} {r['tesseract_exact']:>6.3f}"
            f"  {r['readingroom_ocr_seconds']:>8.1f} {r['tesseract_ocr_seconds']:>6.1f}"
            f" {r['ocr_ratio']:>5.2f}x"
        )
    lines.append("")
    lines.append(
        "found: share of words whose page is the first listed for their document in "
        "/search.json (typos on);"
    )
    lines.append(
        "exact: share present verbatim in the indexed text of their page; OCR s: per "
        "kind the sum of page seconds,"
    )
    lines.append("overall the pool's wall time (one process per core).")
    for r in summary["overall"]:
        lines.append(
            f"  {r['condition']}: word's document listed first too: readingroom "
            f"{r['readingroom_top']:.3f}, tesseract {r['tesseract_top']:.3f}"
        )
    return "\n".join(lines)


def misses(results: Sequence[WordResult]) -> str:
    """Every word a side did not find, with what came first instead."""
    lines = []
    for side in SIDES:
        missed = [r for r in results if not r.found[side]]
        lines.append(f"missed by {side}: {len(missed)}")
        lines.extend(
            f"  {r.word:<14} {r.kind:<11} {r.condition:<8} {r.document} p{r.page}: "
            f"{r.got[side]}{'' if r.exact[side] else ' (not in its page text)'}"
            for r in missed
        )
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> int:
    """Build the pages, OCR them on both sides, ingest, search; fill ``results``."""
    only = set(args.only)
    workers = args.workers
    with _section(results, "pages"):
        documents = generated_documents(SEED, args.quick, only)
        if CORPUS_KIND in only:
            documents += corpus_documents(args.corpus, args.quick)
    if not documents:
        print("no pages to measure")
        return 2
    print(
        f"{len(documents)} documents, {sum(len(d.pages) for d in documents)} pages, "
        f"{sum(len(p.words) for d in documents for p in d.pages)} words a condition",
        flush=True,
    )
    jobs = {c: write_condition(documents, c, work / c) for c in CONDITIONS}
    # Untimed warm-up: language data into the page cache for both languages.
    tesseract_page(jobs[CONDITIONS[0]][0])

    timings: dict[str, dict[str, OcrTiming]] = {}
    with _section(results, "OCR timing"):
        for position, condition in enumerate(CONDITIONS):
            # Mirrored order (A B, B A): a load that drifts weighs on both sides alike.
            order = SIDES if position % 2 == 0 else SIDES[::-1]
            timings[condition] = {}
            for side in order:
                time_side = time_tesseract if side == "tesseract" else time_pipeline
                timings[condition][side] = time_side(jobs[condition], workers)
                print(
                    f"  OCR {condition:<8} {side:<11} {timings[condition][side].wall:6.1f} s",
                    flush=True,
                )

    managed = ManagedMeilisearch(bench_settings(work / "meili"))
    endpoint = managed.acquire()
    word_results: list[WordResult] = []
    problems: list[str] = []
    installations: list[Installation] = []
    try:
        with _section(results, "ingest and search"):
            for condition in CONDITIONS:
                pdfs = {
                    "readingroom": {d.name: work / condition / "pdf" / d.name for d in documents},
                    "tesseract": baseline_pdfs(
                        documents, jobs[condition], work / condition / "baseline"
                    ),
                }
                for side in SIDES:
                    settings = bench_settings(
                        work / f"{side}-{condition}",
                        meili_url=endpoint.url,
                        meili_key=SecretStr(endpoint.key),
                        index_prefix=f"findability_{side}_{condition}_",
                    )
                    installation = Installation(side, condition, settings)
                    start = time.perf_counter()
                    ingest(installation, documents, pdfs[side])
                    ingested = time.perf_counter() - start
                    score_installation(installation, documents, word_results)
                    searched = time.perf_counter() - start - ingested
                    print(
                        f"  {side:<11} {condition:<8} ingest {ingested:5.1f} s, search "
                        f"{searched:4.1f} s, documents {installation.states}",
                        flush=True,
                    )
                    installations.append(installation)
                    if set(installation.states) != {"indexed"}:
                        problems.append(
                            f"{side} {condition}: documents ended {installation.states}"
                        )
                    problems += installation.pages_not_indexed()
                    if side == "tesseract":
                        problems += check_baseline(installation, documents, jobs[condition])
    finally:
        managed.release()
    for condition in CONDITIONS:
        problems += timings[condition]["readingroom"].failures

    summary = summarise(word_results, documents, jobs, timings)
    results["summary"] = summary
    results["documents"] = [
        {
            "name": d.name,
            "languages": d.languages,
            "pages": [{"kind": p.kind, "number": p.number, "words": p.words} for p in d.pages],
        }
        for d in documents
    ]
    results["words"] = [vars(r) for r in word_results]
    results["problems"] = problems
    print()
    print(report(summary))
    print()
    print(table(summary_rows(summary)))
    if args.verbose:
        print()
        print(misses(word_results))
    if problems:
        print("\nPROBLEMS (the figures above may not mean what they say):")
        print("\n".join(f"  {p}" for p in problems))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run the findability benchmark, print its table, write ``bench/results/findability.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench findability", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="8 generated pages, 2 corpus files")
    parser.add_argument(
        "--only",
        type=lambda value: [k.strip() for k in value.split(",") if k.strip()],
        default=[*KINDS, CORPUS_KIND],
        help=f"comma-separated kinds of page: {', '.join([*KINDS, CORPUS_KIND])} (default: all)",
    )
    parser.add_argument("--keep", type=Path, help="keep images, PDFs and installations here")
    parser.add_argument("--verbose", action="store_true", help="list every missed word")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="OCR processes")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of MANIFEST.tsv")
    args = parser.parse_args(argv)
    if unknown := set(args.only) - {*KINDS, CORPUS_KIND}:
        parser.error(f"unknown kind(s): {', '.join(sorted(unknown))}")

    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "quick": args.quick,
        "only": args.only,
        "workers": args.workers,
    }
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        status = run(args, args.keep, results)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-findability-") as tmp:
            status = run(args, Path(tmp), results)
    results["seconds"] = time.perf_counter() - started
    loads = ", ".join(
        f"{name} {s['load_before']:.1f}->{s['load_after']:.1f}"
        for name, s in results.get("sections", {}).items()
    )
    print(f"\n{results['seconds']:.0f} s in all; load average {loads}")
    path = record("findability", summary_rows(results.get("summary")), results)
    print(f"figures written to {path}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
