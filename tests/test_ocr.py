"""OCR, the OCR decision and page rendering, against real tesseract and real PDFs.

The scanned pages are made here: known text drawn with PIL and saved as image-only PDFs, so
what tesseract must find is known. Pages are small (a few lines at 300 DPI) to keep the run
short; the corpus supplies the hostile and the real cases.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from ingest.ocr import (
    OcrError,
    OcrResult,
    OcrTimeoutError,
    image_coverage,
    needs_ocr,
    ocr_image,
    ocr_pages_parallel,
    ocr_pdf_page,
    text_quality,
)
from ingest.ocr.tesseract import read_image
from ingest.render import MAX_PIXELS, RenderError, render_page
from tests.conftest import CORPUS, needs_corpus

LINES = (
    "The Department of Homeland Security received your request",
    "under the Freedom of Information Act on March 3, 2021.",
    "Records responsive to your request are enclosed.",
    "Portions are withheld under exemptions (b)(6) and (b)(7)(C).",
    "Please contact the FOIA Public Liaison with any questions.",
    "Sincerely, the Privacy Office of the Department.",
)
EXPECTED_WORDS = {"Department", "Homeland", "Security", "Freedom", "Information", "enclosed"}


def scan_image(
    lines: tuple[str, ...] = LINES, *, width: int = 2550, height: int = 1100
) -> Image.Image:
    """A clean 300 DPI 'scan': dark text on white, one line per entry."""
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=46)
    for number, line in enumerate(lines):
        draw.text((150, 120 + number * 140), line, font=font, fill=0)
    return image


def image_pdf(path: Path, *images: Image.Image) -> Path:
    """An image-only PDF (no text layer), one page per image, at 300 DPI."""
    first, *rest = images
    first.save(path, "PDF", resolution=300, save_all=True, append_images=rest)
    return path


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scans")
    upright = scan_image()
    small = scan_image(LINES[:2], width=1600, height=420)
    return {
        "upright": image_pdf(folder / "upright.pdf", upright),
        # Rotated anticlockwise, as a letter fed sideways into a scanner comes out.
        "rotated": image_pdf(folder / "rotated.pdf", upright.rotate(90, expand=True)),
        "small": image_pdf(folder / "small.pdf", small, small, small, small),
    }


def words_of(result: OcrResult) -> set[str]:
    return {word.text.strip(".,") for word in result.words}


# --- OCR --------------------------------------------------------------------------------------


def test_ocr_pdf_page_reads_known_text_with_boxes(scans: dict[str, Path]) -> None:
    result = ocr_pdf_page(scans["upright"], 0)

    assert words_of(result) >= EXPECTED_WORDS
    assert result.rotation == 0
    assert (result.image_width, result.image_height) == (2550, 1100)
    assert result.confidence is not None
    assert result.confidence > 80
    # One line of text per drawn line, in order, rebuilt from tesseract's line numbers.
    lines = [line for line in result.text.splitlines() if line.strip()]
    assert len(lines) == len(LINES)
    assert lines[0].startswith("The Department of Homeland Security")
    first = next(word for word in result.words if word.text == "Homeland")
    assert 150 < first.left < 1300
    assert 100 < first.top < 200
    assert first.height > 20


def test_ocr_turns_a_sideways_page_upright(scans: dict[str, Path]) -> None:
    result = ocr_pdf_page(scans["rotated"], 0)

    assert result.rotation == 90
    assert (result.image_width, result.image_height) == (2550, 1100)
    assert words_of(result) >= EXPECTED_WORDS


def test_orientation_is_asked_only_when_the_first_reading_is_poor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    real_osd = pytesseract.image_to_osd

    def counting_osd(image: str, **kwargs: Any) -> Any:
        asked.append(image)
        return real_osd(image, **kwargs)

    monkeypatch.setattr(pytesseract, "image_to_osd", counting_osd)
    page = scan_image(LINES[:3], height=560)

    upright = ocr_image(page)
    assert asked == []  # one tesseract run for an upright page
    assert {"Department", "Homeland", "Freedom"} <= words_of(upright)

    sideways = ocr_image(page.rotate(90, expand=True))
    assert len(asked) == 1
    assert sideways.rotation == 90
    assert {"Department", "Homeland", "Freedom"} <= words_of(sideways)


def test_ocr_without_orientation_detection_keeps_the_image_as_is() -> None:
    result = ocr_image(scan_image(LINES[:3], height=560), detect_orientation=False)

    assert result.rotation == 0
    assert {"Department", "Homeland", "Freedom"} <= words_of(result)


def test_ocr_on_a_blank_page_returns_no_words_and_no_confidence() -> None:
    # OSD refuses a page without text; that must not fail the page.
    result = ocr_image(Image.new("L", (1200, 900), 255))

    assert result.words == ()
    assert result.text == ""
    assert result.confidence is None
    assert result.rotation == 0


def test_ocr_past_its_timeout_raises_timeout_error(scans: dict[str, Path]) -> None:
    with pytest.raises(OcrTimeoutError, match="timeout") as caught:
        ocr_pdf_page(scans["upright"], 0, timeout=0.01)
    assert caught.value.retryable


def test_a_tesseract_past_its_timeout_is_killed(tmp_path: Path) -> None:
    # The runner itself, so that the page's preparation cannot use up the 0.1 s first.
    deadline = time.monotonic() + 0.1
    with pytest.raises(OcrTimeoutError, match=r"ran past its 0\.\d s timeout"):
        read_image(scan_image(), tmp_path, languages="eng", deadline=deadline)
    assert _tesseract_environments(os.getpid()) == []


def test_ocr_of_a_missing_file_is_an_ocr_error(tmp_path: Path) -> None:
    with pytest.raises(OcrError, match="cannot open") as caught:
        ocr_pdf_page(tmp_path / "missing.pdf", 0)
    assert not caught.value.retryable


def test_ocr_rejects_language_lists_that_are_not_tesseract_codes() -> None:
    with pytest.raises(ValueError, match="language"):
        ocr_image(scan_image(), languages="eng --oem 0")


def _processes() -> dict[int, tuple[int, str]]:
    """Every visible process as pid -> (parent pid, command name), read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            name_end = stat.rindex(")")
            parent = int(stat[name_end + 2 :].split()[1])
            table[int(entry.name)] = (parent, stat[stat.index("(") + 1 : name_end])
    return table


