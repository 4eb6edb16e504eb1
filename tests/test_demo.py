"""The demo production: real PDFs read back with pypdfium2, pdfplumber and real tesseract."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pdfplumber
import pypdfium2 as pdfium
import pytesseract
import pytest
from PIL import Image

from ingest.demo import DEMO, DemoFile, bates, generate_demo_production, main

BATES = re.compile(r"ICE-2021-\d{6}")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    # Generated once: every test here only reads the files.
    return generate_demo_production(tmp_path_factory.mktemp("demo") / "out")


def _flat(text: str) -> str:
    # Line ends and wrapped spaces differ between extractors; phrases are compared on words.
    return " ".join(text.split())


def _layer_text(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    try:
        return [pdf[index].get_textpage().get_text_bounded() for index in range(len(pdf))]
    finally:
        pdf.close()


def _first_pages() -> Iterator[tuple[DemoFile, int]]:
    number = 1
    for demo_file in DEMO.files:
        yield demo_file, number
        number += demo_file.pages


def _digests(paths: list[Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def test_writes_every_declared_file(production: list[Path]) -> None:
    assert [path.name for path in production] == [f.filename for f in DEMO.files]
    assert 8 <= len(production) <= 12
    for demo_file, path in zip(DEMO.files, production, strict=True):
        pdf = pdfium.PdfDocument(path)
        try:
            assert len(pdf) == demo_file.pages, demo_file.filename
        finally:
            pdf.close()
    scanned = [f for f in DEMO.files if f.scanned]
    assert 2 <= len(scanned) <= 3
    assert 3 <= sum(f.pages for f in scanned) <= 5
    assert any(f.pages > 1 for f in DEMO.files if not f.scanned)
    assert sum(path.stat().st_size for path in production) < 3_000_000


def test_filenames_start_with_their_first_bates_number() -> None:
    for demo_file, first in _first_pages():
        assert demo_file.filename.startswith(bates(first) + "_")
    assert bates(1) == "ICE-2021-000001"


def test_born_digital_pages_carry_phrases_and_consecutive_bates(production: list[Path]) -> None:
    markings: set[str] = set()
    for (demo_file, first), path in zip(_first_pages(), production, strict=True):
        if demo_file.scanned:
            continue
        pages = _layer_text(path)
        text = _flat(" ".join(pages))
        for phrase in demo_file.phrases:
            assert phrase in text, f"{phrase!r} missing from {demo_file.filename}"
        for offset, page in enumerate(pages):
            assert BATES.findall(page) == [bates(first + offset)]
        markings.update(re.findall(r"\(b\)\(\d\)(?:\([A-F]\))?", text))
    assert {"(b)(4)", "(b)(5)", "(b)(6)", "(b)(7)(A)", "(b)(7)(C)", "(b)(7)(E)"} <= markings


def test_every_redaction_box_is_labelled_and_hides_nothing(production: list[Path]) -> None:
    boxes = 0
    for demo_file, path in zip(DEMO.files, production, strict=True):
        if demo_file.scanned:
            continue
        with pdfplumber.open(path) as pdf:
            for page in pdf.pages:
                words = page.extract_words()
                for rect in (r for r in page.rects if r["fill"]):
                    boxes += 1
                    bbox = (rect["x0"], rect["top"], rect["x1"], rect["bottom"])
                    # A real redaction leaves no text layer under the box.
                    assert page.within_bbox(bbox).extract_words() == []
                    beside = [
                        w["text"]
                        for w in words
                        if 0 <= w["x0"] - rect["x1"] <= 12
                        and rect["top"] <= (w["top"] + w["bottom"]) / 2 <= rect["bottom"]
                    ]
                    assert beside, f"unlabelled box on {demo_file.filename} p{page.page_number}"
                    assert beside[0].startswith("(b)")
    assert boxes >= 30


def test_scans_have_no_text_layer_only_an_image(production: list[Path]) -> None:
    for demo_file, path in zip(DEMO.files, production, strict=True):
        if not demo_file.scanned:
            continue
        assert [page.strip() for page in _layer_text(path)] == [""] * demo_file.pages
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                kinds = [obj.type for obj in pdf[index].get_objects()]
                assert kinds == [pdfium.raw.FPDF_PAGEOBJ_IMAGE]
        finally:
            pdf.close()


def test_tesseract_reads_the_scans(production: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # One thread per tesseract and one tesseract per core is the fast setup here (FIELD.md).
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    jobs: list[tuple[DemoFile, int, Image.Image]] = []
    for (demo_file, first), path in zip(_first_pages(), production, strict=True):
        if not demo_file.scanned:
            continue
        # pdfium is not thread-safe: render here, only the tesseract calls run in parallel.
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                image = pdf[index].render(scale=300 / 72, grayscale=True).to_pil()
                jobs.append((demo_file, first + index, image))
        finally:
            pdf.close()

    def ocr(job: tuple[DemoFile, int, Image.Image]) -> str:
        demo_file, _, image = job
        lang = "eng+spa" if "privacidad" in demo_file.filename else "eng"
        return str(pytesseract.image_to_string(image, lang=lang, timeout=120))

    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(ocr, jobs))

    by_file: dict[str, str] = {}
    for (demo_file, number, _), text in zip(jobs, texts, strict=True):
        assert bates(number) in text  # the stamp is what people cite: it must survive OCR
        by_file[demo_file.filename] = by_file.get(demo_file.filename, "") + " " + text
    for demo_file in DEMO.files:
        if not demo_file.scanned:
            continue
        text = _flat(by_file[demo_file.filename]).lower()
        found = [phrase for phrase in demo_file.phrases if phrase.lower() in text]
        # Noise may cost a word on another tesseract build; most phrases must still be read.
        assert len(found) >= len(demo_file.phrases) - 1, (demo_file.filename, found, text)


def test_second_run_is_byte_identical_and_leaves_files_alone(
    production: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _digests(production)
    mtimes = {path.name: path.stat().st_mtime_ns for path in production}

    again = generate_demo_production(production[0].parent)
    assert _digests(again) == expected
    assert {path.name: path.stat().st_mtime_ns for path in again} == mtimes

    # A fresh directory through the command line gets the very same bytes.
    main([str(tmp_path / "fresh")])
    printed = capsys.readouterr().out.split()
    assert [Path(line).name for line in printed] == [f.filename for f in DEMO.files]
    assert _digests([Path(line) for line in printed]) == expected


def test_damaged_file_is_rewritten(tmp_path: Path, production: list[Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    damaged = out / DEMO.files[0].filename
    damaged.write_bytes(b"%PDF-1.4 truncated")
    paths = generate_demo_production(out)
    assert _digests(paths) == _digests(production)
    assert not list(out.glob("*.part"))
