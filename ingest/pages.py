"""Reading every page of one PDF: text layer, the OCR decision, OCR, markings, redactions.

The text-layer pass runs in this process over one pdfium handle (fast), reading each page's
text, layout and vector redaction boxes in one walk; pages that need OCR go
to a pool of single-threaded tesseract processes, one per core. A page that cannot be OCR'd
ends ``ocr_failed`` with its reason and never fails the others.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium

from app.models import PageState, TextSource
from ingest.extract.layout import scan_layout
from ingest.extract.text import clean_text
from ingest.markings import Word, find_bates_number, find_exemptions
from ingest.ocr import OcrError, OcrResult, needs_ocr, ocr_pages_parallel, text_quality
from ingest.redactions import vector_redactions
from ingest.screening import PageFinding, screen_layer

Progress = Callable[[str, int], None]
# A word and its box as fractions (0..1) of the upright page: text, x0, y0, x1, y1.
WordBox = tuple[str, float, float, float, float]


@dataclass
class PageResult:
    """Everything the pipeline learnt about one page, ready to be written to its row."""

    number: int
    width: float
    height: float
    layer_text: str
    ocr_text: str | None = None
    ocr_confidence: float | None = None
    ocr_words: list[WordBox] | None = None
    rotation: int = 0
    ocr_reason: str | None = None
    redaction_count: int = 0
    state: PageState = PageState.EXTRACTED
    state_reason: str | None = None
    exemptions: list[str] = field(default_factory=list)
    bates_number: str | None = None
    # Every OCR reading tried on the page (first, orientation, second pass) and whether it
    # was kept, and the page's OCR time: recorded beside the word boxes.
    ocr_passes: list[dict[str, object]] = field(default_factory=list)
    ocr_seconds: float | None = None
    # What the safety scan found in the text layer (ingest.screening), recorded on write.
    screen: list[PageFinding] | None = None

    @property
    def text(self) -> str:
        """The text to index: OCR where it reads better than the layer, else the layer."""
        if self.ocr_text is None:
            return self.layer_text
        if not self.layer_text.strip():
            return self.ocr_text
        return (
            self.ocr_text
            if text_quality(self.ocr_text) > text_quality(self.layer_text) + 0.1
            else self.layer_text
        )

    @property
    def text_source(self) -> TextSource:
        if not self.text.strip():
            return TextSource.NONE
        return (
            TextSource.OCR
            if self.ocr_text is not None and self.text == self.ocr_text
            else (TextSource.LAYER)
        )


@dataclass(frozen=True)
class ExtractOptions:
    languages: str = "eng"
    force_ocr: bool = False
    ocr_timeout: float = 120.0
    workers: int = 0
    password: str | None = None


def _layer_pass(
    pdf_path: Path,
    numbers: Sequence[int],
    options: ExtractOptions,
    progress: Progress,
    finished: Callable[[PageResult], None],
) -> tuple[list[PageResult], list[int]]:
    """Text layer, layout and vector redactions of each page; also the pages needing OCR.

    One pdfium walk per page answers everything the born-digital path needs; a page going
    to OCR has its redactions counted on its image instead (its text layer, if any, may sit
    on a scan whose boxes are pixels, not vector shapes).
    """
    results: list[PageResult] = []
    wants_ocr: list[int] = []
    pdf = pdfium.PdfDocument(pdf_path, password=options.password)
    try:
        for number in numbers:
            page = pdf[number - 1]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    text = clean_text(textpage.get_text_bounded())
                    layout = scan_layout(page, textpage)
                    screen = screen_layer(page, textpage, layout, text)
                finally:
                    textpage.close()
            finally:
                page.close()
            result = PageResult(number, width, height, text, screen=screen)
            decide, reason = needs_ocr(
                text, image_coverage=layout.image_coverage, force=options.force_ocr
            )
            if decide:
                result.ocr_reason = reason
                wants_ocr.append(number)
            elif layout.dark_rects:
                result.redaction_count = len(vector_redactions(layout))
            results.append(result)
            if not decide:  # complete: its caller may commit it now
                _markings(result)
                finished(result)
            progress("page_read", 1)
    finally:
        pdf.close()
    return results, wants_ocr


def _ocr_words(ocr: OcrResult) -> list[WordBox]:
    # Fractions of the upright page, so boxes fit an image of any size.
    w, h = max(ocr.image_width, 1), max(ocr.image_height, 1)
    return [
        (
            word.text,
            round(word.left / w, 5),
            round(word.top / h, 5),
            round((word.left + word.width) / w, 5),
            round((word.top + word.height) / h, 5),
        )
        for word in ocr.words
    ]


def _apply_ocr(result: PageResult, outcome: OcrResult | OcrError) -> None:
    if isinstance(outcome, OcrError):
        result.state = PageState.OCR_FAILED
        result.state_reason = f"OCR failed on this page: {outcome}"
        return
    result.ocr_text = clean_text(outcome.text)
    result.ocr_confidence = outcome.confidence
    result.ocr_words = _ocr_words(outcome)
    result.rotation = outcome.rotation
    result.redaction_count = max(result.redaction_count, len(outcome.redactions))
    result.ocr_passes = [dataclasses.asdict(attempt) for attempt in outcome.passes]
    result.ocr_seconds = round(outcome.seconds, 3)


def _markings(result: PageResult) -> None:
    texts = [t for t in (result.layer_text, result.ocr_text) if t]
    result.exemptions = sorted({code for t in texts for code in find_exemptions(t)})
    # Word boxes are fractions of the upright page: a page turned a quarter swaps its sides.
    width, height = (
        (result.height, result.width)
        if result.rotation in (90, 270)
        else (result.width, result.height)
    )
    words = [
        Word(t, x0 * width, y0 * height, x1 * width, y1 * height)
        for t, x0, y0, x1, y1 in result.ocr_words or []
    ]
    bates = None
    if words:
        bates = find_bates_number(result.ocr_text or "", words, width, height)
    result.bates_number = bates or next(
        (b for t in texts if (b := find_bates_number(t)) is not None), None
    )


def extract_pages(
    pdf_path: Path,
    numbers: Sequence[int],
    options: ExtractOptions,
    progress: Progress | None = None,
    on_page: Callable[[PageResult], None] | None = None,
) -> list[PageResult]:
    """Read the given 1-based pages of ``pdf_path``; never raises for one bad page.

    ``on_page`` is called with each page as soon as it is complete (a page without OCR
    during the text-layer pass, an OCR'd page when its OCR ends), so that a caller can
    commit pages as they come: a worker killed mid-document then loses only the page it was
    on. The list returned holds every page, in the order of ``numbers``.
    """
    report = progress or (lambda _event, _n: None)
    finished = on_page or (lambda _result: None)
    results, wants_ocr = _layer_pass(pdf_path, numbers, options, report, finished)
    by_number = {r.number: r for r in results}

    if wants_ocr:
        report("ocr_planned", len(wants_ocr))
        jobs = [(pdf_path, n - 1) for n in wants_ocr]
        for position, outcome in ocr_pages_parallel(
            jobs,
            languages=options.languages,
            timeout=options.ocr_timeout,
            workers=options.workers or None,
            password=options.password,
        ):
            result = by_number[wants_ocr[position]]
            _apply_ocr(result, outcome)
            _markings(result)
            finished(result)
            report("ocr_done", 1)
    return results


def write_words(path: Path, result: PageResult) -> None:
    """Store an OCR'd page's word boxes for highlighting (derived, rebuildable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "version": 1,
        "source": "ocr",
        "rotation": result.rotation,
        "words": result.ocr_words or [],
        # Added keys (readers ignore what they do not know): how the text was read.
        "seconds": result.ocr_seconds,
        "passes": result.ocr_passes,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    tmp.replace(path)
