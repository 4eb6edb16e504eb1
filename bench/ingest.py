"""Ingest benchmark: the pipeline against plain tools, on the same files and the same cores.

Four measures; each prints its rows beside its baseline, their ratio and its target, and
records them (``bench/_results.py``):

- **Born-digital throughput**, through :func:`ingest.run.ingest_paths` in this process
  (intake, open, text layer, markings, commit, indexing), against ``pdftotext file -`` on
  the same PDFs, at each core count: the pipeline with one worker (``READINGROOM_WORKERS=1``)
  against one ``pdftotext`` after the other, and the pipeline on every core against one
  ``pdftotext`` per core. Two clocks: file to pages committed in the database, and file to
  pages searchable (every record in Meilisearch, its tasks done). Three sets, each its own
  row: the **corpus's text-layer pages**, every page of every corpus file whose manifest
  says ``has_text_layer`` yes or partial, hostile kinds (broken, encrypted, synthetic-test)
  left out: a rule of the manifest, not the pipeline's; the pipeline OCRs the pages of those
  it finds unreadable, which ``pdftotext`` never does, and the count is printed beside the
  figure; a **generated production** of born-digital email and memo pages (Helvetica,
  the easiest input there is); and the same prose as **one-page files**. Target: at least
  0.5x ``pdftotext``, judged on the generated sets, where both sides read text layers only.
- **A small production through the command**: ``readingroom ingest`` on the corpus's 30
  government files with a text layer, as a subprocess, against an already running
  Meilisearch, a fresh data folder each time, median of 3 (``--runs``). Wall time, and CPU
  time of the whole process tree (``bench/_tree.py``: the forkserver and what it started
  included), Meilisearch's CPU apart. Target: wall under 2x the tree's CPU. ``pdftotext`` on
  every core over the same files is printed beside it.
- **OCR pages per minute**, through :func:`ingest.ocr.ocr_pages_parallel` (one worker per
  core; each renders its page at 300 DPI grey and OCRs it, asking OSD for the orientation
  only when the first reading is poor), against plain
  ``tesseract page.png -`` with ``OMP_THREAD_LIMIT=1``, one process per core, on the same
  corpus scans rendered once at 300 DPI grey to PNG. Also measured on those PNGs, to tell the
  costs apart: tesseract with an orientation (OSD) run before each page, and the pipeline's
  OCR function itself. Target: at least 0.9x the baseline, judged on the pipeline *including*
  its render, which is what a user waits for.
- **Peak memory** of ingesting each corpus file whole (every page) in a child process: the
  child and every process below it (PDF-open helper, forkserver, helpers, OCR workers,
  tesseract) sampled from ``/proc`` every 100 ms, PSS summed over the tree (RSS too, which
  counts pages shared between forked processes once per process). Meilisearch is one shared
  server outside the trees and is reported on its own. Hostile files must end in a final
  state; a crash or a hang is reported, never raised. Every file of the corpus takes about
  five minutes on 2 cores (OCR of the scans), part of the default run; ``--quick`` takes only
  the files of at most two pages, unless ``--full``. Target: tree PSS under 1.5 GiB.

    python -m bench ingest [--quick] [--full] [--only born-digital,small,ocr,memory]
                           [--runs 3] [--jobs 2]

Measures run in the order baseline, pipeline, pipeline, baseline (the OCR measure's
variants A B C D D C B A), so that a load that drifts weighs on both sides alike; ``--quick``
runs each once. Figures go to stdout, to ``bench/results/ingest.json`` (git-ignored) and,
through ``python -m bench``, to ``bench/results/latest.json``. The machine's load average before and
after each measure is recorded beside it: on a shared machine the ratios are more trustworthy
than the absolute figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import logging
import os
import random
import signal
import statistics
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
from app.db import engine_for, session_scope
from app.meili import MeiliClient, MeiliError
from app.meili.managed import ManagedMeilisearch
from app.models import Job, Page, PageState
from bench import _tree
from bench._results import Row, record, table
from ingest.ocr import OCR_DPI, OcrError, ocr_image, ocr_pages_parallel
from ingest.procs import forkserver_context
from ingest.render import render_page
from ingest.run import IngestTarget, ingest_paths

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"

BORN_DIGITAL_RATIO_TARGET = 0.5
SMALL_WALL_PER_CPU_TARGET = 2.0
OCR_RATIO_TARGET = 0.9
MEMORY_TARGET_BYTES = int(1.5 * 1024**3)
GENERATED_PAGES = 2000
GENERATED_PAGES_QUICK = 300
ONE_PAGE_FILES = 2000
ONE_PAGE_FILES_QUICK = 200
SMALL_RUNS = 3
# --quick memory pass: files of at most this many pages (and every hostile file).
MEMORY_QUICK_MAX_PAGES = 2
MEMORY_SAMPLE_SECONDS = 0.1
CHILD_TIMEOUT_SECONDS = 600.0
# Kinds of corpus file that are hostile by design: no throughput input, always in the memory
# pass (their hostility is in their structure).
HOSTILE_KINDS = frozenset({"broken", "encrypted", "synthetic-test"})
TEXT_LAYER_VALUES = frozenset({"yes", "partial"})

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


def text_layer_files(files: Sequence[CorpusFile]) -> list[CorpusFile]:
    """Corpus files with a text layer by the manifest (yes or partial), hostile kinds left out.

    The manifest's rule, decided when the corpus was gathered: the pipeline's own OCR decision
    (``needs_ocr``) picks nothing here.
    """
    return [f for f in files if f.text_layer in TEXT_LAYER_VALUES and f.kind not in HOSTILE_KINDS]


def small_production_files(files: Sequence[CorpusFile]) -> list[CorpusFile]:
    """The corpus's government files with a text layer (the manifest says yes)."""
    return [f for f in files if f.kind == "government" and f.text_layer == "yes"]


