"""Redaction boxes in born-digital pages (vector) and in scans (image), on made and real pages."""

from __future__ import annotations

import time
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from ingest.redactions import Box, RedactionError, find_image_redactions, find_vector_redactions
from ingest.render import render_page
from tests.conftest import CORPUS, needs_corpus

PAGE_HEIGHT = letter[1]


def near(box: Box, x0: float, top: float, x1: float, bottom: float, tolerance: float) -> bool:
    return all(
        abs(got - want) <= tolerance
        for got, want in zip(
            (box.x0, box.top, box.x1, box.bottom), (x0, top, x1, bottom), strict=True
        )
    )


# --- vector boxes -----------------------------------------------------------------------------


@pytest.fixture
def redacted_pdf(tmp_path: Path) -> Path:
    """Page 1: three black boxes among things that are not redactions. Page 2: a black page."""
    path = tmp_path / "redacted.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    pdf.setFont("Helvetica", 11)
    for line in range(30):
        pdf.drawString(72, 700 - line * 16, "The subject was interviewed by the agent on duty.")

    def box(x: float, top: float, width: float, height: float, *, stroke: int = 0) -> None:
        pdf.rect(x, PAGE_HEIGHT - top - height, width, height, fill=1 - stroke, stroke=stroke)

    pdf.setFillGray(0)  # DeviceGray black
    box(100, 100, 120, 14)
    box(100, 100, 120, 14)  # the same box drawn twice counts once
    pdf.setFillColorRGB(0.05, 0.05, 0.05)  # RGB near-black
    box(300, 400, 150, 18)
    pdf.setFillColorCMYK(0, 0, 0, 1)  # CMYK black
    box(72, 600, 400, 40)

    # Not redactions: a rule, a speck, a grey box, an outline, and a heading bar (white text).
    pdf.setFillGray(0)
    box(72, 300, 468, 1)
    box(500, 500, 3, 3)
    pdf.setFillGray(0.5)
    box(300, 200, 100, 20)
    pdf.setStrokeGray(0)
    box(72, 660, 200, 30, stroke=1)
    pdf.setFillGray(0)
    box(72, 40, 300, 16)
    pdf.setFillGray(1)
    pdf.drawString(76, PAGE_HEIGHT - 52, "Part 1: Identify Yourself")
    pdf.showPage()

    pdf.setFillGray(0)
    pdf.rect(0, 0, *letter, fill=1, stroke=0)
    pdf.showPage()
    pdf.save()
    return path


def test_vector_redactions_are_the_filled_dark_boxes(redacted_pdf: Path) -> None:
    boxes = find_vector_redactions(redacted_pdf, 0)

    assert len(boxes) == 3
    assert near(boxes[0], 100, 100, 220, 114, tolerance=1)
    assert near(boxes[1], 300, 400, 450, 418, tolerance=1)
    assert near(boxes[2], 72, 600, 472, 640, tolerance=1)


def test_a_black_page_background_is_not_a_redaction(redacted_pdf: Path) -> None:
    assert find_vector_redactions(redacted_pdf, 1) == []


