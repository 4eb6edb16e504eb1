"""Ingest benchmark: the pipeline against plain tools, on the same files, in one process.

Three measures, each printed beside its baseline and its target (issue 3, item 12):

- **Born-digital pages per second**, file to pages committed in the database, through
  :func:`ingest.run.ingest_paths` (intake, open, text layer, markings, SQLite commit, and the
  indexing the pipeline does between documents), against ``pdftotext file -`` run on the same
  PDFs one after the other. The files are the corpus's ``government`` PDFs with a text layer
  (less those where the pipeline would OCR a page: pdftotext does no OCR) and a generated
  production of born-digital email and memo pages. A thread polls the database and the
  pages index every 50 ms, so one run gives both "file to DB" and "file to searchable" (the
  moment Meilisearch holds every page record). Target: at least 0.5x pdftotext.
- **OCR pages per minute**, through :func:`ingest.ocr.ocr_pages_parallel` (one worker per
  core; each renders its page at 300 DPI grey and OCRs it, asking OSD for the orientation
  only when the first reading is poor), against plain
  ``tesseract page.png -`` with ``OMP_THREAD_LIMIT=1``, one process per core, on the same
  corpus scans rendered once at 300 DPI grey to PNG. Also measured on those PNGs, to tell the
  costs apart: tesseract with an orientation (OSD) run before each page, and the pipeline's
  OCR function itself. Target: at least 0.9x the baseline, judged on the pipeline *including*
  its render, which is what a user waits for.
- **Peak memory** of ingesting each corpus file in a child process: the child and every
  process below it (PDF-open helper, forkserver, OCR workers, tesseract) sampled from
  ``/proc`` every 100 ms, RSS summed (PSS too). Meilisearch is one shared server outside the
  trees and is reported on its own. Hostile files must end in a final state; a crash or a
  hang is reported, never raised. By default a long real document is cut to two pages, its
  first and its largest (OCR costs about 2 s a page on 2 cores; every page of the corpus would
  take over 12 minutes); hostile files are always taken whole, and ``--full`` takes every
  file whole. Target: under 1.5 GiB on every file.

    python -m bench.ingest [--quick] [--full] [--only born-digital,ocr,memory] [--jobs 2]

Figures go to stdout and to ``bench/results/ingest.json`` (git-ignored). The machine's load
average before and after each measure is recorded beside it: on a shared machine the ratios
(baseline and pipeline run back to back) are more trustworthy than the absolute figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import logging
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import PIL.Image
import pypdfium2 as pdfium
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select

from app import migrate
from app.config import PROJECT_ROOT, Settings
from app.db import session_scope
from app.meili import MeiliClient, MeiliError
from app.meili.managed import ManagedMeilisearch
from app.models import Page, PageState
from ingest.extract.layout import scan_layout
from ingest.extract.text import clean_text
from ingest.ocr import OCR_DPI, OcrError, needs_ocr, ocr_image, ocr_pages_parallel
from ingest.procs import forkserver_context
from ingest.render import render_page
from ingest.run import IngestTarget, ingest_paths

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"

BORN_DIGITAL_RATIO_TARGET = 0.5
OCR_RATIO_TARGET = 0.9
MEMORY_TARGET_BYTES = int(1.5 * 1024**3)
GENERATED_PAGES = 2000
GENERATED_PAGES_QUICK = 300
# Long real documents are cut to this many pages for the memory pass (see module docstring).
MEMORY_PAGES = 2
MEMORY_PAGES_QUICK = 1
MEMORY_SAMPLE_SECONDS = 0.1
CHILD_TIMEOUT_SECONDS = 600.0
# Kinds of corpus file that are measured whole whatever their length: their hostility is in
# their structure, which a cut copy (re-saved by pdfium) would not keep.
HOSTILE_KINDS = frozenset({"broken", "encrypted", "synthetic-test"})

# Scanned pages (file, 0-based page) for the OCR measure: typed and typewritten FOIA
# responses, a court filing, a financial disclosure, a table; none has a text layer.
OCR_PAGES: tuple[tuple[str, int], ...] = (
    ("lucyparsons-1505__CPD_FOIA15-7385.pdf", 0),
    ("fl-xray__gov.uscourts.caed.338083.91.0.pdf", 3),
    ("lucyparsons-1505__FOIA_15-3569_FINAL_PART_1.pdf", 2),
    ("fl-disclosure__2014-sample.pdf", 0),
    ("lucyparsons-1505__CPD_FOIA16-0584.pdf", 0),
    ("lucyparsons-1505__16-0006_Donahue.pdf", 1),
    ("invinst-cpd__unit_names.pdf", 0),
    ("lucyparsons-1505__CPD_FOIA15-6955REDACTED.pdf", 2),
    ("lucyparsons-1505__CPD_FOIA15-7385.pdf", 5),
    ("fl-xray__gov.uscourts.caed.338083.91.0.pdf", 10),
    ("lucyparsons-1505__CPD_FOIA14-5298_Response.pdf", 4),
    ("lucyparsons-1505__PenLink_QUO-04689-V8Y5D0Redacted.pdf", 1),
)
OCR_PAGES_QUICK = 4
OSD_MAX_SIDE = 1700  # as ingest.ocr scales a page for orientation detection

TARGET = IngestTarget(agency="Benchmark Agency", production="Benchmark release")
log = logging.getLogger(__name__)


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusFile:
    """One row of the corpus MANIFEST."""

    name: str
    kind: str
    pages: int | None  # None when the manifest's reader could not open the file
    text_layer: str  # yes, no, partial, n/a


def read_manifest(corpus: Path) -> list[CorpusFile]:
    """The corpus files listed in ``MANIFEST.tsv``, in file name order."""
    with (corpus / "MANIFEST.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files = [
        CorpusFile(
            row["file"],
            row["kind"],
            int(row["pages"]) if row["pages"].isdigit() else None,
            row["has_text_layer"],
        )
        for row in rows
    ]
    return sorted(files, key=lambda f: f.name)


def pages_needing_ocr(path: Path) -> int:
    """How many pages of a PDF the pipeline's own rule would send to OCR."""
    pdf = pdfium.PdfDocument(path)
    try:
        count = 0
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    text = clean_text(textpage.get_text_bounded())
                finally:
                    textpage.close()
                coverage = scan_layout(page).image_coverage
            finally:
                page.close()
            count += needs_ocr(text, image_coverage=coverage)[0]
        return count
    finally:
        pdf.close()