def page_count(path: Path) -> int:
    """Number of pages pdfium reads in a PDF."""
    pdf = pdfium.PdfDocument(path)
    try:
        return len(pdf)
    finally:
        pdf.close()


def pdftotext_pages_with_text(paths: Sequence[Path]) -> int:
    """Pages whose ``pdftotext`` text is not blank (the form feed ends each page)."""
    count = 0
    for path in paths:
        out = subprocess.run(
            ["pdftotext", str(path), "-"], check=True, capture_output=True, timeout=300
        ).stdout.decode(errors="replace")
        count += sum(1 for text in out.split("\f")[: page_count(path)] if text.strip())
    return count


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


def generate_born_digital(
    out_dir: Path,
    total_pages: int,
    *,
    seed: int = 12,
    sizes: Sequence[int] = _DOCUMENT_SIZES,
) -> list[Path]:
    """Write a production of born-digital PDFs with ``total_pages`` pages in all.

    Deterministic for a seed. Pages hold about 440 words of email and memo prose and a Bates
    stamp; about 45% of them also carry a redaction box with its exemption code, as the
    pages of a heavily redacted release do. Documents take their page counts from ``sizes``
    in turn (``(1,)``: a production of one-page files).
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    written = 0
    while written < total_pages:
        size = min(sizes[len(paths) % len(sizes)], total_pages - written)
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


def time_pdftotext(paths: Sequence[Path], pages: int, processes: int = 1) -> Throughput:
    """``pdftotext file -`` on every file, ``processes`` at a time, output read; timed."""

    def one(path: Path) -> None:
        subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, timeout=300)

    start = time.perf_counter()
    if processes == 1:
        for path in paths:
            one(path)
    else:
        with ThreadPoolExecutor(max_workers=processes) as pool:
            list(pool.map(one, paths))
    return Throughput(pages, time.perf_counter() - start)


def _committed_pages(settings: Settings) -> int:
    """Pages whose reading is committed (any state past ``pending``)."""
    with session_scope(settings) as session:
        query = select(func.count()).select_from(Page).where(Page.state != PageState.PENDING)
        return int(session.scalar(query) or 0)


def job_span(settings: Settings) -> tuple[float, float] | None:
    """When the first job of an installation started and its last job finished (epoch s)."""
    with session_scope(settings) as session:
        query = select(func.min(Job.started_at), func.max(Job.finished_at))
        first, last = session.execute(query).one()
    if first is None or last is None:
        return None
    return _epoch(first), _epoch(last)


def _epoch(moment: dt.datetime) -> float:
    # SQLite hands back naive datetimes; they were written in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def page_census(settings: Settings) -> dict[str, int]:
    """Pages of an installation by state, and how many the pipeline OCR'd (``ocr``)."""
    with session_scope(settings) as session:
        census = {
            state.value: int(count)
            for state, count in session.execute(
                select(Page.state, func.count()).group_by(Page.state)
            )
        }
        ocr = session.scalar(select(func.count()).where(Page.ocr_text.is_not(None)))
    return census | {"ocr": int(ocr or 0)}


