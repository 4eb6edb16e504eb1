"""Exemption codes and Bates stamps: every spelling, the traps, hostile input, real pages."""

from __future__ import annotations

import time

import pdfplumber
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ingest.markings import Word, bates_range, bates_sort_key, find_bates_number, find_exemptions
from tests.conftest import CORPUS, needs_corpus
from tests.pdfs import layer_texts

ALL_CODES = [f"b{n}" for n in range(1, 10)] + [f"b7{letter}" for letter in "ABCDEF"]

# --- find_exemptions: spellings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("(b)(6)", ["b6"]),
        ("b6", ["b6"]),
        ("(b) (6)", ["b6"]),
        ("B6", ["b6"]),
        ("(B)(6)", ["b6"]),
        ("(b)(7)(C)", ["b7C"]),
        ("(b) (7) (C)", ["b7C"]),
        ("( b ) ( 7 ) ( C )", ["b7C"]),
        ("b(7)(C)", ["b7C"]),
        ("b7c", ["b7C"]),
        ("b7C", ["b7C"]),
        ("b7(C)", ["b7C"]),
        ("(b)(7)(c)", ["b7C"]),
        ("(b)(7)(E)", ["b7E"]),
        ("(b)(1)", ["b1"]),
        ("(b)(9)", ["b9"]),
        ("(b)(7)", ["b7"]),
        ("(b)(7)(A) (b)(7)(B) (b)(7)(D) (b)(7)(F)", ["b7A", "b7B", "b7D", "b7F"]),
        ("5 U.S.C. § 552(b)(6)", ["b6"]),
        ("5 U.S.C. § 552 (b)(7)(C)", ["b7C"]),
        ("withheld under FOIA Exemption 5", ["b5"]),
        ("Exemptions 6 and 7(C)", ["b6", "b7C"]),
        ("Exemptions 6, 7(C), and 7(E)", ["b6", "b7C", "b7E"]),
        ("exemption 7C applies", ["b7C"]),
        ("b6/b7C", ["b6", "b7C"]),
        ("(b)(6)\n(b)(7)(C)", ["b6", "b7C"]),
        ("(b)(6)\r\n(b)(7)(C)", ["b6", "b7C"]),
        ("Name: [redacted (b)(6)].", ["b6"]),
        # A stray sub-letter on an exemption without sub-paragraphs keeps the clear part.
        ("(b)(6)(C)", ["b6"]),
    ],
)
def test_find_exemptions_reads_every_spelling(text: str, codes: list[str]) -> None:
    assert find_exemptions(text) == codes


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("(b)(6);(b)(7)(C)", ["b6", "b7C"]),
        ("(b)(6), (7)(C)", ["b6", "b7C"]),
        ("(b)(6); (7)(C)", ["b6", "b7C"]),
        ("(b)(6) and (7)(C)", ["b6", "b7C"]),
        ("(b)(6), (7)(C), and (7)(E)", ["b6", "b7C", "b7E"]),
        ("(b)(7)(A), (C), and (E)", ["b7A", "b7C", "b7E"]),
        ("(b) (6), (7) (C)", ["b6", "b7C"]),
    ],
)
def test_find_exemptions_shorthand_inherits_the_b(text: str, codes: list[str]) -> None:
    assert find_exemptions(text) == codes


def test_find_exemptions_splits_overlapping_labels() -> None:
    # From the I-213 in the corpus: labels printed over each other. The "(b)" after "(7)" is
    # the next label, not exemption 7(B).
    assert find_exemptions("(b) (6), (b) (7)(b) (7)(E)") == ["b6", "b7", "b7E"]
    assert find_exemptions("(b)(7)(b)(6)") == ["b6", "b7"]


