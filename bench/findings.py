"""The safety scan's accuracy and its cost per page, against the pipeline's own time.

Accuracy: precision and recall per kind of personal data on the known-answer set
(bench/findings_set.py: planted identifiers among Bates numbers, tracking numbers, case
numbers, dates and agency addresses, read back from a generated PDF), the ways of hiding
text and of not hiding it, and the answers that the x-ray project's own files give.

Cost: documents are processed by the pipeline itself (``ingest.process.process_document``,
SQLite, no index) while the scan's three parts are timed where they run: the layout walk's
search for covered text (``ingest.extract.layout._covered_text``), the text-layer scan
(``screen_layer``) and the write-time step (``shield_pages``: OCR text, recording, masks).
The pipeline's own per-page time is the processing time less the scan's; the target is
that the scan adds under 20% to it, on born-digital and on OCR'd pages.

    python -m bench.findings            # prints the table, writes bench/results/findings.json
    python -m bench.findings --quick    # fewer files, no OCR'd scan
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench._results import Row, record, table
from bench.findings_set import (
    KINDS,
    REDACTION_CASES,
    known_pages,
    write_pages_pdf,
    write_redaction_pdf,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
BORN_DIGITAL = (
    "fl-xray__gov.uscourts.cacd.604416.1107.0.pdf",
    "fl-xray__gov.uscourts.cand.303681.2479.0.pdf",
    "fl-xray__bad_cross_hatched_redactions.pdf",
    "cal-laboral-es__madrid_locales_2026.pdf",
)
SCANNED = ("fl-disclosure__2014-sample.pdf",)  # image only: every page is OCR'd
XRAY_ANSWERS = {  # file: bad redactions x-ray's own tests expect on it
    "fl-xray__bad_cross_hatched_redactions.pdf": 16,
    "fl-xray__no_bad_redactions.5.5.pdf": 0,
    "fl-xray__rect_ordering_2.1.pdf": 0,
    "fl-xray__whitespace_redactions.pdf": 0,
}
MAX_OVERHEAD = 0.20

F = TypeVar("F", bound=Callable[..., Any])


class _Clock:
    """Seconds spent in the wrapped functions, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function: F) -> F:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed  # type: ignore[return-value]

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def accuracy(folder: Path) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """Precision and recall per kind, the redaction cases and the x-ray answers."""
    from ingest.extract.layout import scan_layout
    from ingest.extract.text import clean_text
    from ingest.hidden_text import find_hidden_text
    from tests.pdfs import layer_texts
    from tests.test_personal import score

    pages = known_pages()
    texts = [t.replace("\r\n", "\n") for t in layer_texts(write_pages_pdf(folder / "k.pdf", pages))]
    scores = score(texts, [p.planted for p in pages])

    import pypdfium2 as pdfium

    def hidden(path: Path) -> list[list[str]]:
        pdf = pdfium.PdfDocument(path)
        found = []
        for page in pdf:
            textpage = page.get_textpage()
            text = clean_text(textpage.get_text_bounded())
            found.append(
                [
                    h.kind
                    for h in find_hidden_text(page, textpage, scan_layout(page, textpage), text)
                ]
            )
            textpage.close()
            page.close()
        pdf.close()
        return found

    cases = hidden(write_redaction_pdf(folder / "cases.pdf"))
    right = sum(
        (found == [case.expected]) if case.expected else (found == [])
        for case, found in zip(REDACTION_CASES, cases, strict=True)
    )
    xray = {
        name: sum(len(p) for p in hidden(CORPUS / name))
        for name in XRAY_ANSWERS
        if (CORPUS / name).is_file()
    }
    details = {
        "personal": {k: {"precision": p, "recall": r} for k, (p, r) in scores.items()},
        "planted": sum(len(p.planted) for p in pages),
        "redaction_cases": {"right": right, "of": len(REDACTION_CASES)},
        "xray": {name: {"found": n, "expected": XRAY_ANSWERS[name]} for name, n in xray.items()},
    }
    return scores, details