@dataclass
class IngestRun:
    """One ingest_paths call on a fresh installation, timed from its start."""

    pages: int
    seconds_to_committed: float
    seconds_to_searchable: float
    seconds_returned: float
    records_in_index: int
    census: dict[str, int]
    states: dict[str, int]


def time_ingest(
    settings: Settings, client: MeiliClient, paths: Sequence[Path], pages: int
) -> IngestRun:
    """Ingest ``paths`` into a fresh installation, noting when its pages are committed and
    when they are searchable.

    A thread polls both every 50 ms (SQLite in WAL mode lets it read while ingest writes):
    the first moment every page is committed is "file to DB"; the first moment the pages
    index holds as many records as it does once ingest_paths has returned (every task done)
    is "file to searchable".
    """
    committed_at: list[float] = []
    counts: list[tuple[float, int]] = []
    done = threading.Event()

    def poll(start: float) -> None:
        while not done.is_set():
            now = time.perf_counter() - start
            if not committed_at and _committed_pages(settings) >= pages:
                committed_at.append(now)
            with contextlib.suppress(MeiliError):  # the index appears only mid-run
                counts.append((now, client.count_documents(settings.pages_index)))
            done.wait(0.05)

    start = time.perf_counter()
    poller = threading.Thread(target=poll, args=(start,), daemon=True)
    poller.start()
    outcomes = ingest_paths(settings, paths, TARGET)
    returned = time.perf_counter() - start
    done.set()
    poller.join()
    records = client.count_documents(settings.pages_index)
    if not committed_at and _committed_pages(settings) >= pages:
        committed_at.append(returned)
    # Records reached before the return show up in the polls; else the return is the moment.
    searchable = min([t for t, n in counts if n >= records] or [returned])
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
        if outcome.state != "indexed":
            log.warning("%s ended %s: %s", outcome.name, outcome.state, outcome.reason)
    return IngestRun(
        pages,
        committed_at[0] if committed_at else float("nan"),
        searchable,
        returned,
        records,
        page_census(settings),
        states,
    )


@dataclass
class SetRun:
    """Every measure of one input set at one core count (seconds averaged over repeats)."""

    cores: int
    pdftotext_seconds: list[float] = field(default_factory=list)
    runs: list[IngestRun] = field(default_factory=list)

    def summary(self, pages: int) -> dict[str, Any]:
        base = Throughput(pages, statistics.fmean(self.pdftotext_seconds))
        committed = Throughput(pages, statistics.fmean(r.seconds_to_committed for r in self.runs))
        searchable = Throughput(pages, statistics.fmean(r.seconds_to_searchable for r in self.runs))
        last = self.runs[-1]
        return {
            "cores": self.cores,
            "pdftotext_seconds": base.seconds,
            "pdftotext_pages_per_second": base.pages_per_second,
            "seconds_to_committed": committed.seconds,
            "committed_pages_per_second": committed.pages_per_second,
            "committed_ratio": committed.pages_per_second / base.pages_per_second,
            "seconds_to_searchable": searchable.seconds,
            "searchable_pages_per_second": searchable.pages_per_second,
            "searchable_ratio": searchable.pages_per_second / base.pages_per_second,
            "records_in_index": last.records_in_index,
            "pages_ocr": last.census["ocr"],
            "census": last.census,
            "states": last.states,
            "repeats": len(self.runs),
            "runs": [asdict(r) for r in self.runs],
        }


def _mirrored(steps: list[tuple[str, int]], quick: bool) -> list[tuple[str, int]]:
    """The steps, then (unless ``quick``) the same in reverse: A B C D D C B A."""
    return steps if quick else [*steps, *reversed(steps)]