def _descends_from(pid: int, root: int, table: dict[int, tuple[int, str]]) -> bool:
    while pid in table and pid not in (0, 1):
        pid = table[pid][0]
        if pid == root:
            return True
    return False


def _tesseract_environments(root: int) -> list[dict[str, str]]:
    """Environments of the running tesseract processes descended from process ``root``."""
    table = _processes()
    found = []
    for pid, (_, name) in table.items():
        if name == "tesseract" and _descends_from(pid, root, table):
            try:
                raw = (Path("/proc") / str(pid) / "environ").read_bytes()
            except OSError:
                continue
            pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
            found.append({key.decode(): value.decode() for key, value in pairs})
    return found


def _watch_tesseract(run: Callable[[], object]) -> list[dict[str, str]]:
    """Run ``run`` in a thread and collect the environment of every tesseract it starts."""
    seen: list[dict[str, str]] = []
    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        seen.extend(_tesseract_environments(os.getpid()))
        time.sleep(0.02)
    worker.join()
    return seen


def test_tesseract_runs_single_threaded_in_process_and_in_workers(
    scans: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator's setting must not let tesseract fight the worker pool for cores.
    monkeypatch.setenv("OMP_THREAD_LIMIT", "4")
    in_process = _watch_tesseract(lambda: ocr_pdf_page(scans["small"], 0))
    monkeypatch.setenv("OMP_THREAD_LIMIT", "4")
    in_workers = _watch_tesseract(
        lambda: list(ocr_pages_parallel([(scans["small"], 0), (scans["small"], 1)], workers=2))
    )

    assert in_process
    assert in_workers
    assert {env.get("OMP_THREAD_LIMIT") for env in in_process + in_workers} == {"1"}


# --- the parallel runner ----------------------------------------------------------------------


def test_parallel_ocr_returns_good_pages_when_one_job_fails(
    scans: dict[str, Path], tmp_path: Path
) -> None:
    jobs = [
        (scans["small"], 0),
        (tmp_path / "missing.pdf", 0),
        (scans["small"], 1),
        (scans["small"], 99),
        (scans["small"], 2),
    ]
    outcomes = dict(ocr_pages_parallel(jobs, workers=2, timeout=60))

    assert sorted(outcomes) == [0, 1, 2, 3, 4]
    for good in (0, 2, 4):
        result = outcomes[good]
        assert isinstance(result, OcrResult)
        assert {"Department", "Homeland"} <= words_of(result)
    assert isinstance(outcomes[1], OcrError)
    assert "missing.pdf" in str(outcomes[1])
    assert isinstance(outcomes[3], OcrError)
    assert "out of range" in str(outcomes[3])


def test_parallel_ocr_reports_timeouts_per_page(scans: dict[str, Path]) -> None:
    outcomes = dict(ocr_pages_parallel([(scans["small"], 0), (scans["small"], 1)], timeout=0.01))

    assert all(isinstance(outcome, OcrTimeoutError) for outcome in outcomes.values())
    assert sorted(outcomes) == [0, 1]


def _kill_pool_workers() -> int:
    """SIGKILL the pool's worker processes: the children of our forkserver process."""
    table = _processes()
    servers = {
        pid
        for pid, (parent, _) in table.items()
        if parent == os.getpid() and b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    }
    workers = [pid for pid, (parent, _) in table.items() if parent in servers]
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    return len(workers)


def test_parallel_ocr_survives_a_worker_process_dying(scans: dict[str, Path]) -> None:
    jobs = [(scans["small"], index) for index in range(4)]
    outcomes: dict[int, OcrResult | OcrError] = {}
    iterator: Iterator[tuple[int, OcrResult | OcrError]] = ocr_pages_parallel(jobs, workers=2)
    index, outcome = next(iterator)
    outcomes[index] = outcome
    assert _kill_pool_workers() >= 1  # as the kernel's OOM killer would
    outcomes.update(iterator)

    assert sorted(outcomes) == [0, 1, 2, 3]
    assert all(isinstance(outcome, OcrResult) for outcome in outcomes.values())


# --- the OCR decision -------------------------------------------------------------------------

GOOD_TEXT = (
    "On May 7, the parties conferred regarding potential new disclosure obligations triggered "
    "by the Government's recent searches. Records were withheld under (b)(6) and (b)(7)(C); "
    "see ICE-2021-000123 through 2019-ICLI-00003 022454, dated 03/05/2020, total $1,234.50."
)


def test_text_quality_scores_real_text_high_and_garbage_low() -> None:
    assert text_quality(GOOD_TEXT) > 0.95
    assert text_quality("Así lo dispone el Boletín Oficial del Principado de Asturias.") == 1.0
    assert text_quality("l0O1lI 1l1Il0 \ufffd\ufffd b4c7d9 x\x03y ~~|~ g3g4h5") < 0.2
    assert text_quality("\ufffd\ufffd \ufffd word") == pytest.approx(1 / 3)
    assert text_quality("") == 0.0
    assert text_quality("--- ... ***") == 0.0


@pytest.mark.parametrize(
    ("text", "coverage", "expected", "reason_part"),
    [
        ("", 1.0, True, "no text layer"),
        ("   \n ", 0.0, True, "no text layer"),
        ("Page 3", 0.0, True, "too short"),
        ("(cid:3)(cid:17)(cid:42) " * 40, 0.0, True, "(cid:NN)"),
        (GOOD_TEXT + " (cid:12)" * 40, 0.0, True, "unmapped"),
        (GOOD_TEXT + "\ufffd" * 30, 0.0, True, "unmapped"),
        (GOOD_TEXT + "\x01\x02\x03" * 10, 0.0, True, "control"),
        ("Tl1e qu1cl< 6r0wn f0x jumpz 0v3r tl1e l4zy d0g 7l3 3nd " * 3, 0.0, True, "garbage"),
        ("Case 1:19-cr-00725-JPO Document 191 Filed 05/25/21 Page 2 of 4", 0.98, True, "image"),
        ("Case 1:19-cr-00725-JPO Document 191 Filed 05/25/21 Page 2 of 4", 0.1, False, "usable"),
        (GOOD_TEXT, 1.0, False, "usable"),  # a scan with a real OCR layer already
        (GOOD_TEXT, 0.0, False, "usable"),
    ],
)
def test_needs_ocr_decides_from_the_text_layer_and_image_coverage(
    text: str, coverage: float, expected: bool, reason_part: str
) -> None:
    decision, reason = needs_ocr(text, image_coverage=coverage)

    assert decision is expected
    assert reason_part in reason


def test_needs_ocr_can_be_forced() -> None:
    assert needs_ocr(GOOD_TEXT, image_coverage=0.0, force=True) == (
        True,
        "OCR was requested for this page",
    )


def _layer_text(path: Path, page_index: int) -> str:
    pdf = pdfium.PdfDocument(path)
    try:
        textpage = pdf[page_index].get_textpage()
        return str(textpage.get_text_bounded())
    finally:
        pdf.close()


def test_needs_ocr_on_generated_pages(tmp_path: Path, scans: dict[str, Path]) -> None:
    garbage = tmp_path / "garbage.pdf"
    pdf = canvas.Canvas(str(garbage), pagesize=letter)
    for line in range(20):
        # What pdfminer-based extractors emit for a font without a Unicode map.
        pdf.drawString(72, 720 - line * 14, "(cid:72)(cid:101)(cid:108) (cid:108)(cid:111)" * 3)
    pdf.save()
    clean = tmp_path / "clean.pdf"
    pdf = canvas.Canvas(str(clean), pagesize=letter)
    pdf.drawString(72, 720, GOOD_TEXT[:90])
    pdf.drawString(72, 700, GOOD_TEXT[90:])
    pdf.save()

    assert needs_ocr(_layer_text(garbage, 0), image_coverage=image_coverage(garbage, 0))[0]
    assert needs_ocr(_layer_text(clean, 0), image_coverage=image_coverage(clean, 0)) == (
        False,
        "the text layer is usable",
    )
    decision, reason = needs_ocr(
        _layer_text(scans["upright"], 0), image_coverage=image_coverage(scans["upright"], 0)
    )
    assert decision
    assert "no text layer" in reason


@needs_corpus
@pytest.mark.parametrize(
    ("name", "page", "expected"),
    [
        ("pdfminer__issue-791-non-unicode-cmap.pdf", 0, True),  # unmapped glyphs
        ("fl-doctor__gov.uscourts.cand.203070.27.0.pdf", 0, True),  # scan + stamped ECF header
        ("lucyparsons-1505__CPD_FOIA14-5298_Response.pdf", 0, True),  # image only
        ("uwchr-i213__3866f3-1789-1791.pdf", 0, False),  # scan with a good OCR layer
        ("pdfplumber__federal-register-2020-17221.pdf", 0, False),  # born digital
        ("cal-laboral-es__asturias_locales_2026.pdf", 0, False),  # Spanish, born digital
    ],
)
def test_needs_ocr_on_corpus_pages(name: str, page: int, expected: bool) -> None:
    path = CORPUS / name
    decision, reason = needs_ocr(_layer_text(path, page), image_coverage=image_coverage(path, page))

    assert decision is expected, reason


# --- image coverage ---------------------------------------------------------------------------


def test_image_coverage_of_scans_born_digital_pages_and_forms(
    tmp_path: Path, scans: dict[str, Path]
) -> None:
    assert image_coverage(scans["upright"], 0) == pytest.approx(1.0)

    # A 300x396 pt image drawn inside a form XObject scaled 1.02x on a 612x792 page: the
    # form matrix must be applied, and the part hanging off the page must not count.
    path = tmp_path / "form.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    pdf.beginForm("scan")
    pdf.drawImage(ImageReader(scan_image(width=300, height=396)), 0, 0, width=300, height=396)
    pdf.endForm()
    pdf.translate(306, 0)
    pdf.scale(1.02, 1.0)
    pdf.doForm("scan")
    pdf.save()
    assert image_coverage(path, 0) == pytest.approx((612 - 306) * 396 / (612 * 792), abs=0.01)

    with pytest.raises(RenderError):
        image_coverage(path, 5)


# --- rendering --------------------------------------------------------------------------------


def test_render_page_caps_a_huge_page_under_max_pixels(tmp_path: Path) -> None:
    # 8400 pt square is 35000 x 35000 pixels at 300 DPI: 1.2 GB if rendered as asked.
    path = tmp_path / "huge.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(8400, 8400))
    pdf.rect(100, 100, 8200, 8200, fill=1)
    pdf.save()
    assert path.stat().st_size < 5_000

    image = render_page(path, 0, max_pixels=4_000_000)

    assert image.width * image.height <= 4_000_000
    assert image.width == image.height > 1900
    assert image.mode == "L"


@needs_corpus
def test_render_page_caps_the_corpus_page_of_9000_by_9000_pixels() -> None:
    # ocrmypdf__multipage.pdf page 2 is 2160 pt square (30 inches): 81 MP at 300 DPI.
    image = render_page(CORPUS / "ocrmypdf__multipage.pdf", 1)

    assert image.width * image.height <= MAX_PIXELS
    assert image.width > 7000


@needs_corpus
def test_render_page_applies_the_page_rotation() -> None:
    # Stored with /Rotate 270: a portrait letter once rotated as a viewer shows it.
    image = render_page(CORPUS / "invinst-cpd__15-6588_Kalven_F.pdf", 0, dpi=72)

    assert image.height > image.width


@needs_corpus
def test_render_page_errors_are_render_errors(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="password"):
        render_page(CORPUS / "pypdf__r2-user-password.pdf", 0, dpi=30)
    assert render_page(CORPUS / "pypdf__r2-user-password.pdf", 0, dpi=30, password="asdfzxcv")
    with pytest.raises(RenderError):
        render_page(CORPUS / "fl-doctor__empty.pdf", 0)
    with pytest.raises(RenderError, match="out of range"):
        render_page(CORPUS / "invinst-cpd__15-6588_Kalven_F.pdf", 40)
