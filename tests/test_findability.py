"""Findability: words printed on scanned pages are found by search, on the right page.

Pages of known text are drawn with reportlab, rasterised with pypdfium2 at 250 DPI and made to
look scanned (grey paper, specks, a slight skew of 0.5 to 2 degrees, blur, sensor noise, JPEG),
then stored as image-only PDFs, so the only way to their words is OCR. They go through the real
pipeline (``ingest_paths``: intake, OCR, commit, index) into a real Meilisearch, and every
distinctive word is searched through the app's search service. A word counts as found when the
first document hit is the document it was printed in and that hit's matching pages include the
page it was printed on.

Distinctive words are real but uncommon (six letters or more), each printed on exactly one
page, amid filler prose made of common words that never includes them.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen.canvas import Canvas

from app.config import Settings
from app.meili import MeiliClient
from app.services.search import SearchQuery, search_pages
from ingest.run import IngestTarget, ingest_paths

SCAN_DPI = 250
REQUIRED_SCORE = 0.95

# Eight words per line, one line per page. Documents take three, three and two pages.
_WORD_LINES = """
albatross bergamot cormorant damask escarpment filigree gazebo hinterland
isotope juniper kestrel lanolin marmalade nebula obelisk paprika
quartzite rhubarb saffron tamarind vellum wolverine xylophone yarrow
zeppelin anchovy barnacle cinnabar dolomite falconry gossamer heliotrope
indigo jackal kaolin lichen mandolin nutmeg oriole pelican
quinoa rosemary sapphire thimble urchin verbena walnut yeoman
zircon armadillo bauxite chamomile driftwood eucalyptus flamingo gargoyle
hematite iguana jasmine kumquat lavender mongoose narwhal porcupine
"""
WORDS_BY_PAGE = tuple(tuple(line.split()) for line in _WORD_LINES.strip().splitlines())
PAGES_PER_DOCUMENT = (3, 3, 2)

_FILLER_PROSE = (
    "the office received the request and reviewed the records before the release date "
    "staff members discussed the schedule with the field unit and the regional director "
    "a copy of the report was sent to the program manager for review and comment "
    "the agency will respond to the appeal within the time allowed by law "
    "please contact the records division if you have questions about this letter "
    "the contract was signed after the meeting and the invoice was paid in full "
    "this memorandum describes the policy for handling public information requests"
)
FILLER = _FILLER_PROSE.split()
# Three faces a production really holds: a typewriter, a memo in Times, a printed email.
FONTS = ("Courier", "Times-Roman", "Helvetica")


@dataclass(frozen=True)
class PrintedWord:
    word: str
    file_name: str
    page: int  # 1-based, within its document


def _page_text(words: tuple[str, ...], rng: random.Random) -> str:
    """A page of filler sentences, each distinctive word set in a sentence of its own."""
    sentences = []
    for word in words:
        before = " ".join(rng.choice(FILLER) for _ in range(rng.randint(5, 10)))
        after = " ".join(rng.choice(FILLER) for _ in range(rng.randint(4, 9)))
        sentences.append(f"{before.capitalize()} {word} {after}.")
        sentences.append(" ".join(rng.choice(FILLER) for _ in range(12)).capitalize() + ".")
    return " ".join(sentences)


def _clean_pdf(pages: list[str], font: str) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=letter, invariant=True)
    width, height = letter
    for text in pages:
        canvas.setFont(font, 12)
        y = height - 72
        for paragraph in text.split(". "):
            for line in simpleSplit(paragraph.rstrip(".") + ".", font, 12, width - 144):
                canvas.drawString(72, y, line)
                y -= 16
            y -= 8
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _age(page: Image.Image, rng: random.Random) -> Image.Image:
    """Make a clean greyscale render look like a photocopy fed through a scanner."""
    width, height = page.size
    page = page.point([int(25 + v * (225 - 25) / 255) for v in range(256)])  # grey paper, toner
    draw = ImageDraw.Draw(page)
    for _ in range(400):  # dust and toner specks
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.5, 2.0)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 150))
    # The sheet sat crooked on the glass: 0.5 to 2 degrees either way.
    angle = rng.choice((-1, 1)) * rng.uniform(0.5, 2.0)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=225)
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.0)))
    noise = Image.frombytes("L", page.size, rng.randbytes(width * height))
    noise = noise.point([116 + v * 24 // 255 for v in range(256)])  # +/-12 grey levels
    return ImageChops.add(page, noise, scale=1.0, offset=-128)


def write_scanned_pdf(path: Path, pages: list[str], font: str, rng: random.Random) -> Path:
    """An image-only PDF: each page of text rendered, aged and embedded as a JPEG."""
    clean = pdfium.PdfDocument(_clean_pdf(pages, font))
    canvas = Canvas(str(path), pagesize=letter, invariant=True)
    try:
        for index in range(len(clean)):
            page = clean[index]
            try:
                image = page.render(scale=SCAN_DPI / 72, grayscale=True).to_pil()
            finally:
                page.close()
            jpeg = io.BytesIO()
            _age(image, rng).save(jpeg, "JPEG", quality=65, dpi=(SCAN_DPI, SCAN_DPI))
            canvas.drawImage(ImageReader(jpeg), 0, 0, width=letter[0], height=letter[1])
            canvas.showPage()
    finally:
        clean.close()
    canvas.save()
    return path


def make_scanned_production(folder: Path) -> tuple[list[Path], list[PrintedWord]]:
    """Write the scanned documents; return their paths and where each word was printed."""
    rng = random.Random("readingroom-findability-1")
    paths: list[Path] = []
    printed: list[PrintedWord] = []
    pages_iter = iter(WORDS_BY_PAGE)
    for number, count in enumerate(PAGES_PER_DOCUMENT):
        name = f"scan-{number + 1}.pdf"
        words = [next(pages_iter) for _ in range(count)]
        texts = [_page_text(page_words, rng) for page_words in words]
        paths.append(write_scanned_pdf(folder / name, texts, FONTS[number % len(FONTS)], rng))
        printed.extend(
            PrintedWord(word, name, page)
            for page, page_words in enumerate(words, start=1)
            for word in page_words
        )
    return paths, printed


def test_the_word_lists_are_distinctive() -> None:
    words = [w for page in WORDS_BY_PAGE for w in page]
    assert len(words) == len(set(words)), "a word printed on two pages has no right page"
    assert all(len(w) >= 6 for w in words)
    assert not set(words) & set(FILLER)
    assert sum(PAGES_PER_DOCUMENT) == len(WORDS_BY_PAGE)


@pytest.mark.slow
def test_distinctive_words_on_scanned_pages_are_found_on_their_page(
    migrated_settings: Settings,
    meili: MeiliClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths, printed = make_scanned_production(tmp_path)
    outcomes = ingest_paths(
        migrated_settings, paths, IngestTarget(agency="Findability Agency", production="Scans")
    )
    assert [o.state for o in outcomes] == ["indexed"] * len(paths), outcomes
    document_ids = {o.name: o.document_id for o in outcomes}

    missed = []
    for item in printed:
        results = search_pages(meili, migrated_settings, SearchQuery(q=item.word))
        top = results.documents[0] if results.documents else None
        found = (
            top is not None
            and top.id == document_ids[item.file_name]
            and item.page in [page.number for page in top.pages]
        )
        if not found:
            where = f"document {top.id} pages {[p.number for p in top.pages]}" if top else "no hit"
            missed.append(f"{item.word} (printed on {item.file_name} p{item.page}; got {where})")

    score = 1 - len(missed) / len(printed)
    with capsys.disabled():  # the score is the figure the issue asks for: show it every run
        print(f"\nfindability: {len(printed) - len(missed)}/{len(printed)} = {score:.1%}")
        for line in missed:
            print(f"  missed: {line}")
    assert score >= REQUIRED_SCORE, missed