def page_count(path: Path) -> int:
    """Number of pages pdfium reads in a PDF."""
    pdf = pdfium.PdfDocument(path)
    try:
        return len(pdf)
    finally:
        pdf.close()


# --- a generated born-digital production ---------------------------------------------------

_PROSE = (
    "the of and to in a is that for on with as by this be are from at or an was will have not "
    "it which all their has were been other its any these such may would should must also "
    "agency office department division unit staff personnel officer director deputy assistant "
    "request records release response review determination appeal exemption withheld redacted "
    "privacy law enforcement investigation program contract vendor invoice payment purchase "
    "order agreement amendment meeting schedule briefing memorandum report summary attached "
    "draft final policy guidance procedure training equipment system database access account "
    "license software hardware camera surveillance detention facility transfer custody case "
    "file number date time location district field headquarters regional national federal "
    "state county city public information communication email telephone message subject "
    "following regarding pursuant section paragraph provided received requested approved "
    "reviewed identified included responsive documents pages material sensitive confidential "
    "official internal external partner operation operational analysis analytics data "
    "retention storage security classification handling dissemination coordination compliance "
    "oversight audit inspection findings recommendations corrective action budget fiscal year "
    "quarter month week morning afternoon discussed confirmed scheduled updated previously "
    "additional further current pending completed issued signed submitted forwarded reply "
    "thanks please questions contact regards team members supervisors management leadership"
)
_WORDS = _PROSE.split()
_EXEMPTIONS = ("(b)(5)", "(b)(6)", "(b)(7)(C)", "(b)(7)(E)", "(b)(6); (b)(7)(C)")
# A realistic production: many short records, some long ones (sizes in pages, repeated).
_DOCUMENT_SIZES = (2, 5, 1, 12, 3, 40, 8, 150, 4, 25)
_LINE_HEIGHT = 13.5
_MARGIN = 72.0


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 22))]
    return " ".join(words).capitalize() + "."


