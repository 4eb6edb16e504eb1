"""How the pipeline reads a scan: resolution, straightening, ruled lines, the second pass.

Real tesseract on page images drawn here with known words, so what must be read is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import ImageDraw, ImageFont

from app.config import Settings
from app.db import session_scope
from app.models import Document, Page
from ingest.ocr import ocr_image, ocr_pdf_page
from ingest.ocr import rules as ruling
from ingest.ocr.page import MAX_TIME_FACTOR
from ingest.ocr.quality import judge
from ingest.ocr.source import page_image
from ingest.ocr.tesseract import OcrWord
from ingest.run import IngestTarget, ingest_paths

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# A layoff report as states publish them: a bordered grid, a word or number per cell.
TABLE = [
    ["Company", "City", "Employees", "Effective"],
    ["Harrowgate Foundry", "Kenosha", "112", "March"],
    ["Bellweather Optics", "Racine", "58", "April"],
    ["Quillfeather Press", "Sheboygan", "203", "June"],
    ["Marbleton Dairy", "Wausau", "41", "August"],
]
TABLE_WORDS = {
    "Harrowgate",
    "Foundry",
    "Bellweather",
    "Optics",
    "Quillfeather",
    "Press",
    "Marbleton",
    "Dairy",
    "Kenosha",
    "Racine",
    "Sheboygan",
    "Wausau",
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return (
        ImageFont.truetype(str(FONT_PATH), size)
        if FONT_PATH.exists()
        else (ImageFont.load_default(size=size))
    )


def table_page(*, width: int = 2550, height: int = 1500) -> PIL.Image.Image:
    """A 300 DPI page holding TABLE in a grid of 3 px rules, text close to the rules."""
    image = PIL.Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = _font(40)
    columns = [150, 900, 1500, 1900, 2400]
    top, row_height = 200, 110
    for row, cells in enumerate(TABLE):
        y = top + row * row_height
        for column, cell in enumerate(cells):
            draw.text((columns[column] + 14, y + 30), cell, font=font, fill=0)
    for row in range(len(TABLE) + 1):
        y = top + row * row_height
        draw.rectangle((columns[0], y, columns[-1], y + 2), fill=0)
    for x in columns:
        draw.rectangle((x, top, x + 2, top + len(TABLE) * row_height), fill=0)
    return image


def words_of(words: tuple[OcrWord, ...] | list[OcrWord]) -> set[str]:
    return {word.text.strip(".,;:") for word in words}


def test_ruled_lines_of_a_table_are_found_and_painted_out() -> None:
    pixels = np.asarray(table_page(), dtype=np.uint8)
    found = ruling.find_rules(pixels)

    assert found.horizontal == len(TABLE) + 1
    assert found.vertical == 5
    [(left, top, right, bottom)] = found.regions  # one grid: the table
    assert (left, top, right, bottom) == pytest.approx((150, 200, 2403, 752), abs=8)
    cleaned = ruling.remove_rules(pixels, found)
    # The rules are gone (a row of paper where a rule was) and the letters are kept.
    assert cleaned[201, 600:800].min() > 200
    assert cleaned[200 : 200 + 110 * 5, 900:903].min() > 200
    ink_before = int((pixels < 128).sum())
    ink_after = int((cleaned < 128).sum())
    assert 0.3 * ink_before < ink_after < ink_before


def test_letters_are_not_taken_for_rules() -> None:
    image = PIL.Image.new("L", (2550, 560), 255)
    draw = ImageDraw.Draw(image)
    draw.text((150, 150), "Illinois Tlll legal filing T-bill", font=_font(60), fill=0)
    found = ruling.find_rules(np.asarray(image, dtype=np.uint8))
    assert (found.horizontal, found.vertical) == (0, 0)


def test_a_crooked_page_is_straightened_and_its_boxes_land_on_the_words() -> None:
    page = table_page()
    crooked = page.rotate(2.0, resample=PIL.Image.Resampling.BICUBIC, fillcolor=255)
    angle = ruling.straightening_angle(np.asarray(crooked, dtype=np.uint8))
    assert angle == pytest.approx(-2.0, abs=0.2)

    result = ocr_image(crooked, detect_orientation=False)
    assert result.skew_degrees == pytest.approx(-2.0, abs=0.2)
    assert len(TABLE_WORDS & words_of(result.words)) >= len(TABLE_WORDS) - 1
    # Boxes are in the image as given (crooked), not in the straightened copy: the box of
    # "Sheboygan" covers ink of the crooked image.
    word = next(w for w in result.words if w.text.startswith("Sheboygan"))
    window = np.asarray(crooked)[
        word.top : word.top + word.height, word.left : word.left + word.width
    ]
    assert window.size > 0
    assert (window < 128).mean() > 0.05


def test_text_inside_a_bordered_table_is_read() -> None:
    result = ocr_image(table_page())
    assert words_of(result.words) >= TABLE_WORDS
    assert {"112", "58", "203", "41"} <= words_of(result.words)


def test_the_second_pass_stays_within_its_time_bound() -> None:
    # A dense, small, noisy table: weak blocks, read again.
    rng = np.random.default_rng(7)
    page = np.asarray(table_page().resize((1275, 750)), dtype=np.int16)
    noisy = np.clip(page + rng.normal(0, 40, page.shape), 0, 255).astype(np.uint8)
    result = ocr_image(PIL.Image.fromarray(noisy), detect_orientation=False)

    first = result.passes[0]
    assert first.scope == "page"
    assert first.method.startswith("psm 3")
    later = sum(p.seconds for p in result.passes[1:])
    # Killed at the bound; a little slack for the process start of the last run.
    assert later <= (MAX_TIME_FACTOR - 1) * first.seconds + 0.5, result.passes
    assert any(p.kept for p in result.passes)


def test_readings_are_judged_by_confidence_and_dictionary_words() -> None:
    good = [OcrWord("Department", 0, 0, 10, 10, 91.0), OcrWord("records", 0, 0, 10, 10, 88.0)]
    garbage = [OcrWord("Dcpartmcnt", 0, 0, 10, 10, 52.0), OcrWord("rec0rds", 0, 0, 10, 10, 40.0)]
    fewer = [OcrWord("Department", 0, 0, 10, 10, 95.0)]
    assert judge(good, "eng").score > judge(garbage, "eng").score
    assert judge(good, "eng").score > judge(fewer, "eng").score  # reading more counts
    assert judge(good, "eng").dictionary_share == 1.0
    assert judge(garbage, "eng").dictionary_share == 0.0


@pytest.mark.parametrize(("dpi", "expected"), [(200, 200), (150, 300), (600, 300)])
def test_a_scan_is_read_at_its_own_resolution_inside_tesseracts_range(
    tmp_path: Path, dpi: int, expected: int
) -> None:
    width, height = int(8.5 * dpi), int(5 * dpi)
    pdf = tmp_path / f"scan-{dpi}.pdf"
    PIL.Image.new("L", (width, height), 255).save(pdf, "PDF", resolution=dpi)
    rendered = page_image(pdf, 0)
    assert rendered.scan_dpi == pytest.approx(dpi, rel=0.01)
    assert rendered.dpi == pytest.approx(expected, rel=0.01)
    assert rendered.image.width == pytest.approx(8.5 * expected, abs=2)


def test_a_200_dpi_scan_reaches_tesseract_pixel_for_pixel(tmp_path: Path) -> None:
    page = table_page(width=1700, height=1000)
    pdf = tmp_path / "scan.pdf"
    page.save(pdf, "PDF", resolution=200)
    rendered = page_image(pdf, 0)
    assert rendered.image.size == page.size
    difference = np.abs(np.asarray(rendered.image, dtype=int) - np.asarray(page, dtype=int))
    assert difference.mean() < 1.0


def test_ocr_passes_are_recorded_beside_the_word_boxes(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    pdf = tmp_path / "table.pdf"
    table_page().save(pdf, "PDF", resolution=300)
    [outcome] = ingest_paths(migrated_settings, [pdf], IngestTarget("Wisconsin DWD", "WARN"))
    assert outcome.state == "indexed", outcome
    with session_scope(migrated_settings) as session:
        document = session.get(Document, outcome.document_id)
        assert document is not None
        page = session.query(Page).filter_by(document_id=document.id, number=1).one()
        assert page.words_path is not None
        stored = json.loads((migrated_settings.files_dir / page.words_path).read_text())
        assert set(page.text.replace(".", " ").split()) >= TABLE_WORDS
    assert stored["seconds"] > 0
    passes = stored["passes"]
    assert passes[0]["scope"] == "page"
    assert passes[0]["kept"] is True
    assert all({"method", "score", "confidence", "seconds", "kept"} <= set(p) for p in passes)
    # The words file's boxes are what the page shows: fractions of the upright page.
    assert all(0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 for _, x0, y0, x1, y1 in stored["words"])


def test_ocr_of_a_rendered_pdf_page_reads_the_table(tmp_path: Path) -> None:
    pdf = tmp_path / "table.pdf"
    table_page().save(pdf, "PDF", resolution=300)
    result = ocr_pdf_page(pdf, 0)
    assert words_of(result.words) >= TABLE_WORDS