@pytest.mark.parametrize(
    "text",
    [
        "ab6x",
        "0xb6",
        "deadbeefb6",
        "a3b6c1d2-0000",
        "00:1b:b6:22:33:44",
        "color: #b6b6b6",
        "cell B:B1",
        "A∩B6=∅",
        "B1(0, 1)",
        "b6c",
        "entered on a B1/B2 visa",
        "a B2 visa holder",
        "takes vitamin B6 daily",
        "Schedule B6",
        "(b)",
        "(b) (6",
        "(b)()",
        "(b)(10)",
        "(b)(0)",
        "b10",
        "b0",
        "Louisiana, even though §5.05(b)(2) lacks any explicit reference",  # corpus: a compact
        "stream compact.” §105.12A(B)(1). A separate provision",  # ... and a statute's own (b)
        "8 U.S.C. 1182(b)(2)",
        "5 U.S.C. 552a(b)(3)",  # the Privacy Act's conditions of disclosure, not FOIA
        "Section 7(1)(c) of the Illinois FOIA",
        "exempt under 5 ILCS 140/7(1)(c)",
        "pursuant to exemption 7(1)(c)",
        "exempted by CPD",
        "212(a)(7)(A)(i)(I) of the INA",
        "",
    ],
)
def test_find_exemptions_ignores_look_alikes(text: str) -> None:
    assert find_exemptions(text) == []


HOSTILE = [
    "(b)(",
    "(b) (7)",
    "( b ) ( 7 ) ( ",
    "b(7)(",
    "(b)(7)(b)",
    "(b)(6), (7)",
    "(b)(7)(C), (C), (",
    "Exemptions 6, ",
    "b6 ",
    "   ",
]


@pytest.mark.parametrize("unit", HOSTILE)
def test_find_exemptions_is_linear_on_hostile_text(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    started = time.perf_counter()
    find_exemptions(text)
    assert time.perf_counter() - started < 5


def _render(codes: list[str], styles: list[int], separators: list[str]) -> str:
    def one(code: str, style: int) -> str:
        digit, sub = code[1], code[2:]
        return [
            f"(b)({digit})" + (f"({sub})" if sub else ""),
            f"(b) ({digit})" + (f" ({sub.lower()})" if sub else ""),
            f"b{digit}{sub}",
            f"b({digit})" + (f"({sub})" if sub else ""),
            f"Exemption {digit}" + (f"({sub})" if sub else ""),
        ][style % 5]

    parts = [one(code, style) for code, style in zip(codes, styles, strict=False)]
    text = ""
    for index, part in enumerate(parts):
        text += part + separators[index % len(separators)]
    return text


@given(
    codes=st.lists(st.sampled_from(ALL_CODES), min_size=1, max_size=8),
    styles=st.lists(st.integers(0, 4), min_size=8, max_size=8),
    separators=st.lists(
        st.sampled_from([", ", "; ", " ", "\n", " and ", " / ", "  "]), min_size=1, max_size=3
    ),
)
def test_find_exemptions_reads_back_its_rendering(
    codes: list[str], styles: list[int], separators: list[str]
) -> None:
    assert find_exemptions(_render(codes, styles, separators)) == sorted(set(codes))


@given(st.text(max_size=300))
def test_find_exemptions_is_idempotent_on_its_own_rendering(text: str) -> None:
    codes = find_exemptions(text)
    assert find_exemptions(_render(codes, [0] * len(codes), [", "])) == codes


@given(st.text(alphabet=st.characters(blacklist_characters="bB"), max_size=300))
def test_find_exemptions_needs_a_b(text: str) -> None:
    assume("exemption" not in text.lower())
    assert find_exemptions(text) == []


# --- find_bates_number -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stamp"),
    [
        ("ICE-2021-000123", "ICE-2021-000123"),
        ("ICE 2021 000123", "ICE 2021 000123"),
        ("2019-ICLI-00003 022454", "2019-ICLI-00003 022454"),
        # As printed on the real ICE stamp: the dash before the sequence is a separator.
        ("2019-ICLI-00003 -022454", "2019-ICLI-00003 022454"),
        ("2019-ICLI-00003   022454", "2019-ICLI-00003 022454"),
        ("DHS 000123", "DHS 000123"),
        ("DHS   000123", "DHS 000123"),
        ("DHS\t000123", "DHS 000123"),
        ("DHS-000123", "DHS-000123"),
        ("CBP000123", "CBP000123"),
        ("FBI-000123", "FBI-000123"),
        ("DOJ-OIP-000123", "DOJ-OIP-000123"),
        ("2021-ICFO-12345 000001", "2021-ICFO-12345 000001"),
        ("Page 3 of 9\nCBP000123\n", "CBP000123"),
    ],
)
def test_find_bates_number_reads_every_shape(text: str, stamp: str) -> None:
    assert find_bates_number(text) == stamp