def _draw_page(canvas: Canvas, rng: random.Random, bates: str, heading: list[str]) -> None:
    """One page of an email or memo printout: heading lines, paragraphs, a Bates stamp."""
    width, height = letter
    y = height - _MARGIN
    canvas.setFont("Helvetica-Bold", 11)
    for line in heading:
        canvas.drawString(_MARGIN, y, line)
        y -= _LINE_HEIGHT
    canvas.setFont("Helvetica", 11)
    while y > _MARGIN + 3 * _LINE_HEIGHT:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))
        for line in simpleSplit(paragraph, "Helvetica", 11, width - 2 * _MARGIN):
            if y <= _MARGIN + _LINE_HEIGHT:
                break
            canvas.drawString(_MARGIN, y, line)
            y -= _LINE_HEIGHT
        y -= _LINE_HEIGHT / 2
        if rng.random() < 0.08 and y > _MARGIN + 3 * _LINE_HEIGHT:
            # A redacted passage: a black box with its exemption, as agencies print them.
            canvas.rect(_MARGIN, y - 2 * _LINE_HEIGHT, 300, 2 * _LINE_HEIGHT, stroke=0, fill=1)
            canvas.drawString(_MARGIN + 310, y - _LINE_HEIGHT, rng.choice(_EXEMPTIONS))
            y -= 3 * _LINE_HEIGHT
    canvas.setFont("Helvetica-Bold", 10)
    canvas.drawRightString(width - 40, 32, bates)


def generate_born_digital(out_dir: Path, total_pages: int, *, seed: int = 12) -> list[Path]:
    """Write a production of born-digital PDFs with ``total_pages`` pages in all.

    Deterministic for a seed. Pages hold about 440 words of email and memo prose and a Bates
    stamp; about 45% of them also carry a redaction box with its exemption code, as the
    pages of a heavily redacted release do.
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    written = 0
    while written < total_pages:
        size = min(_DOCUMENT_SIZES[len(paths) % len(_DOCUMENT_SIZES)], total_pages - written)
        path = out_dir / f"BENCH-{written + 1:06d}.pdf"
        canvas = Canvas(str(path), pagesize=letter, invariant=True)
        subject = " ".join(rng.choice(_WORDS) for _ in range(5)).title()
        for number in range(size):
            heading = (
                [
                    "From: Records Division",
                    f"Sent: {dt.date(2021, 1, 1) + dt.timedelta(days=len(paths)):%A, %B %d, %Y}",
                    "To: Field Operations",
                    f"Subject: {subject}",
                    "",
                ]
                if number == 0
                else []
            )
            _draw_page(canvas, rng, f"BENCH-{written + number + 1:06d}", heading)
            canvas.showPage()
        canvas.save()
        paths.append(path)
        written += size
    return paths


# --- born-digital throughput ---------------------------------------------------------------


@dataclass
class Throughput:
    """Pages processed in a time."""

    pages: int
    seconds: float

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a fresh installation in ``data_dir``, whatever READINGROOM_* says.

    Explicit values win over the environment: a developer's own database, Meilisearch or
    broker must never receive benchmark data, and the in-process pool is what is measured.
    """
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": None,
        "meili_url": None,
        "meili_key": None,
        "broker_url": None,
        "index_prefix": "bench_",
        "workers": 0,
    }
    return Settings(**(values | overrides))


def time_pdftotext(paths: Sequence[Path], pages: int) -> Throughput:
    """Run ``pdftotext file -`` on each file in turn, reading its output, timed end to end."""
    start = time.perf_counter()
    for path in paths:
        subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, timeout=300)
    return Throughput(pages, time.perf_counter() - start)


def _committed_pages(settings: Settings) -> int:
    """Pages whose reading is committed (any state past ``pending``)."""
    with session_scope(settings) as session:
        query = select(func.count()).select_from(Page).where(Page.state != PageState.PENDING)
        return int(session.scalar(query) or 0)


@dataclass
class IngestRun:
    """One ingest_paths call, timed from its start by polling the database and the index."""

    pages: int
    seconds_to_committed: float
    seconds_to_searchable: float
    seconds_returned: float
    states: dict[str, int]