def raw_page_pdf(path: Path, content: bytes, *, forms: dict[str, bytes] | None = None) -> Path:
    """A letter page whose content stream is ``content``; ``forms`` are Form XObjects by name."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=letter)
    page = pdf.pages[0]
    page.obj.Contents = pdf.make_stream(content)
    if forms:
        page.obj.Resources = pikepdf.Dictionary(
            XObject=pikepdf.Dictionary(
                {
                    f"/{name}": pdf.make_stream(
                        stream,
                        Type=pikepdf.Name.XObject,
                        Subtype=pikepdf.Name.Form,
                        BBox=[0, 0, 612, 792],
                    )
                    for name, stream in forms.items()
                }
            )
        )
    pdf.save(path)
    return path


def test_boxes_drawn_as_one_path_count_one_by_one_and_shapes_do_not(tmp_path: Path) -> None:
    # Two rectangles filled by one operator (one pdfium path object, two subpaths), then a
    # filled black disc made of curves, which is a shape, not a box.
    content = (
        b"0 g 100 600 120 20 re 300 500 80 30 re f "
        b"400 200 m 400 227.6 377.6 250 350 250 c 322.4 250 300 227.6 300 200 c "
        b"300 172.4 322.4 150 350 150 c 377.6 150 400 172.4 400 200 c f"
    )
    boxes = find_vector_redactions(raw_page_pdf(tmp_path / "paths.pdf", content), 0)

    assert len(boxes) == 2
    assert near(boxes[0], 100, PAGE_HEIGHT - 620, 220, PAGE_HEIGHT - 600, tolerance=0.5)
    assert near(boxes[1], 300, PAGE_HEIGHT - 530, 380, PAGE_HEIGHT - 500, tolerance=0.5)


def test_a_box_inside_a_scaled_form_is_found_where_the_page_shows_it(tmp_path: Path) -> None:
    # The form draws a 50x10 box at (10, 10); the page scales the form 2x and moves it.
    path = raw_page_pdf(
        tmp_path / "form.pdf",
        b"q 2 0 0 2 100 300 cm /Fm1 Do Q",
        forms={"Fm1": b"0 g 10 10 50 10 re f"},
    )

    [box] = find_vector_redactions(path, 0)

    assert near(box, 120, PAGE_HEIGHT - 340, 220, PAGE_HEIGHT - 320, tolerance=0.5)


def test_unreadable_pdfs_raise_redaction_error(tmp_path: Path) -> None:
    with pytest.raises(RedactionError):
        find_vector_redactions(tmp_path / "missing.pdf", 0)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4\nnot really\n")
    with pytest.raises(RedactionError):
        find_vector_redactions(junk, 0)


@needs_corpus
def test_encrypted_pdfs_need_their_password() -> None:
    path = CORPUS / "pypdf__r2-user-password.pdf"
    with pytest.raises(RedactionError, match=r"(?i)password"):
        find_vector_redactions(path, 0)
    assert find_vector_redactions(path, 0, password="asdfzxcv") == []


@needs_corpus
@pytest.mark.parametrize(
    ("name", "page", "count"),
    [
        # Court filing with seven black boxes over the text (checked by eye, page 10 of 47).
        ("fl-xray__gov.uscourts.cacd.798862.49.4.pdf", 9, 7),
        # Cross-hatched boxes: 17 filled black rectangles, the hatching drawn over them.
        ("fl-xray__bad_cross_hatched_redactions.pdf", 0, 17),
        # Bankruptcy form: black bars carry white headings ("Part 1:"); nothing is redacted.
        ("fl-xray__rect_ordering_2.1.pdf", 0, 0),
        # A born-digital filing with no boxes at all.
        ("fl-xray__gov.uscourts.cacd.604416.1107.0.pdf", 0, 0),
    ],
)
def test_vector_redactions_on_corpus_pages(name: str, page: int, count: int) -> None:
    boxes = find_vector_redactions(CORPUS / name, page)

    assert len(boxes) == count


@needs_corpus
def test_vector_redaction_positions_on_a_court_filing() -> None:
    boxes = find_vector_redactions(CORPUS / "fl-xray__gov.uscourts.cacd.798862.49.4.pdf", 9)

    # Three consecutive lines blacked out, left column of the pleading paper.
    assert near(boxes[0], 276.3, 263.5, 506.4, 282.4, tolerance=1)
    assert near(boxes[1], 99.8, 287.5, 560.3, 306.4, tolerance=1)
    assert all(100 > box.bottom - box.top > 15 for box in boxes)


# --- image boxes ------------------------------------------------------------------------------


def scanned_page() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A 300 DPI letter 'scan' with text, three redaction boxes and dark things that are not."""
    image = Image.new("L", (2550, 3300), 250)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=42)
    bold = ImageFont.load_default(size=90)
    draw.text((300, 200), "NOTICE OF RESPONSE", font=bold, fill=0)
    for line in range(40):
        draw.text(
            (300, 420 + line * 62), "The officer stated that the vehicle was", font=font, fill=0
        )
    boxes = [(700, 604, 1400, 660), (300, 1500, 1100, 1800), (1500, 2400, 1900, 2470)]
    for box in boxes:
        draw.rectangle(box, fill=15)
    # Scanner noise inside a box, and the exemption printed white on the third box.
    for x in range(320, 1080, 37):
        draw.point((x, 1650), fill=255)
    draw.text((1520, 2410), "(b)(6), (b)(7)(C)", font=font, fill=255)
    # Not redactions: a thick rule, a bullet, a scanner border on the left edge, a
    # half-page dark photo.
    draw.rectangle((300, 2900, 2200, 2908), fill=0)
    draw.rectangle((260, 3000, 280, 3020), fill=0)
    draw.rectangle((0, 0, 40, 3299), fill=0)
    return image, boxes


def test_image_redactions_finds_the_three_boxes() -> None:
    image, drawn = scanned_page()

    started = time.perf_counter()
    boxes = find_image_redactions(image)
    elapsed = time.perf_counter() - started

    assert len(boxes) == 3
    for box, (x0, top, x1, bottom) in zip(boxes, drawn, strict=True):
        assert near(box, x0, top, x1, bottom, tolerance=12)
    assert elapsed < 0.5


def test_image_redactions_accepts_rgb_and_bilevel_images() -> None:
    image, _ = scanned_page()

    assert len(find_image_redactions(image.convert("RGB"))) == 3
    assert len(find_image_redactions(image.convert("1"))) == 3


def test_image_redactions_ignore_a_page_that_is_half_a_dark_photo() -> None:
    image = Image.new("L", (2550, 3300), 255)
    ImageDraw.Draw(image).rectangle((200, 300, 2300, 2400), fill=30)

    assert find_image_redactions(image) == []


@needs_corpus
@pytest.mark.parametrize(
    ("name", "page", "low", "high"),
    [
        # ICE I-213: (b)(6)/(b)(7)(C) boxes with white labels, one big box over a photo.
        ("uwchr-i213__3866f3-1789-1791.pdf", 0, 8, 16),
        # CPD memo, Xerox scan: five boxes over words, white "REDACTED" labels on them.
        ("lucyparsons-1505__CPD_FOIA14-5298_Response.pdf", 0, 5, 5),
        # Boxes crossed by signatures and overlapping one another (checked by eye).
        ("lucyparsons-1505__CPD_FOIA16-0189redactions.pdf", 1, 7, 7),
        # A response letter with no redactions.
        ("invinst-cpd__15-6588_Kalven_F.pdf", 0, 0, 0),
    ],
)
def test_image_redactions_on_corpus_scans(name: str, page: int, low: int, high: int) -> None:
    image = render_page(CORPUS / name, page)

    assert low <= len(find_image_redactions(image)) <= high


@needs_corpus
def test_the_big_i213_photo_box_is_found_where_it_is() -> None:
    image = render_page(CORPUS / "uwchr-i213__3866f3-1789-1791.pdf", 0)

    boxes = find_image_redactions(image)

    # The box over the subject's photo (checked by eye), without the small "FIN:" box that
    # touches its top edge.
    assert any(near(box, 172, 1686, 660, 2158, tolerance=12) for box in boxes)
