"""Words hyphenated across a line break, and phrases across a page break, are found whole."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.config import Settings
from ingest.continuity import head_words, is_furniture, join_hyphenated, seam, tail_words
from ingest.run import IngestTarget, ingest_paths
from tests.pdfs import make_text_pdf


def test_a_word_hyphenated_at_a_line_end_is_joined() -> None:
    assert join_hyphenated("uses facial recog-\nnition to match") == (
        "uses facial recognition to match"
    )
    # A soft hyphen, a Unicode hyphen, spaces around the break, a blank line between.
    assert join_hyphenated("docu\u00ad\nment") == "document"
    assert join_hyphenated("surveil\u2010  \n  lance") == "surveillance"
    assert join_hyphenated("infor-\n\nmation") == "information"


def test_a_compound_at_a_line_end_keeps_its_hyphen() -> None:
    # Both parts are words and their join is not: a compound, not a split word.
    assert join_hyphenated("a self-\nemployed vendor") == "a self-employed vendor"
    # A capital after the break is a name or a code.
    assert join_hyphenated("Mr. Smith-\nJones") == "Mr. Smith-Jones"
    # A hyphen inside a line is left alone, and so are dashes before numbers.
    assert join_hyphenated("e-mail and\nlaw-enforcement") == "e-mail and\nlaw-enforcement"
    assert join_hyphenated("pages 10-\n12") == "pages 10-\n12"


def test_page_furniture_is_not_running_text() -> None:
    for line in (
        "ICE-2021-000123",
        "2019-ICLI-00003 022454",
        "DHS 000123",
        "12",
        "Page 3 of 10",
        "- 4 -",
        "Página 2 de 9",
    ):
        assert is_furniture(line), line
    for line in (
        "The 2021 budget was approved",
        "Contact DHS 000123 about the many details",
        "Section 12 of the contract",
    ):
        assert not is_furniture(line), line


def test_a_seam_joins_the_last_words_of_a_page_to_the_first_of_the_next() -> None:
    page = "First line of the memo.\nThe program relies on facial\nICE-2021-000123\nPage 3 of 4"
    following = "Page 4 of 4\nrecognition software bought in 2019.\nMore text."
    assert tail_words(page, 3) == ["relies", "on", "facial"]
    assert head_words(following, 3) == ["recognition", "software", "bought"]
    joined = seam(page, following)
    assert "facial\nrecognition software" in joined
    assert seam(page, None) == ""
    # Hyphenated across the page break: joined too.
    assert "recognition" in seam("about facial recog-", "nition systems")


def test_phrases_across_page_breaks_and_hyphenated_words_are_found(
    web: TestClient, migrated_settings: Settings, tmp_path: Path
) -> None:
    pages = [
        "Memorandum for the record.\nThe field office evaluated a system for\n"
        "automated facial\nICE-2021-000101",
        "ICE-2021-000102\nrecognition of travellers, and the vendor's\n"
        "quarterly invoices were reviewed by the audit-\nors of the program office.",
        "Closing page with nothing of note.",
    ]
    pdf = make_text_pdf(tmp_path / "memo.pdf", pages)
    [outcome] = ingest_paths(migrated_settings, [pdf], IngestTarget("ICE", "Release 1"))
    assert outcome.state == "indexed", outcome

    def pages_of(q: str) -> list[int]:
        body = web.get("/search.json", params={"q": q}).json()
        assert len(body["documents"]) == 1, (q, body)
        return [page["number"] for page in body["documents"][0]["pages"]]

    # The phrase starts at the foot of page 1 (below it only a Bates stamp) and ends on page 2.
    assert pages_of('"automated facial recognition of travellers"') == [1]
    assert pages_of("automated facial recognition") == [1]
    # A word split at a line end is found whole, on its page.
    assert pages_of("auditors") == [2]
    # A word on the first line of page 2 is found on page 2 alone, not on page 1's seam too.
    body = web.get("/search.json", params={"q": "recognition travellers"}).json()
    document = body["documents"][0]
    assert [page["number"] for page in document["pages"]] == [2]
    assert document["matching_pages"] == 1
    # The snippet of a phrase found on the seam shows and marks the phrase.
    body = web.get("/search.json", params={"q": '"facial recognition"'}).json()
    marked = BeautifulSoup(body["documents"][0]["pages"][0]["snippet"], "html.parser")
    assert " ".join(" ".join(m.text.split()) for m in marked.find_all("mark")) == (
        "facial recognition"
    )