def time_ingest(
    settings: Settings, client: MeiliClient, paths: Sequence[Path], pages: int, before: int
) -> IngestRun:
    """Ingest ``paths``, noting when the database, then the index, hold all their pages.

    ``before`` is how many pages the database and the index held already. A thread polls
    both every 50 ms (SQLite in WAL mode lets it read while ingest writes): the first
    moment the database has every page committed is "file to DB", the first moment the
    pages index counts them all is "file to searchable".
    """
    reached: dict[str, float] = {}
    done = threading.Event()

    def poll(start: float) -> None:
        while not done.is_set() and len(reached) < 2:
            now = time.perf_counter() - start
            if "db" not in reached and _committed_pages(settings) >= before + pages:
                reached["db"] = now
            if "db" in reached and "index" not in reached:
                with contextlib.suppress(MeiliError):  # the index appears only mid-run
                    if client.count_documents(settings.pages_index) >= before + pages:
                        reached["index"] = now
            time.sleep(0.05)

    start = time.perf_counter()
    poller = threading.Thread(target=poll, args=(start,), daemon=True)
    poller.start()
    outcomes = ingest_paths(settings, paths, TARGET)
    returned = time.perf_counter() - start
    # Every page is committed and indexed once ingest_paths returns: the poller sees it at its
    # next round. If it does not, a page went missing, and the figure stays NaN.
    poller.join(timeout=5)
    done.set()
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
        if outcome.state != "indexed":
            log.warning("%s ended %s: %s", outcome.name, outcome.state, outcome.reason)
    nan = float("nan")
    return IngestRun(pages, reached.get("db", nan), reached.get("index", nan), returned, states)


def born_digital_files(corpus: Path, files: Sequence[CorpusFile]) -> tuple[list[Path], list[str]]:
    """The corpus's government PDFs with a text layer, less those the pipeline would OCR."""
    kept, left_out = [], []
    for entry in files:
        if entry.kind != "government" or entry.text_layer != "yes":
            continue
        path = corpus / entry.name
        ocr = pages_needing_ocr(path)
        if ocr:
            left_out.append(f"{entry.name} ({ocr} page(s) need OCR)")
        else:
            kept.append(path)
    return kept, left_out


def bench_born_digital(
    corpus: Path, files: Sequence[CorpusFile], work: Path, quick: bool
) -> dict[str, Any]:
    """Born-digital pages per second, file to DB and file to searchable, against pdftotext."""
    real, left_out = born_digital_files(corpus, files)
    generated = generate_born_digital(
        work / "generated", GENERATED_PAGES_QUICK if quick else GENERATED_PAGES
    )
    settings = bench_settings(work / "born-digital")
    migrate.upgrade(settings)
    # Hold a lease on the managed Meilisearch so that it is already up, as under `serve`, and
    # stays up between the runs (ingest_paths joins it and releases only its own lease).
    managed = ManagedMeilisearch(settings)
    endpoint = managed.acquire()
    client = MeiliClient(endpoint.url, endpoint.key)
    rows: list[dict[str, Any]] = []
    held = 0
    try:
        for label, paths in (("corpus government", real), ("generated", generated)):
            pages = sum(page_count(p) for p in paths)
            base = time_pdftotext(paths, pages)
            run = time_ingest(settings, client, paths, pages, held)
            held += pages
            committed = Throughput(pages, run.seconds_to_committed)
            rows.append(
                {
                    "set": label,
                    "files": len(paths),
                    "pages": pages,
                    "pdftotext_seconds": base.seconds,
                    "pdftotext_pages_per_second": base.pages_per_second,
                    "seconds_to_committed": run.seconds_to_committed,
                    "committed_pages_per_second": committed.pages_per_second,
                    "ratio": committed.pages_per_second / base.pages_per_second,
                    "seconds_to_searchable": run.seconds_to_searchable,
                    "seconds_ingest_returned": run.seconds_returned,
                    "states": run.states,
                }
            )
        # A record counts once a search finds it: ask for the exact total of an empty query.
        answer = client.search(settings.pages_index, {"q": "", "hitsPerPage": 1, "page": 1})
        verified = int(answer["totalHits"])
    finally:
        client.close()
        managed.release()
    base_all = Throughput(sum(r["pages"] for r in rows), sum(r["pdftotext_seconds"] for r in rows))
    committed_all = Throughput(base_all.pages, sum(r["seconds_to_committed"] for r in rows))
    searchable_all = Throughput(base_all.pages, sum(r["seconds_to_searchable"] for r in rows))
    ratio = committed_all.pages_per_second / base_all.pages_per_second
    return {
        "files": len(real) + len(generated),
        "pages": base_all.pages,
        "left_out": left_out,
        "sets": rows,
        "pdftotext_pages_per_second": base_all.pages_per_second,
        "committed_pages_per_second": committed_all.pages_per_second,
        "ratio": ratio,
        "target_ratio": BORN_DIGITAL_RATIO_TARGET,
        "meets_target": ratio >= BORN_DIGITAL_RATIO_TARGET,
        "seconds_to_searchable": searchable_all.seconds,
        "searchable_pages_per_second": searchable_all.pages_per_second,
        "searchable_pages_verified": verified,
    }