@pytest.mark.parametrize(
    "text",
    [
        "Date: 2021-03-12",
        "03/12/2021 and 20210312",
        "Call (202) 555-0123 or 202-555-0123, fax 2025550123",
        "FAX 2025550123",
        "TEL 2025550123",
        "Washington, DC 20528-0001",
        "Chicago, IL 60602",
        "Request 2021-ICFO-12345 was received",
        "2021-ICFO-12345",
        "A total of $1,000,000 and USD 1000000",
        "Page 000123",
        "Alien number A123456789",
        "FOIA FILE NO.: P054496",
        "Invoice IN014639 & IN014914",
        "Aimee H. Wagstaff (SBN 278480)",
        "2013 U.S. Dist. LEXIS 3786633, at *7",
        "DHS 12345",
        "dhs 000123",
        "XDHS000123X",
        "",
    ],
)
def test_find_bates_number_ignores_look_alikes(text: str) -> None:
    assert find_bates_number(text) is None


def test_find_bates_number_prefers_the_last_candidate_in_text() -> None:
    text = "As produced at DHS-000100, the memo follows.\nBody text.\nDHS-000123"
    assert find_bates_number(text) == "DHS-000123"


def test_find_bates_number_prefers_a_stamp_alone_on_its_line() -> None:
    # pdfium often emits the stamp first; a citation later in the body must not win.
    text = "DHS-000123\nAs produced at DHS-000100, the memo follows."
    assert find_bates_number(text) == "DHS-000123"


def test_find_bates_number_refuses_a_column_of_identifiers() -> None:
    ledger = "\n".join(
        f"DHAW2019000{n} 05/03/2019 CITIBANK - TRAVEL CBA CARD STAFF TRANSPORTATION"
        for n in range(1, 6)
    )
    assert find_bates_number(ledger) is None
    assert find_bates_number("2/21/12 2125 CURRIE MOTORS 021012, 020912 50,828.00") is None


def _line_of_words(text: str, x0: float, top: float) -> list[Word]:
    words = []
    for token in text.split():
        width = 6.0 * len(token)
        words.append(Word(token, x0, top, x0 + width, top + 10))
        x0 += width + 4
    return words


def test_find_bates_number_prefers_a_stamp_in_the_margin() -> None:
    body = _line_of_words("see DHS-000100 for the earlier memo", 72, 300)
    stamp = _line_of_words("DHS-000123", 450, 760)
    words = stamp + body  # reading order is not what decides
    text = " ".join(w.text for w in words)
    assert find_bates_number(text, words, 612, 792) == "DHS-000123"


def test_find_bates_number_finds_a_stamp_in_the_right_margin() -> None:
    body = _line_of_words("see DHS-000100 for the earlier memo", 72, 300)
    stamp = _line_of_words("DHS-000124", 560, 400)
    words = body + stamp
    assert find_bates_number("", words, 612, 792) == "DHS-000124"


def test_find_bates_number_prefers_the_lowest_margin_stamp() -> None:
    header = _line_of_words("DHS-000001", 72, 20)  # a production cover number at the top
    footer = _line_of_words("DHS-000123", 450, 770)
    assert find_bates_number("", footer + header, 612, 792) == "DHS-000123"


def test_find_bates_number_joins_a_stamp_split_into_words() -> None:
    words = _line_of_words("2019-ICLI-00003 -022454", 260, 757)
    assert find_bates_number("", words, 612, 792) == "2019-ICLI-00003 022454"


def test_find_bates_number_falls_back_to_text_without_a_word_candidate() -> None:
    words = _line_of_words("nothing here", 72, 300)
    assert find_bates_number("ICE-2021-000123", words, 612, 792) == "ICE-2021-000123"


def test_find_bates_number_infers_the_page_from_the_words() -> None:
    body = _line_of_words("see DHS-000100 for the earlier memo " + "x " * 30, 72, 100)
    low = _line_of_words("end", 72, 700) + _line_of_words("DHS-000123", 450, 700)
    assert find_bates_number("", body + low) == "DHS-000123"