def cost(folder: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """Process the files with the pipeline, timing the scan inside it."""
    import ingest.extract.layout as layout
    import ingest.pages as pages
    import ingest.process as process
    from app import migrate
    from app.config import Settings
    from app.db import session_scope
    from app.services.catalog import get_or_create_agency, get_or_create_production
    from ingest.intake import intake_file
    from ingest.process import process_document

    settings = Settings(data_dir=folder / "var", meili_url="http://127.0.0.1:9")
    migrate.upgrade(settings)
    clock = _Clock()
    # Where the scan's parts are called from: the names the pipeline looks up at run time.
    hooks = (
        (layout, "_covered_text", "layout walk: covered text"),
        (pages, "screen_layer", "text layer scan"),
        (process, "shield_pages", "record and mask"),
    )
    originals = [getattr(module, name) for module, name, _ in hooks]
    for module, name, label in hooks:
        setattr(module, name, clock.wrap(label, getattr(module, name)))
    results: dict[str, Any] = {}
    try:
        for name in names:
            path = CORPUS / name
            if not path.is_file():
                continue
            with session_scope(settings) as session:
                agency = get_or_create_agency(session, "ICE")
                production = get_or_create_production(session, agency, "Bench", published=False)
                document = intake_file(session, settings, path, production).document
                session.commit()
                document_id = document.id
            clock.seconds = {}
            started = time.perf_counter()
            with session_scope(settings) as session:
                process_document(session, settings, document_id)
            elapsed = time.perf_counter() - started
            with session_scope(settings) as session:
                from app.models import Document

                loaded = session.get(Document, document_id)
                count = loaded.page_count if loaded else 0
            scan = clock.total
            results[name] = {
                "pages": count,
                "seconds": elapsed,
                "scan_seconds": scan,
                "parts": dict(clock.seconds),
                "pipeline_ms_per_page": (elapsed - scan) / max(count, 1) * 1000,
                "scan_ms_per_page": scan / max(count, 1) * 1000,
            }
    finally:
        for (module, name, _), original in zip(hooks, originals, strict=True):
            setattr(module, name, original)
    return results


def _summary(per_file: dict[str, Any]) -> tuple[float, float, int]:
    pages = sum(f["pages"] for f in per_file.values())
    pipeline = sum(f["seconds"] - f["scan_seconds"] for f in per_file.values())
    scan = sum(f["scan_seconds"] for f in per_file.values())
    return pipeline / max(pages, 1) * 1000, scan / max(pages, 1) * 1000, pages


def main(argv: list[str] | None = None) -> int:
    """Run the safety-scan benchmark, print its table, write ``bench/results/findings.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.findings", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two born-digital files, no scan")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-findings-") as tmp:
        folder = Path(tmp)
        scores, details = accuracy(folder)
        for kind in KINDS:
            precision, recall = scores[kind]
            met = precision >= 0.95 and recall >= 0.95
            rows.append(
                Row(
                    f"{kind}: precision / recall ({details['planted'] // len(KINDS)} planted)",
                    precision,
                    baseline=recall,
                    ratio=None,
                    target=">= 0.95 both",
                    met=met,
                    baseline_name="recall",
                )
            )
        cases = details["redaction_cases"]
        rows.append(
            Row(
                "ways of hiding text (and not) told right",
                cases["right"],
                baseline=cases["of"],
                target="all",
                met=cases["right"] == cases["of"],
            )
        )
        for name, answer in details["xray"].items():
            rows.append(
                Row(
                    f"x-ray {name.split('__')[1]}: bad redactions",
                    answer["found"],
                    baseline=answer["expected"],
                    target="as x-ray's tests",
                    met=answer["found"] == answer["expected"],
                    baseline_name="x-ray's answer",
                )
            )
        born = cost(folder / "born", BORN_DIGITAL[:2] if args.quick else BORN_DIGITAL)
        details["born_digital"] = born
        groups = [("born-digital", born)]
        if not args.quick:
            scanned = cost(folder / "scanned", SCANNED)
            details["ocr"] = scanned
            groups.append(("OCR'd", scanned))
        for label, per_file in groups:
            pipeline, scan, pages = _summary(per_file)
            rows.append(
                Row(
                    f"scan ms/page, {label} ({pages} p), vs pipeline ms/page",
                    scan,
                    baseline=pipeline,
                    target=f"< {MAX_OVERHEAD:.0%} of the pipeline",
                    met=scan < MAX_OVERHEAD * pipeline,
                    unit="ms",
                    baseline_name="pipeline",
                )
            )
    print(table(rows))
    path = record("findings", rows, details)
    print(f"figures written to {path}")
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