def bench_born_digital(
    corpus: Path, files: Sequence[CorpusFile], work: Path, quick: bool
) -> dict[str, Any]:
    """Born-digital pages per second at each core count, file to DB and file to searchable,
    against pdftotext one file after the other and one per core."""
    real = text_layer_files(files)
    sets = {
        "corpus text layer": [corpus / f.name for f in real],
        "generated": generate_born_digital(
            work / "generated", GENERATED_PAGES_QUICK if quick else GENERATED_PAGES
        ),
        "generated one-page files": generate_born_digital(
            work / "one-page", ONE_PAGE_FILES_QUICK if quick else ONE_PAGE_FILES, sizes=(1,)
        ),
    }
    cores = os.cpu_count() or 1
    core_counts = sorted({1, cores})
    # One Meilisearch, up before the runs and between them, as under `serve`; every run gets
    # a fresh data folder and indexes of its own on it.
    managed = ManagedMeilisearch(bench_settings(work / "born-digital-meili"))
    endpoint = managed.acquire()
    client = MeiliClient(endpoint.url, endpoint.key)
    out: list[dict[str, Any]] = []
    number = 0
    try:
        for label, paths in sets.items():
            pages = sum(page_count(p) for p in paths)
            measured = {count: SetRun(count) for count in core_counts}
            steps = [("pdftotext", 1), ("pipeline", 1), ("pipeline", cores), ("pdftotext", cores)]
            for side, count in _mirrored([s for s in steps if s[1] in measured], quick):
                if side == "pdftotext":
                    measured[count].pdftotext_seconds.append(
                        time_pdftotext(paths, pages, count).seconds
                    )
                    continue
                number += 1
                settings = bench_settings(
                    work / f"born-digital-{number}",
                    meili_url=endpoint.url,
                    meili_key=endpoint.key,
                    index_prefix=f"bd{number}_",
                    workers=count,
                )
                migrate.upgrade(settings)
                try:
                    measured[count].runs.append(time_ingest(settings, client, paths, pages))
                finally:
                    engine_for(settings.sqlalchemy_url).dispose()
                    for uid in (settings.pages_index, settings.documents_index):
                        with contextlib.suppress(MeiliError):
                            client.delete_index(uid)  # not waited for
            entry: dict[str, Any] = {"set": label, "files": len(paths), "pages": pages}
            if label == "corpus text layer":
                entry["pdftotext_pages_with_text"] = pdftotext_pages_with_text(paths)
                entry["kinds"] = {
                    kind: sum(1 for f in real if f.kind == kind)
                    for kind in sorted({f.kind for f in real})
                }
            entry["by_cores"] = [measured[count].summary(pages) for count in core_counts]
            out.append(entry)
    finally:
        client.close()
        managed.release()
    return {
        "rule": "corpus: every page of the MANIFEST's files with has_text_layer yes or partial, "
        "kinds broken/encrypted/synthetic-test left out; generated: reportlab Helvetica pages",
        "sets": out,
        "target_ratio": BORN_DIGITAL_RATIO_TARGET,
        "machine_cores": cores,
    }


# --- a small production through the command ------------------------------------------------


def _readingroom_command() -> str:
    """The ``readingroom`` script of this interpreter's environment."""
    return str(Path(sys.executable).with_name("readingroom"))