# --- OCR throughput ----------------------------------------------------------------------------


def _tesseract(image: Path, *, osd: bool = False) -> None:
    """Plain tesseract on one image, single-threaded; with ``osd``, an orientation run first.

    The OSD run reads ``<image>.osd.png``, the page scaled as the pipeline scales it for OSD.
    """
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    if osd:
        subprocess.run(
            ["tesseract", str(image.with_suffix(".osd.png")), "-", "--psm", "0", "-l", "osd"],
            check=False,  # OSD fails on pages with little text; the pipeline carries on too
            capture_output=True,
            env=env,
            timeout=300,
        )
    subprocess.run(
        ["tesseract", str(image), "-", "-l", "eng"],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )


def _per_minute(pages: int, seconds: float) -> float:
    return 60 * pages / seconds if seconds else 0.0


def bench_ocr(corpus: Path, work: Path, quick: bool) -> dict[str, Any]:
    """OCR pages per minute: the pipeline against plain tesseract on the same 300 DPI pages."""
    workers = os.cpu_count() or 1
    chosen = OCR_PAGES[:OCR_PAGES_QUICK] if quick else OCR_PAGES
    jobs = [(corpus / name, index) for name, index in chosen]
    images_dir = work / "ocr-images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images: list[Path] = []
    render_seconds = 0.0
    for number, (path, index) in enumerate(jobs):
        start = time.perf_counter()
        image = render_page(path, index, dpi=OCR_DPI, grey=True)
        render_seconds += time.perf_counter() - start
        image.save(images_dir / f"{number:02d}.png")
        images.append(images_dir / f"{number:02d}.png")
        # The pipeline runs OSD on the page scaled down to this size (ingest.ocr._OSD_MAX_SIDE).
        image.thumbnail((OSD_MAX_SIDE, OSD_MAX_SIDE))
        image.save(images_dir / f"{number:02d}.osd.png")

    # Untimed warm-up: language data into the page cache, and the forkserver started (both
    # pools below share it, as every document of one ingest run does).
    _tesseract(images[0])
    context = forkserver_context()
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(os.getpid).result()

    # The pipeline's OCR function itself is also run on the same images, decoded beforehand
    # and sent straight to ingest.ocr, so its workers import what the pipeline's import.
    decoded = [PIL.Image.open(image) for image in images]
    for image in decoded:
        image.load()
    failures: list[str] = []

    def plain() -> None:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            list(threads.map(_tesseract, images))

    def plain_with_osd() -> None:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            list(threads.map(lambda image: _tesseract(image, osd=True), images))

    def on_images() -> None:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            list(pool.map(ocr_image, decoded))

    def pipeline() -> None:
        failures.extend(
            str(outcome)
            for _, outcome in ocr_pages_parallel(jobs, workers=workers)
            if isinstance(outcome, OcrError)
        )

    variants = {
        "tesseract": plain,
        "tesseract_osd": plain_with_osd,
        "on_images": on_images,
        "pipeline": pipeline,
    }
    # Every variant runs twice, in mirrored order (A B C D D C B A): a load that drifts while
    # the measure runs weighs on all of them alike instead of on whichever ran last.
    seconds = dict.fromkeys(variants, 0.0)
    for name in [*variants, *reversed(variants)]:
        start = time.perf_counter()
        variants[name]()
        seconds[name] += time.perf_counter() - start
    seconds = {name: value / 2 for name, value in seconds.items()}

    rate = {name: _per_minute(len(jobs), value) for name, value in seconds.items()}
    ratio = rate["pipeline"] / rate["tesseract"]
    return {
        "pages": len(jobs),
        "workers": workers,
        "render_ms_per_page": 1000 * render_seconds / len(jobs),
        "tesseract_pages_per_minute": rate["tesseract"],
        "tesseract_with_osd_pages_per_minute": rate["tesseract_osd"],
        "pipeline_on_images_pages_per_minute": rate["on_images"],
        "pipeline_on_images_ratio": rate["on_images"] / rate["tesseract"],
        "pipeline_pages_per_minute": rate["pipeline"],
        "ratio": ratio,
        "compared": "ocr_pages_parallel (render, OCR, OSD if poor) vs tesseract CLI on the PNGs",
        "target_ratio": OCR_RATIO_TARGET,
        "meets_target": ratio >= OCR_RATIO_TARGET,
        "failures": sorted(set(failures)),
    }


