"""Failed redactions: text still in the text layer under boxes, images and annotations."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from bench.findings_set import REDACTION_CASES, write_redaction_pdf
from ingest.extract.layout import scan_layout
from ingest.extract.text import clean_text
from ingest.hidden_text import HiddenText, find_hidden_text
from tests.conftest import corpus_file


def hidden_per_page(path: Path) -> list[list[HiddenText]]:
    pdf = pdfium.PdfDocument(path)
    try:
        found = []
        for page in pdf:
            textpage = page.get_textpage()
            text = clean_text(textpage.get_text_bounded())
            found.append(find_hidden_text(page, textpage, scan_layout(page, textpage), text))
            textpage.close()
            page.close()
        return found
    finally:
        pdf.close()


def test_each_way_of_hiding_text_is_found_and_each_way_of_not_hiding_it_is_not(
    tmp_path: Path,
) -> None:
    pages = hidden_per_page(write_redaction_pdf(tmp_path / "cases.pdf"))
    for case, found in zip(REDACTION_CASES, pages, strict=True):
        if case.expected is None:
            assert found == [], case.name
            continue
        (hidden,) = found
        assert (hidden.kind, hidden.text) == (case.expected, case.secret), case.name
        assert hidden.spans, case.name  # located in the page text, for its mask


def test_hidden_text_is_located_in_the_page_text(tmp_path: Path) -> None:
    path = write_redaction_pdf(tmp_path / "box.pdf", REDACTION_CASES[:1])
    pdf = pdfium.PdfDocument(path)
    page = pdf[0]
    textpage = page.get_textpage()
    text = clean_text(textpage.get_text_bounded())
    (hidden,) = find_hidden_text(page, textpage, scan_layout(page, textpage), text)
    assert [text[a:b] for a, b in hidden.spans] == ["Maria Lopez Garcia"]
    textpage.close()
    page.close()
    pdf.close()


def test_the_cross_hatched_redactions_of_xray_are_found() -> None:
    # x-ray's own test expects 16 bad redactions on this page.
    (found,) = hidden_per_page(corpus_file("fl-xray__bad_cross_hatched_redactions.pdf"))
    assert len(found) == 16
    assert {h.kind for h in found} == {"text_under_box"}
    assert "November 2019" in {h.text for h in found}


@pytest.mark.parametrize(
    "name",
    [
        "fl-xray__no_bad_redactions.5.5.pdf",  # a scan with an OCR layer under its images
        "fl-xray__rect_ordering_2.1.pdf",  # text drawn on top of rectangles
        "fl-xray__whitespace_redactions.pdf",  # boxes over nothing but spaces
    ],
)
def test_xray_files_without_bad_redactions_give_none(name: str) -> None:
    assert [h for page in hidden_per_page(corpus_file(name)) for h in page] == []