def bench_small_production(
    corpus: Path, files: Sequence[CorpusFile], work: Path, runs: int
) -> dict[str, Any]:
    """``readingroom ingest`` on the government files with a text layer: wall against CPU."""
    chosen = small_production_files(files)
    paths = [corpus / f.name for f in chosen]
    pages = sum(page_count(p) for p in paths)
    cores = os.cpu_count() or 1
    managed = ManagedMeilisearch(bench_settings(work / "small-meili"))
    endpoint = managed.acquire()
    meili_pid = _meili_pid(managed)
    # What the command sees: its own settings only, whatever the developer's READINGROOM_*.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("READINGROOM_")}
    measured: list[dict[str, Any]] = []
    baseline: list[float] = []
    try:
        for number in range(runs):
            baseline.append(time_pdftotext(paths, pages, cores).seconds)
            data = work / f"small-{number}"
            env = clean | {
                "READINGROOM_DATA_DIR": str(data),
                "READINGROOM_MEILI_URL": endpoint.url,
                "READINGROOM_MEILI_KEY": endpoint.key,
                "READINGROOM_INDEX_PREFIX": f"small{number}_",
            }
            argv = [
                _readingroom_command(),
                "ingest",
                *map(str, paths),
                "--agency",
                TARGET.agency,
                "--production",
                TARGET.production,
                "--json",
            ]
            meili_before = _tree.cpu_seconds(meili_pid)
            began = time.time()
            with _tree.subreaper() as reaping:
                run = _tree.run_command(argv, env, PROJECT_ROOT, timeout=CHILD_TIMEOUT_SECONDS)
            meili_cpu = _tree.cpu_seconds(meili_pid) - meili_before
            if run.returncode != 0:
                tail = run.stderr.decode(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"readingroom ingest exited {run.returncode}: {tail}")
            outcomes = json.loads(run.stdout)
            settings = bench_settings(data, index_prefix=f"small{number}_")
            census = page_census(settings)
            span = job_span(settings)
            engine_for(settings.sqlalchemy_url).dispose()
            # Where the wall time went: start-up (imports, migration, intake) until the first
            # job starts, the jobs, and the tail from the last job's end to the exit.
            phases = (
                {
                    "start_seconds": span[0] - began,
                    "jobs_seconds": span[1] - span[0],
                    "tail_seconds": began + run.wall_seconds - span[1],
                }
                if span
                else {}
            )
            measured.append(
                {
                    "wall_seconds": run.wall_seconds,
                    "tree_cpu_seconds": run.tree_cpu_seconds,
                    "command_cpu_seconds": run.command_cpu_seconds,
                    "meilisearch_cpu_seconds": meili_cpu,
                    "outlived_the_command": run.outlived,
                    "reaped_here": reaping,
                    "states": {
                        s: sum(1 for o in outcomes if o["state"] == s)
                        for s in sorted({o["state"] for o in outcomes})
                    },
                    "census": census,
                    "phases": phases,
                }
            )
            split = " + ".join(f"{k.split('_')[0]} {v:.2f}" for k, v in phases.items())
            print(
                f"  run {number + 1}: {run.wall_seconds:.2f} s wall ({split}), "
                f"{run.tree_cpu_seconds:.2f} s CPU (the command alone "
                f"{run.command_cpu_seconds:.2f} s), Meilisearch {meili_cpu:.2f} s; "
                f"pdftotext x{cores} {baseline[-1]:.2f} s; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        managed.release()
    wall = statistics.median(m["wall_seconds"] for m in measured)
    cpu = statistics.median(m["tree_cpu_seconds"] for m in measured)
    return {
        "files": len(paths),
        "pages": pages,
        "runs": runs,
        "wall_seconds": wall,
        "tree_cpu_seconds": cpu,
        "command_cpu_seconds": statistics.median(m["command_cpu_seconds"] for m in measured),
        "meilisearch_cpu_seconds": statistics.median(
            m["meilisearch_cpu_seconds"] for m in measured
        ),
        "wall_per_cpu": wall / cpu if cpu else float("nan"),
        "target_wall_per_cpu": SMALL_WALL_PER_CPU_TARGET,
        "meets_target": bool(cpu) and wall < SMALL_WALL_PER_CPU_TARGET * cpu,
        "pages_ocr": measured[-1]["census"]["ocr"],
        "tail_seconds": statistics.median(
            m["phases"].get("tail_seconds", float("nan")) for m in measured
        ),
        "pdftotext_cores": cores,
        "pdftotext_seconds": statistics.median(baseline),
        "per_run": measured,
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
        # The pipeline runs OSD on the page scaled down to this size
        # (ingest.ocr.tesseract.OSD_MAX_SIDE).
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


@dataclass
class FileMemory:
    """What ingesting one corpus file cost in memory and time, and how it ended."""

    name: str
    kind: str
    pages: int | None
    seconds: float
    peak_tree_pss_bytes: int = 0
    peak_tree_rss_bytes: int = 0
    max_processes: int = 0
    max_single_rss_bytes: int = 0  # ru_maxrss of the child and the descendants it reaped
    exit: str = "ok"
    states: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


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
        rss, pss, count = _tree.tree_memory(process.pid)
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


def memory_files(files: Sequence[CorpusFile], quick: bool) -> list[CorpusFile]:
    """Every corpus file; with ``quick``, the hostile ones and those of at most two pages."""
    if not quick:
        return list(files)
    return [f for f in files if f.kind in HOSTILE_KINDS or (f.pages or 0) <= MEMORY_QUICK_MAX_PAGES]


def bench_memory(
    corpus: Path, files: Sequence[CorpusFile], work: Path, jobs: int
) -> dict[str, Any]:
    """Peak memory of ingesting each of ``files`` whole, one child process per file.

    ``jobs`` children run at a time; each tree is sampled on its own, so the figures are per
    file whatever runs beside it (only the times stretch).
    """
    data_dir = work / "memory"
    settings = bench_settings(data_dir, index_prefix="benchmem_")
    migrate.upgrade(settings)
    logs = work / "memory-logs"
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

    def measure(entry: CorpusFile) -> FileMemory:
        result = FileMemory(entry.name, entry.kind, entry.pages, 0.0)
        _run_child(corpus / entry.name, env, logs, CHILD_TIMEOUT_SECONDS, result)
        states = ",".join(result.states) or "-"
        trouble = "" if result.exit == "ok" else result.exit
        print(
            f"  PSS {_gib(result.peak_tree_pss_bytes):5.2f} GiB {result.seconds:6.1f} s "
            f"{states:<10} {entry.name} {trouble}",
            flush=True,
        )
        return result

    try:
        # The first file alone: it creates the agency and production rows, which concurrent
        # first ingests on one database race to insert (the loser fails on the unique slug).
        results = [measure(files[0])]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results.extend(pool.map(measure, files[1:]))
        meili_hwm = _tree.status_kib(_meili_pid(managed), "VmHWM") * 1024
    finally:
        managed.release()
        engine_for(settings.sqlalchemy_url).dispose()
    worst = max(results, key=lambda r: r.peak_tree_pss_bytes)
    problems = [
        r.name for r in results if r.exit != "ok" or not r.states or set(r.states) - FINAL_STATES
    ]
    return {
        "files": len(results),
        "pages": sum(r.pages or 0 for r in results),
        "whole_files": True,
        "parallel_children": jobs,
        "sample_seconds": MEMORY_SAMPLE_SECONDS,
        "peak_tree_pss_bytes": worst.peak_tree_pss_bytes,
        "peak_file": worst.name,
        "peak_tree_rss_bytes": max(r.peak_tree_rss_bytes for r in results),
        "max_single_process_rss_bytes": max(r.max_single_rss_bytes for r in results),
        "max_processes": max(r.max_processes for r in results),
        "meilisearch_peak_rss_bytes": meili_hwm,
        "target_bytes": MEMORY_TARGET_BYTES,
        "meets_target": worst.peak_tree_pss_bytes < MEMORY_TARGET_BYTES and not problems,
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


def _pdftotext_name(cores: int) -> str:
    return "pdftotext, one file after another" if cores == 1 else f"pdftotext x{cores} at once"


def rows(results: dict[str, Any]) -> list[Row]:
    """The summary rows of every measure that ran, as printed and recorded."""
    out: list[Row] = []
    if born := results.get("born_digital"):
        for item in born["sets"]:
            judged = item["set"] != "corpus text layer"
            for by in item["by_cores"]:
                label = f"{item['set']} ({item['pages']} p), {by['cores']} core(s)"
                ocr_note = f"; the pipeline OCR'd {by['pages_ocr']} p" if by["pages_ocr"] else ""
                out.append(
                    Row(
                        f"born-digital pages/s to searchable, {label}",
                        by["searchable_pages_per_second"],
                        baseline=by["pdftotext_pages_per_second"],
                        target=f">= {born['target_ratio']}x" if judged else f"none{ocr_note}",
                        met=by["searchable_ratio"] >= born["target_ratio"] if judged else None,
                        unit="pages/s",
                        baseline_name=_pdftotext_name(by["cores"]),
                    )
                )
                out.append(
                    Row(
                        f"  to pages committed, {label}",
                        by["committed_pages_per_second"],
                        baseline=by["pdftotext_pages_per_second"],
                        unit="pages/s",
                    )
                )
    if small := results.get("small_production"):
        out.append(
            Row(
                f"small production, readingroom ingest wall s ({small['files']} files, "
                f"{small['pages']} p, median of {small['runs']})",
                small["wall_seconds"],
                baseline=small["pdftotext_seconds"],
                target=f"wall < {small['target_wall_per_cpu']:.0f}x CPU",
                met=small["meets_target"],
                unit="s",
                baseline_name=_pdftotext_name(small["pdftotext_cores"]),
            )
        )
        out.append(
            Row(
                "  CPU s of the process tree (Meilisearch apart)",
                small["tree_cpu_seconds"],
                ratio=small["wall_per_cpu"],
                target=f"command alone {small['command_cpu_seconds']:.2f} s; Meilisearch "
                f"{small['meilisearch_cpu_seconds']:.2f} s; {small['pages_ocr']} p OCR'd; "
                f"last job to exit {small['tail_seconds']:.2f} s",
                unit="s",
            )
        )
    if ocr := results.get("ocr"):
        out.append(
            Row(
                f"OCR pages/min incl. render ({ocr['pages']} p)",
                ocr["pipeline_pages_per_minute"],
                baseline=ocr["tesseract_pages_per_minute"],
                target=f">= {ocr['target_ratio']}x",
                met=ocr["meets_target"],
                unit="pages/min",
                baseline_name=f"tesseract x{ocr['workers']}",
            )
        )
        out.append(
            Row(
                "  tesseract CLI with an OSD run first",
                None,
                baseline=ocr["tesseract_with_osd_pages_per_minute"],
                unit="pages/min",
            )
        )
        out.append(
            Row(
                "  pipeline OCR (ocr_image) on the same PNGs",
                ocr["pipeline_on_images_pages_per_minute"],
                baseline=ocr["tesseract_pages_per_minute"],
                unit="pages/min",
            )
        )
    if memory := results.get("memory"):
        states = ", ".join(f"{k} {v}" for k, v in memory["states"].items())
        out.append(
            Row(
                f"peak memory of one file whole, tree PSS ({memory['files']} files)",
                _gib(memory["peak_tree_pss_bytes"]),
                target=f"< {_gib(memory['target_bytes']):.1f} GiB ({memory['peak_file']})",
                met=memory["meets_target"],
                unit="GiB",
            )
        )
        out.append(
            Row(
                "  tree RSS summed; largest process; Meilisearch",
                _gib(memory["peak_tree_rss_bytes"]),
                target=f"largest process {_gib(memory['max_single_process_rss_bytes']):.2f} "
                f"GiB; Meilisearch {_gib(memory['meilisearch_peak_rss_bytes']):.2f} GiB; "
                f"{states}",
                unit="GiB",
            )
        )
    return out


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


MEASURES = ("born-digital", "small", "ocr", "memory")


def main(argv: list[str] | None = None) -> int:
    """Run the ingest benchmark, print its rows and record them (``bench/_results.py``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench ingest", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer pages and files everywhere")
    parser.add_argument(
        "--full", action="store_true", help="the memory pass on every corpus file, even --quick"
    )
    parser.add_argument(
        "--only",
        default=",".join(MEASURES),
        help=f"comma-separated measures to run: {', '.join(MEASURES)} (default: all)",
    )
    parser.add_argument(
        "--runs", type=int, default=SMALL_RUNS, help="runs of the small production (median)"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="corpus files ingested at once in the memory pass"
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of MANIFEST.tsv")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",")}
    if unknown := only - set(MEASURES):
        parser.error(f"unknown measure(s): {', '.join(sorted(unknown))}")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    files = read_manifest(args.corpus)
    results: dict[str, Any] = {"quick": args.quick}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        if "born-digital" in only:
            with _section(results, "born-digital throughput"):
                results["born_digital"] = bench_born_digital(args.corpus, files, work, args.quick)
        if "small" in only:
            with _section(results, "small production through readingroom ingest"):
                results["small_production"] = bench_small_production(
                    args.corpus, files, work, max(1, args.runs)
                )
        if "ocr" in only:
            with _section(results, "OCR throughput"):
                results["ocr"] = bench_ocr(args.corpus, work, args.quick)
        if "memory" in only:
            chosen = memory_files(files, args.quick and not args.full)
            with _section(results, f"peak memory, {len(chosen)} corpus files whole"):
                results["memory"] = bench_memory(args.corpus, chosen, work, args.jobs)
    results["seconds"] = time.perf_counter() - started
    summary = rows(results)
    print()
    print(table(summary))
    for name in results.get("memory", {}).get("not_final", []):
        print(f"  NOT in a final state: {name}")
    loads = ", ".join(
        f"{name} {section['load_before']:.1f}->{section['load_after']:.1f}"
        for name, section in results.get("sections", {}).items()
    )
    print(f"\n{results['seconds']:.0f} s in all; load average {loads}")
    print(f"figures written to {record('ingest', summary, results, path=args.output)}")
    return 0 if all(row.met is not False for row in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