# --- peak memory -------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # gone between listing and reading
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int, int]:
    """RSS and PSS (bytes) summed over ``root`` and all its descendants, and their count."""
    children = _children_map()
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    rss = sum(_status_kib(pid, "VmRSS") for pid in pids)
    pss = sum(_pss_kib(pid) for pid in pids)
    return rss * 1024, pss * 1024, len(pids)


@dataclass
class FileMemory:
    """What ingesting one corpus file cost in memory and time, and how it ended."""

    name: str
    kind: str
    pages: int | None
    measured_pages: int | None
    seconds: float
    peak_tree_rss_bytes: int = 0
    peak_tree_pss_bytes: int = 0
    max_processes: int = 0
    max_single_rss_bytes: int = 0  # ru_maxrss of the child and the descendants it reaped
    exit: str = "ok"
    states: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _pages_to_keep(source: Path, count: int) -> list[int]:
    """The first page and then the largest ones: where rendering and OCR cost most memory."""
    pdf = pdfium.PdfDocument(source)
    try:
        areas = []
        for index in range(len(pdf)):
            width, height = pdf.get_page_size(index)
            areas.append((-(width * height), index))
    finally:
        pdf.close()
    largest = [index for _, index in sorted(areas) if index != 0]
    return sorted([0, *largest[: count - 1]])


def _cut_copy(source: Path, count: int, out: Path) -> Path:
    """A copy of ``count`` pages of a PDF (see :func:`_pages_to_keep`), re-saved by pdfium."""
    keep = _pages_to_keep(source, count)
    src = pdfium.PdfDocument(source)
    dst = pdfium.PdfDocument.new()
    try:
        dst.import_pages(src, keep)
        dst.save(out)
    finally:
        dst.close()
        src.close()
    return out