@pytest.mark.parametrize(
    "unit", ["DHS 0000000000 ", "DHS 000000 1.00 ", "2019-ICLI-00003 ", "ICE-2021-", "A" * 9]
)
def test_find_bates_number_is_linear_on_hostile_text(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    started = time.perf_counter()
    find_bates_number(text)
    assert time.perf_counter() - started < 5


def test_find_bates_number_is_fast_on_a_page_of_stamp_shaped_words() -> None:
    words = [
        Word(f"DHS-{n:06d}", (n % 10) * 60.0, n * 0.007, (n % 10) * 60.0 + 50, n * 0.007 + 8)
        for n in range(100_000)
    ]
    started = time.perf_counter()
    assert find_bates_number("", words, 612, 792) == "DHS-099999"
    assert time.perf_counter() - started < 10


PROSE_WORD = st.from_regex(r"[a-z]{1,10}[.,;:]?", fullmatch=True)
STAMP = st.one_of(
    st.builds(
        "{}{}{:06d}".format,
        st.sampled_from(["ICE", "DHS", "CBP", "FBI", "USCIS", "DOJ-OIP"]),
        st.sampled_from(["", " ", "-"]),
        st.integers(0, 999_999),
    ),
    st.builds(
        "{}-{}-{:06d}".format,
        st.sampled_from(["ICE", "DHS", "CBP"]),
        st.integers(1990, 2030),
        st.integers(0, 999_999),
    ),
    st.builds(
        "{}-{}-{:05d} {:06d}".format,
        st.integers(2000, 2030),
        st.sampled_from(["ICLI", "ICFO", "CBPO", "HQFO"]),
        st.integers(0, 99_999),
        st.integers(0, 999_999),
    ),
)


@given(
    before=st.lists(PROSE_WORD, max_size=40),
    after=st.lists(PROSE_WORD, max_size=40),
    stamp=STAMP,
    glue=st.sampled_from([" ", "\n", "  ", "\n\n"]),
)
def test_find_bates_number_finds_a_stamp_in_prose(
    before: list[str], after: list[str], stamp: str, glue: str
) -> None:
    text = glue.join([*before, stamp, *after])
    assert find_bates_number(text) == stamp


@given(st.text(max_size=300))
def test_find_bates_number_returns_a_stamp_from_the_text(text: str) -> None:
    stamp = find_bates_number(text)
    if stamp is not None:
        assert stamp.split()[0] in text


# --- bates_range and bates_sort_key ------------------------------------------------------------


def test_bates_range_skips_pages_without_a_stamp() -> None:
    pages = [None, "", "DHS-000123", None, "DHS-000124", " ", "DHS-000126", None]
    assert bates_range(pages) == ("DHS-000123", "DHS-000126")
    assert bates_range([None, ""]) == (None, None)
    assert bates_range([]) == (None, None)


@pytest.mark.parametrize(
    ("stamp", "key"),
    [
        ("2019-ICLI-00003 022454", ("2019-ICLI-00003", 22454)),
        ("ICE-2021-000123", ("ICE-2021", 123)),
        ("ICE 2021 000123", ("ICE-2021", 123)),
        ("DHS 000123", ("DHS", 123)),
        ("DHS-000123", ("DHS", 123)),
        ("dhs_000123", ("DHS", 123)),
        ("CBP000123", ("CBP", 123)),
        ("CBP", ("CBP", -1)),
        ("", ("", -1)),
    ],
)
def test_bates_sort_key_splits_prefix_and_sequence(stamp: str, key: tuple[str, int]) -> None:
    assert bates_sort_key(stamp) == key


def test_bates_sort_key_survives_a_huge_number() -> None:
    prefix, sequence = bates_sort_key("DHS" + "9" * 100_000)
    assert sequence == int("9" * 30)
    assert prefix.startswith("DHS")


@given(
    st.sampled_from(["DHS-", "CBP", "2019-ICLI-00003 "]),
    st.integers(0, 10**8),
    st.integers(0, 10**8),
)
def test_bates_sort_key_orders_by_sequence(prefix: str, a: int, b: int) -> None:
    first, second = bates_sort_key(f"{prefix}{a:06d}"), bates_sort_key(f"{prefix}{b:06d}")
    assert (first < second) == (a < b)


# --- Real pages --------------------------------------------------------------------------------


I213 = "uwchr-i213__3866f3-1789-1791.pdf"
# Chicago-area productions with a text layer: Illinois FOIA cites its own exemptions
# ("Section 7(1)(c)", "5 ILCS 140/7(1)(f)"), never the federal (b) codes, and stamps no pages.
ILLINOIS_WITH_TEXT = [
    "invinst-cpd__P054496Responsive.pdf",
    "invinst-cpd__CPB_1960s-2011_data_email.pdf",
    "lucyparsons-1505__CPD_FOIA14-5298ResponseLetter.pdf",
    "lucyparsons-1505__FOIA121515.pdf",
    "lucyparsons-1505__freddy_lawsuit_CPD3.pdf",
]
# Skipped for the text tests: these productions carry their redaction boxes and markings only
# in the page images (no text layer); the test below keeps the skip honest.
IMAGE_ONLY = [
    "lucyparsons-1505__FOIA_15-3569_FINAL_PART_1.pdf",
    "lucyparsons-1505__FOIA_15-3569_FINAL_PART_16.pdf",
    "lucyparsons-1505__CPD_FOIA14-5298_Response.pdf",
    "lucyparsons-1505__CPD_FOIA15-6955REDACTED.pdf",
]


def _page_texts(name: str) -> list[str]:
    return layer_texts(CORPUS / name)


@needs_corpus
def test_i213_pages_name_exemptions_6_and_7c() -> None:
    pages = _page_texts(I213)
    # Page 1: the "(b)(6), (b)(7)(C)" boxes of the form. Pages 2-3: the narrative, whose
    # labels also claim 7(E) and include one truncated "(b) (7)".
    assert find_exemptions(pages[0]) == ["b6", "b7C"]
    assert find_exemptions(pages[1]) == ["b6", "b7", "b7C", "b7E"]
    assert find_exemptions(pages[2]) == ["b6", "b7", "b7C", "b7E"]


@needs_corpus
def test_i213_pages_carry_consecutive_bates_stamps() -> None:
    stamps = [find_bates_number(text) for text in _page_texts(I213)]
    assert stamps == [
        "2019-ICLI-00003 022454",
        "2019-ICLI-00003 022455",
        "2019-ICLI-00003 022456",
    ]
    assert bates_range(stamps) == ("2019-ICLI-00003 022454", "2019-ICLI-00003 022456")
    first, second, third = (stamp or "" for stamp in stamps)
    assert sorted([third, first, second], key=bates_sort_key) == [first, second, third]


@needs_corpus
def test_i213_stamp_is_found_from_word_boxes() -> None:
    with pdfplumber.open(CORPUS / I213) as pdf:
        for page, expected in zip(pdf.pages, ["022454", "022455", "022456"], strict=True):
            words = [
                Word(w["text"], w["x0"], w["top"], w["x1"], w["bottom"])
                for w in page.extract_words()
            ]
            stamp = find_bates_number("", words, page.width, page.height)
            assert stamp == f"2019-ICLI-00003 {expected}"


@needs_corpus
@pytest.mark.parametrize("name", ILLINOIS_WITH_TEXT)
def test_illinois_productions_name_no_federal_exemption(name: str) -> None:
    pages = _page_texts(name)
    assert any(page.strip() for page in pages)
    assert [find_exemptions(page) for page in pages] == [[] for _ in pages]
    assert [find_bates_number(page) for page in pages] == [None for _ in pages]


@needs_corpus
def test_illinois_letter_cites_section_7_exemptions() -> None:
    # The markings are really there, in the Illinois spelling that must not read as federal.
    text = "".join(_page_texts("lucyparsons-1505__CPD_FOIA14-5298ResponseLetter.pdf"))
    assert "Section 7(1)(d)(v) of the Illinois FOIA" in text


@needs_corpus
@pytest.mark.parametrize("name", IMAGE_ONLY)
def test_image_only_productions_have_no_text_to_parse(name: str) -> None:
    assert all(not page.strip() for page in _page_texts(name))
