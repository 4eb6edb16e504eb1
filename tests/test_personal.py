"""Personal data in page text: the known-answer set, look-alikes, and each rule's edges."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.findings_set import KINDS, known_pages, write_pages_pdf
from ingest.personal import HIGH_CONFIDENCE, find_personal_data
from tests.pdfs import layer_texts

MIN_PRECISION = 0.95
MIN_RECALL = 0.95


def _norm(value: str) -> str:
    return "".join(value.split()).lower()


def score(texts: list[str], planted: list[list[tuple[str, str]]]) -> dict[str, tuple[float, float]]:
    """Precision and recall per kind of ``find_personal_data`` on known pages."""
    hits, false, missed = Counter[str](), Counter[str](), Counter[str]()
    for text, truth in zip(texts, planted, strict=True):
        found = {(m.kind, _norm(m.value)) for m in find_personal_data(text)}
        expected = {(kind, _norm(value)) for kind, value in truth}
        for kind, _ in found & expected:
            hits[kind] += 1
        for kind, _ in found - expected:
            false[kind] += 1
        for kind, _ in expected - found:
            missed[kind] += 1
    return {
        kind: (
            hits[kind] / max(1, hits[kind] + false[kind]),
            hits[kind] / max(1, hits[kind] + missed[kind]),
        )
        for kind in KINDS
    }


def test_precision_and_recall_per_kind_on_the_known_answer_pdfs(tmp_path: Path) -> None:
    pages = known_pages()
    # Read back from a real PDF: the text as the pipeline sees it, line breaks and all.
    texts = [
        t.replace("\r\n", "\n") for t in layer_texts(write_pages_pdf(tmp_path / "k.pdf", pages))
    ]
    scores = score(texts, [p.planted for p in pages])
    print("\nkind               precision recall")
    for kind, (precision, recall) in scores.items():
        print(f"{kind:18} {precision:9.3f} {recall:6.3f}")
    assert sum(len(p.planted) for p in pages) == 24 * len(KINDS)
    for kind, (precision, recall) in scores.items():
        assert precision >= MIN_PRECISION, (kind, precision)
        assert recall >= MIN_RECALL, (kind, recall)


def test_bates_tracking_and_case_numbers_are_never_flagged() -> None:
    text = "\n".join(
        [
            "Bates ICE-2021-000123   2019-ICLI-00003 022454   DHS-CBP-0004567",
            "FOIA request 2021-ICFO-21457 and 2022-ICFO-03318 were received on 03/14/2021.",
            "Case No. 3:21-cv-04719, Docket 1:19-cv-01234-RDM, Invoice 716707603.",
            "Withheld under (b)(6), (b)(7)(C). Form I-213. Total $1,234,567.89. ZIP 20536-5009.",
            "From: john.smith@ice.dhs.gov; foia@cbp.dhs.gov; clerk@cand.uscourts.gov",
            "U.S. Immigration and Customs Enforcement",
            "500 12th Street SW",
            "Washington, DC 20536",
        ]
    )
    assert find_personal_data(text) == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("SSN: 536-22-8841", "ssn", "536-22-8841"),
        ("SSN 536228841 on file", "ssn", "536228841"),
        ("A-Number: A201-555-014", "a_number", "A201-555-014"),
        ("Subject A12345678 was", "a_number", "A12345678"),
        ("DOB: 03/14/1987", "date_of_birth", "03/14/1987"),
        ("Date of Birth (mm/dd/yyyy): 11/02/1979", "date_of_birth", "11/02/1979"),
        ("Cell: (520) 623-4410", "phone", "(520) 623-4410"),
        ("wrote from rosa.perez77@gmail.com today", "email", "rosa.perez77@gmail.com"),
        ("lives at 4127 Maple Avenue, Apt 3B, Tucson, AZ 85711", "street_address", None),
        ("Passport No. G12345678", "passport", "G12345678"),
        ("Driver's License: D1234567", "drivers_license", "D1234567"),
        ("paid with Visa 4111 1111 1111 1111", "credit_card", "4111 1111 1111 1111"),
    ],
)
def test_each_kind_is_found_with_its_value(text: str, kind: str, value: str | None) -> None:
    (match,) = find_personal_data(text)
    assert match.kind == kind
    assert text[match.start : match.end] == match.value
    if value is not None:
        assert match.value == value


@pytest.mark.parametrize(
    "text",
    [
        "SSN: 000-12-3456",  # never issued
        "SSN: 666-12-3456",
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "call 123-456-7890",  # no such area code
        "dated 03/14/1987",  # a date, not a birth date
        "agent.name@ice.dhs.gov",  # a public servant's address
        "A1234567 and A-123-45",  # too few digits for an A-number
    ],
)
def test_look_alikes_are_not_personal_data(text: str) -> None:
    assert find_personal_data(text) == []


def test_a_label_makes_a_finding_high_confidence() -> None:
    (bare,) = find_personal_data("the number (520) 623-4410 rang")
    (labelled,) = find_personal_data("Cell: (520) 623-4410")
    assert bare.confidence < HIGH_CONFIDENCE <= labelled.confidence


def test_the_pages_own_bates_number_is_excluded() -> None:
    assert find_personal_data("A00012345", exclude=["A00012345"]) == []
    assert [m.kind for m in find_personal_data("A00012345")] == ["a_number"]
