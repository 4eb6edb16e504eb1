"""Page images and word boxes: drawn from the stored PDF on first request, cached under the
derived folder, capped in pixels, rotated to match OCR boxes, and safe to ask for in parallel.

Boxes are checked against the pixels: the ink of a word must lie inside its box on the very
image the site serves.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import PIL.Image
import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient
from reportlab.pdfgen import canvas
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.models import Document, Page
from app.services.pages import (
    MAX_IMAGE_PIXELS,
    WordBox,
    load_page_words,
    page_image,
    page_words,
)
from ingest import PIPELINE_VERSION
from ingest.storage import derived_dir
from tests.archive_helpers import add_document, document_url, update_page
from tests.pdfs import make_text_pdf


def _rows(settings: Settings, document_id: int, number: int = 1) -> tuple[Document, Page]:
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        page = session.scalars(
            select(Page).where(Page.document_id == document_id, Page.number == number)
        ).one()
        assert document is not None
        session.expunge_all()
        return document, page


def _derived(settings: Settings, document_id: int) -> Path:
    document, _ = _rows(settings, document_id)
    return derived_dir(settings.files_dir, document.sha256, PIPELINE_VERSION)


def _image(answer_or_path: bytes | Path) -> PIL.Image.Image:
    data = answer_or_path.read_bytes() if isinstance(answer_or_path, Path) else answer_or_path
    return PIL.Image.open(io.BytesIO(data)).convert("L")


def _ink_inside(image: PIL.Image.Image, box: WordBox) -> int:
    """Dark pixels of ``image`` inside ``box`` (fractions)."""
    w, h = image.size
    region = image.crop(
        (int(box.x0 * w), int(box.y0 * h), int(box.x1 * w) + 1, int(box.y1 * h) + 1)
    )
    return sum(region.histogram()[:128])


def _word(words: list[WordBox], text: str) -> WordBox:
    return next(w for w in words if w.text.strip(".,") == text)


@pytest.fixture
def memo(migrated_settings: Settings, tmp_path: Path) -> int:
    texts = ["first line\nthe quetzal flies at noon", "second page"]
    return add_document(migrated_settings, make_text_pdf(tmp_path / "memo.pdf", texts), texts)


def test_images_are_webp_of_two_sizes_cached_under_the_derived_folder(
    web: TestClient, migrated_settings: Settings, memo: int
) -> None:
    url = document_url(migrated_settings, memo)
    thumb = web.get(f"{url}/pages/1/thumb.webp")
    image = web.get(f"{url}/pages/1/image.webp")
    for answer in (thumb, image):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/webp"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert _image(thumb.content).size == (200, 259)
    assert _image(image.content).size == (1000, 1294)

    cached = _derived(migrated_settings, memo) / "images" / "1-image.webp"
    assert cached.read_bytes() == image.content
    # The next request is served from the cache, whatever is now in it.
    marker = io.BytesIO()
    PIL.Image.new("RGB", (3, 3), "red").save(marker, "WEBP")
    cached.write_bytes(marker.getvalue())
    assert web.get(f"{url}/pages/1/image.webp").content == marker.getvalue()


def test_bad_image_requests_are_refused(
    web: TestClient, migrated_settings: Settings, memo: int
) -> None:
    url = document_url(migrated_settings, memo)
    assert web.get(f"{url}/pages/1/huge.webp").status_code == 404
    assert web.get(f"{url}/pages/3/image.webp").status_code == 404
    assert web.get(f"{url}/pages/0/image.webp").status_code == 400
    assert web.get(f"{url}/pages/99999999/image.webp").status_code == 400


def test_the_pipelines_converted_pdf_is_drawn_when_it_exists(
    web: TestClient, migrated_settings: Settings, memo: int, tmp_path: Path
) -> None:
    landscape = tmp_path / "landscape.pdf"
    pdf = canvas.Canvas(str(landscape), pagesize=(792, 612))
    pdf.drawString(72, 500, "converted")
    pdf.showPage()
    pdf.save()
    target = _derived(migrated_settings, memo) / "document.pdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(landscape.read_bytes())
    url = document_url(migrated_settings, memo)
    assert _image(web.get(f"{url}/pages/1/image.webp").content).size == (1000, 773)


def test_absurd_page_sizes_are_capped_in_pixels(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    tall = tmp_path / "tall.pdf"
    pdf = canvas.Canvas(str(tall), pagesize=(400, 14_400))  # 5.5 x 200 inches
    pdf.drawString(10, 10, "bottom")
    pdf.showPage()
    pdf.save()
    document_id = add_document(migrated_settings, tall, ["bottom"])
    document, page = _rows(migrated_settings, document_id)
    width, height = _image(page_image(migrated_settings, document, page, "image")).size
    assert width * height <= MAX_IMAGE_PIXELS * 1.01
    assert width < 1000
    assert abs(width / height - 400 / 14_400) < 0.01


def test_text_layer_words_are_computed_once_and_line_up_with_the_image(
    migrated_settings: Settings, memo: int
) -> None:
    document, page = _rows(migrated_settings, memo)
    words = page_words(migrated_settings, document, page)
    assert [w.text for w in words] == ["first", "line", "the", "quetzal", "flies", "at", "noon"]
    cached = _derived(migrated_settings, memo) / "words" / "1.json"
    stored = json.loads(cached.read_text())
    assert (stored["version"], stored["source"], stored["rotation"]) == (1, "layer", 0)
    assert stored["words"][3][0] == "quetzal"

    image = _image(page_image(migrated_settings, document, page, "image"))
    quetzal = _word(words, "quetzal")
    assert _ink_inside(image, quetzal) > 50
    # An empty stretch of page the same size, just below the text, has no ink.
    below = WordBox(
        "", quetzal.x0, quetzal.y1 + 0.05, quetzal.x1, 2 * quetzal.y1 - quetzal.y0 + 0.05
    )
    assert _ink_inside(image, below) == 0

    stored["words"][3][0] = "edited"  # the cache is what is read next time
    cached.write_text(json.dumps(stored))
    assert _word(page_words(migrated_settings, document, page), "edited")


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_words_of_rotated_pdf_pages_are_upright(
    migrated_settings: Settings, tmp_path: Path, rotate: int
) -> None:
    plain = make_text_pdf(tmp_path / "plain.pdf", ["the quetzal flies at noon"])
    pdf = pdfium.PdfDocument(plain)
    pdf[0].set_rotation(rotate)
    rotated = tmp_path / f"rotated-{rotate}.pdf"
    pdf.save(rotated)
    pdf.close()
    document_id = add_document(migrated_settings, rotated, ["the quetzal flies at noon"])
    document, page = _rows(migrated_settings, document_id)
    quetzal = _word(page_words(migrated_settings, document, page), "quetzal")
    image = _image(page_image(migrated_settings, document, page, "image"))
    assert (image.width > image.height) == (rotate % 180 == 90)
    assert _ink_inside(image, quetzal) > 50


def test_ocr_words_file_turns_the_image_and_draws_the_hits(
    web: TestClient, migrated_settings: Settings, memo: int
) -> None:
    """The pipeline read the page turned 90 degrees clockwise: the image is turned to match."""
    relative = Path("derived") / "ocr-words-1.json"
    words = {
        "version": 1,
        "source": "ocr",
        "rotation": 90,
        "words": [["FaceTrace", 0.1, 0.2, 0.3, 0.25], ["pilot", 0.32, 0.2, 0.4, 0.25]],
    }
    (migrated_settings.files_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (migrated_settings.files_dir / relative).write_text(json.dumps(words))
    update_page(migrated_settings, memo, 1, words_path=str(relative))
    url = document_url(migrated_settings, memo)
    answer = web.get(f"{url}/pages/1.json", params={"q": "facetrace"})
    body = answer.json()
    assert body["highlights"] == [
        {"text": "FaceTrace", "x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.25}
    ]
    assert body["page"]["image"] | {"url": ""} == {
        "url": "",
        "width": 1000,
        "height": 773,
        "rotation": 90,
    }
    assert _image(web.get(f"{url}/pages/1/image.webp").content).size == (1000, 773)
    document, page = _rows(migrated_settings, memo)
    assert load_page_words(migrated_settings, document, page).source == "ocr"


def test_words_paths_outside_the_store_and_bad_files_give_no_boxes(
    web: TestClient, migrated_settings: Settings, memo: int, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(
        json.dumps({"version": 1, "rotation": 0, "words": [["quetzal", 0, 0, 1, 1]]})
    )
    url = document_url(migrated_settings, memo)
    broken = migrated_settings.files_dir / "broken.json"
    broken.write_text('{"version": 1, "words": [["x", "a", 0, 1, 1], 7, ["quetzal", 0.1, 0.1')
    for words_path in (str(outside), "../outside.json", "broken.json", "missing.json"):
        update_page(migrated_settings, memo, 1, words_path=words_path)
        answer = web.get(f"{url}/pages/1.json", params={"q": "quetzal"})
        assert answer.status_code == 200
        assert answer.json()["highlights"] == [], words_path


def test_parallel_requests_render_each_image_once_and_whole(
    migrated_settings: Settings, tmp_path: Path
) -> None:
    texts = [f"page {n} of many" for n in range(1, 9)]
    document_id = add_document(
        migrated_settings, make_text_pdf(tmp_path / "many.pdf", texts), texts
    )
    pages = [_rows(migrated_settings, document_id, n) for n in range(1, 9)]
    jobs = [pages[i % 8] for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(
            pool.map(lambda rows: page_image(migrated_settings, rows[0], rows[1], "thumb"), jobs)
        )
    assert len(set(paths)) == 8
    for path in paths:
        assert _image(path).size == (200, 259)
    leftovers = [p for p in paths[0].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
