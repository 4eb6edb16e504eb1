"""Why clean scans lost words: ways of reading the same real pages, side by side.

The corpus pages of the findability benchmark (``bench.findability.corpus_documents``: the
first two pages of every ``government`` file with a text layer, rendered at 200 DPI, 12 truth
words each, clean and degraded) are read in several ways, each with one tesseract process per
core (``OMP_THREAD_LIMIT=1``), and each reading is scored by the share of truth words found
in it verbatim (case and accents folded, as tokens). Nothing is searched: this isolates how
the page was read from how the index ranks it.

Ways of reading (``--variants``):

- ``tesseract``: plain tesseract on the page image as scanned (the findability baseline);
- ``rendered-300``: the image PDF rendered at 300 DPI by pdfium, then plain tesseract; what
  readingroom's pipeline version 1 gave tesseract for every scan;
- ``psm4``, ``psm6``, ``psm11``: plain tesseract, another page segmentation mode for the page;
- ``sauvola``: plain tesseract with Sauvola's local threshold (``thresholding_method=2``);
- ``prepared``: the pipeline's preparation (``ingest.ocr.prepare``: straightened, ruled lines
  and leaders painted out, threshold chosen by the paper) and one tesseract reading;
- ``pipeline``: the pipeline's OCR of the page (``ingest.ocr.ocr_pdf_page``: the above, plus
  orientation and the second pass).

    python -m bench ocr_readings [--quick] [--variants tesseract,pipeline,...]

By default (as ``make bench`` runs it) the four variants that tell the story, on every page;
``--quick`` takes two files. Figures go to stdout and ``bench/results/ocr_readings.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench._results import RESULTS_DIR, Row, record, table
from bench.findability import PageJob, corpus_documents, fold, write_condition
from bench.ingest import CORPUS
from bench.scanpages import CONDITIONS, WORD_RE, render_pdf_page
from ingest.ocr import ocr_pdf_page
from ingest.ocr.prepare import THRESHOLDS, prepare
from ingest.procs import forkserver_context

ALL_VARIANTS = (
    "tesseract",
    "rendered-300",
    "psm4",
    "psm6",
    "psm11",
    "sauvola",
    "prepared",
    "pipeline",
)
DEFAULT_VARIANTS = ("tesseract", "rendered-300", "prepared", "pipeline")
RESULTS = RESULTS_DIR / "ocr_readings.json"


def _tesseract(image: Path, languages: str, *options: str) -> str:
    done = subprocess.run(
        ["tesseract", str(image), "-", "-l", languages, *options],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        timeout=600,
    )
    return done.stdout


def _on_image(image: Image.Image, languages: str, *options: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=".tif") as handle:
        image.save(handle.name, format="TIFF")
        return _tesseract(Path(handle.name), languages, *options)


def _read(variant: str, job: PageJob) -> str:
    """The text of one page, read the ``variant`` way."""
    if variant == "tesseract":
        return _tesseract(job.image, job.languages)
    if variant in ("psm4", "psm6", "psm11"):
        return _tesseract(job.image, job.languages, "--psm", variant[3:])
    if variant == "sauvola":
        return _tesseract(job.image, job.languages, "-c", "thresholding_method=2")
    if variant == "rendered-300":
        return _on_image(render_pdf_page(job.pdf, job.number - 1, 300), job.languages)
    if variant == "prepared":
        prepared = prepare(Image.open(job.image).convert("L"))
        config = THRESHOLDS[prepared.threshold].split()
        return _on_image(prepared.image, job.languages, *config)
    if variant == "pipeline":
        return ocr_pdf_page(job.pdf, job.number - 1, languages=job.languages).text
    raise ValueError(f"unknown variant {variant!r}")


@dataclass(frozen=True)
class Reading:
    variant: str
    condition: str
    document: str
    page: int
    truth: int
    found: int
    seconds: float


def _measure(task: tuple[str, str, PageJob, tuple[str, ...]]) -> Reading:
    variant, condition, job, truth = task
    started = time.perf_counter()
    text = _read(variant, job)
    seconds = time.perf_counter() - started
    tokens = {fold(word) for word in WORD_RE.findall(text)}
    found = sum(fold(word) in tokens for word in truth)
    return Reading(variant, condition, job.document, job.number, len(truth), found, seconds)


def run(variants: Sequence[str], quick: bool, workers: int) -> list[Reading]:
    """Every page read every way, in both conditions; one reading per (variant, page)."""
    documents = corpus_documents(CORPUS, quick)
    truth = {(d.name, p.number): tuple(p.words) for d in documents for p in d.pages}
    tasks: list[tuple[str, str, PageJob, tuple[str, ...]]] = []
    with tempfile.TemporaryDirectory(prefix="readingroom-ocr-readings-") as scratch:
        for condition in CONDITIONS:
            jobs = write_condition(documents, condition, Path(scratch) / condition)
            tasks += [
                (variant, condition, job, truth[(job.document, job.number)])
                for variant in variants
                for job in jobs
            ]
        with ProcessPoolExecutor(max_workers=workers, mp_context=forkserver_context()) as pool:
            return list(pool.map(_measure, tasks))


def _share(readings: Sequence[Reading]) -> float:
    return sum(r.found for r in readings) / max(1, sum(r.truth for r in readings))


def summarise(readings: Sequence[Reading], variants: Sequence[str]) -> list[Row]:
    """One row per (variant, condition): the share of truth words found, against tesseract."""
    rows = []
    for condition in CONDITIONS:
        baseline = (
            _share([r for r in readings if r.condition == condition and r.variant == "tesseract"])
            if "tesseract" in variants
            else None
        )
        for variant in variants:
            chosen = [r for r in readings if r.condition == condition and r.variant == variant]
            words = sum(r.truth for r in chosen)
            rows.append(
                Row(
                    f"{condition} corpus scans, words found, {variant} "
                    f"({len(chosen)} pages, {words} words)",
                    round(_share(chosen), 4),
                    baseline=None
                    if variant == "tesseract" or baseline is None
                    else round(baseline, 4),
                    baseline_name="plain tesseract" if variant != "tesseract" else "",
                    unit="share",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ocr_readings", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two corpus files only")
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, of: {', '.join(ALL_VARIANTS)}",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(list(argv or []))
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    readings = run(variants, args.quick, args.workers)
    rows = summarise(readings, variants)
    print(table(rows))
    details = {
        "variants": list(variants),
        "pages": [r.__dict__ for r in readings],
    }
    record("ocr_readings", rows, details)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)

    RESULTS.write_text(json.dumps({"rows": [r.__dict__ for r in rows], **details}, indent=1))
    return 0