# What the child runs: the pipeline alone, settings from the environment as the CLI reads them.
# It imports nothing of this module, so neither it nor the OCR forkserver carries the bench's
# own imports, and the memory measured is the pipeline's.
_CHILD = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from app.config import Settings
from ingest.run import IngestTarget, ingest_paths
target = IngestTarget(agency="Benchmark Agency", production="Memory")
outcomes = ingest_paths(Settings(), [Path(sys.argv[1])], target)
print(json.dumps([asdict(outcome) for outcome in outcomes]))
"""


def _run_child(
    path: Path, env: dict[str, str], logs: Path, timeout: float, result: FileMemory
) -> None:
    """Ingest one file in a child process, sampling its process tree until it ends."""
    # Output to files, not pipes: nothing to drain while the tree is sampled.
    out_path, err_path = logs / f"{path.name}.out", logs / f"{path.name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # one process group: a hung tree can be killed as a whole
        )
    start = time.perf_counter()
    while True:
        # wait4 rather than Popen.wait: it also returns the child's resource usage.
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        rss, pss, count = tree_memory(process.pid)
        result.peak_tree_rss_bytes = max(result.peak_tree_rss_bytes, rss)
        result.peak_tree_pss_bytes = max(result.peak_tree_pss_bytes, pss)
        result.max_processes = max(result.max_processes, count)
        if time.perf_counter() - start > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            result.exit = f"killed after {timeout:.0f} s (hang)"
            break
        time.sleep(MEMORY_SAMPLE_SECONDS)
    process.returncode = os.waitstatus_to_exitcode(status)
    result.seconds = time.perf_counter() - start
    result.max_single_rss_bytes = usage.ru_maxrss * 1024  # kilobytes on Linux
    # OCR workers may outlive a crashed parent: nothing of this group may linger.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if result.exit == "ok" and process.returncode != 0:
        tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
        result.exit = f"exit {process.returncode}: {' | '.join(tail)}"
    with contextlib.suppress(ValueError):
        answer = json.loads(out_path.read_text(errors="replace").strip() or "[]")
        result.states = [o["state"] for o in answer]
        result.reasons = [o["reason"] or "" for o in answer]


FINAL_STATES = frozenset({"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"})


def bench_memory(
    corpus: Path, files: Sequence[CorpusFile], work: Path, max_pages: int | None, jobs: int
) -> dict[str, Any]:
    """Peak memory of ingesting every corpus file, one child process per file.

    ``jobs`` children run at a time; each tree is sampled on its own, so the figures are per
    file whatever runs beside it (only the times stretch).
    """
    data_dir = work / "memory"
    settings = bench_settings(data_dir, index_prefix="benchmem_")
    migrate.upgrade(settings)
    cuts, logs = work / "memory-cuts", work / "memory-logs"
    cuts.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    # One shared Meilisearch outside the measured trees, as a server would be.
    managed = ManagedMeilisearch(bench_settings(work / "memory-meili"))
    endpoint = managed.acquire()
    # Only the values given here: a developer's own READINGROOM_* (a database URL, a broker)
    # must not redirect the children.
    env = {k: v for k, v in os.environ.items() if not k.startswith("READINGROOM_")} | {
        "READINGROOM_DATA_DIR": str(data_dir),
        "READINGROOM_MEILI_URL": endpoint.url,
        "READINGROOM_MEILI_KEY": endpoint.key,
        "READINGROOM_INDEX_PREFIX": "benchmem_",
    }

    # Cut copies are made here, before any thread starts: pdfium is not thread-safe.
    inputs: list[tuple[CorpusFile, Path, int | None]] = []
    for entry in files:
        long_real = entry.kind not in HOSTILE_KINDS and (entry.pages or 0) > (max_pages or 0)
        if max_pages is not None and long_real:
            inputs.append(
                (entry, _cut_copy(corpus / entry.name, max_pages, cuts / entry.name), max_pages)
            )
        else:
            inputs.append((entry, corpus / entry.name, entry.pages))

    def measure(item: tuple[CorpusFile, Path, int | None]) -> FileMemory:
        entry, path, measured = item
        result = FileMemory(entry.name, entry.kind, entry.pages, measured, 0.0)
        _run_child(path, env, logs, CHILD_TIMEOUT_SECONDS, result)
        states = ",".join(result.states) or "-"
        trouble = "" if result.exit == "ok" else result.exit
        print(
            f"  {_gib(result.peak_tree_rss_bytes):5.2f} GiB {result.seconds:6.1f} s "
            f"{states:<10} {entry.name} {trouble}",
            flush=True,
        )
        return result

    try:
        # The first file alone: it creates the agency and production rows, which concurrent
        # first ingests on one database race to insert (the loser fails on the unique slug).
        results = [measure(inputs[0])]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results.extend(pool.map(measure, inputs[1:]))
        meili_hwm = _status_kib(_meili_pid(managed), "VmHWM") * 1024
    finally:
        managed.release()
    worst = max(results, key=lambda r: r.peak_tree_rss_bytes)
    problems = [
        r.name for r in results if r.exit != "ok" or not r.states or set(r.states) - FINAL_STATES
    ]
    return {
        "files": len(results),
        "max_pages_per_file": max_pages,
        "parallel_children": jobs,
        "peak_tree_rss_bytes": worst.peak_tree_rss_bytes,
        "peak_file": worst.name,
        "peak_tree_pss_bytes": max(r.peak_tree_pss_bytes for r in results),
        "max_single_process_rss_bytes": max(r.max_single_rss_bytes for r in results),
        "meilisearch_peak_rss_bytes": meili_hwm,
        "target_bytes": MEMORY_TARGET_BYTES,
        "meets_target": worst.peak_tree_rss_bytes < MEMORY_TARGET_BYTES and not problems,
        "not_final": problems,
        "states": {
            state: sum(r.states.count(state) for r in results)
            for state in sorted({s for r in results for s in r.states})
        },
        "per_file": [asdict(r) for r in results],
    }


def _meili_pid(managed: ManagedMeilisearch) -> int:
    try:
        state = json.loads((managed.dir / "instance.json").read_text())
        return int(state["pid"])
    except (OSError, ValueError, KeyError):
        return 0


# --- report ------------------------------------------------------------------------------------


def _gib(value: float) -> float:
    return value / 1024**3


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(results: dict[str, Any]) -> str:
    """The figures as a plain table, one line per measure, baseline and ratio beside it."""
    lines = [f"{'measure':<46} {'pipeline':>10} {'baseline':>10} {'ratio':>7}  target"]

    def row(name: str, ours: str, base: str = "", ratio: str = "", target: str = "") -> None:
        lines.append(f"{name:<46} {ours:>10} {base:>10} {ratio:>7}  {target}".rstrip())

    if born := results.get("born_digital"):
        for item in born["sets"]:
            row(
                f"born-digital pages/s to DB, {item['set']} ({item['pages']} p)",
                f"{item['committed_pages_per_second']:.1f}",
                f"{item['pdftotext_pages_per_second']:.0f}",
                f"{item['ratio']:.2f}x",
            )
        row(
            f"born-digital pages/s to DB, all ({born['pages']} p)",
            f"{born['committed_pages_per_second']:.1f}",
            f"{born['pdftotext_pages_per_second']:.0f}",
            f"{born['ratio']:.2f}x",
            f">= {born['target_ratio']}x {_verdict(born['meets_target'])}",
        )
        row(
            "  ingest start to all searchable, s",
            f"{born['seconds_to_searchable']:.1f}",
            target=f"({born['searchable_pages_per_second']:.1f} pages/s; "
            f"{born['searchable_pages_verified']} pages found by search)",
        )
    if ocr := results.get("ocr"):
        row(
            f"OCR pages/min incl. render ({ocr['pages']} p)",
            f"{ocr['pipeline_pages_per_minute']:.1f}",
            f"{ocr['tesseract_pages_per_minute']:.1f}",
            f"{ocr['ratio']:.2f}x",
            f">= {ocr['target_ratio']}x {_verdict(ocr['meets_target'])}",
        )
        row(
            "  tesseract CLI with an OSD run first",
            "",
            f"{ocr['tesseract_with_osd_pages_per_minute']:.1f}",
        )
        row(
            "  pipeline OCR (ocr_image) on the same PNGs",
            f"{ocr['pipeline_on_images_pages_per_minute']:.1f}",
            f"{ocr['tesseract_pages_per_minute']:.1f}",
            f"{ocr['pipeline_on_images_ratio']:.2f}x",
        )
    if memory := results.get("memory"):
        row(
            f"peak memory of one file, GiB ({memory['files']} files)",
            f"{_gib(memory['peak_tree_rss_bytes']):.2f}",
            target=f"< {_gib(memory['target_bytes']):.1f} {_verdict(memory['meets_target'])} "
            f"({memory['peak_file']})",
        )
        row(
            "  tree PSS; largest process; Meilisearch",
            f"{_gib(memory['peak_tree_pss_bytes']):.2f}",
            f"{_gib(memory['max_single_process_rss_bytes']):.2f}",
            f"{_gib(memory['meilisearch_peak_rss_bytes']):.2f}",
        )
        row("  final states", ", ".join(f"{k} {v}" for k, v in memory["states"].items()))
        if memory["not_final"]:
            lines.append(f"  NOT in a final state: {', '.join(memory['not_final'])}")
    return "\n".join(lines)


@contextlib.contextmanager
def _section(results: dict[str, Any], name: str) -> Iterator[None]:
    # The machine may be shared: the load beside each figure says how far to trust it.
    print(f"{name} ...", flush=True)
    load, start = os.getloadavg()[0], time.perf_counter()
    yield
    results.setdefault("sections", {})[name] = {
        "seconds": time.perf_counter() - start,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the ingest benchmark, print its table and write ``bench/results/ingest.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer pages everywhere")
    parser.add_argument(
        "--full", action="store_true", help="memory pass on whole files (much longer)"
    )
    parser.add_argument(
        "--only",
        default="born-digital,ocr,memory",
        help="comma-separated measures to run: born-digital, ocr, memory (default: all)",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="corpus files ingested at once in the memory pass"
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of MANIFEST.tsv")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",")}
    if unknown := only - {"born-digital", "ocr", "memory"}:
        parser.error(f"unknown measure(s): {', '.join(sorted(unknown))}")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    files = read_manifest(args.corpus)
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "quick": args.quick,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        if "born-digital" in only:
            with _section(results, "born-digital throughput"):
                results["born_digital"] = bench_born_digital(args.corpus, files, work, args.quick)
        if "ocr" in only:
            with _section(results, "OCR throughput"):
                results["ocr"] = bench_ocr(args.corpus, work, args.quick)
        if "memory" in only:
            max_pages = None if args.full else MEMORY_PAGES_QUICK if args.quick else MEMORY_PAGES
            with _section(results, f"peak memory, {len(files)} corpus files"):
                results["memory"] = bench_memory(args.corpus, files, work, max_pages, args.jobs)
    results["seconds"] = time.perf_counter() - started
    print()
    print(report(results))
    loads = ", ".join(
        f"{name} {section['load_before']:.1f}->{section['load_after']:.1f}"
        for name, section in results.get("sections", {}).items()
    )
    print(f"\n{results['seconds']:.0f} s in all; load average {loads}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
