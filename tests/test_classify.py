"""Metadata dates, record dates, email headers and document types, on hand cases and real pages."""

from __future__ import annotations

import datetime as dt
import time

import pypdfium2 as pdfium
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.classify import (
    DocumentType,
    classify_document,
    find_document_date,
    normalise_pdf_date,
    parse_email_headers,
)
from tests.conftest import CORPUS, needs_corpus

# --- normalise_pdf_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("D:20210312144501-05'00'", "2021-03-12T14:45:01-05:00"),
        ("D:20210312144501+05'30'", "2021-03-12T14:45:01+05:30"),
        ("D:20210312144501+05'30", "2021-03-12T14:45:01+05:30"),
        ("D:20210312144501-0500", "2021-03-12T14:45:01-05:00"),
        ("D:20210312144501-05'", "2021-03-12T14:45:01-05:00"),
        ("D:20210312144501Z", "2021-03-12T14:45:01+00:00"),
        ("D:20210312144501Z00'00'", "2021-03-12T14:45:01+00:00"),
        ("D:20210312144501", "2021-03-12T14:45:01"),
        ("20210312144501", "2021-03-12T14:45:01"),
        ("D:2021031214", "2021-03-12T14:00:00"),
        ("D:20210312", "2021-03-12"),
        ("D:202103", "2021-03-01"),
        ("D:2021", "2021-01-01"),
        ("  D:20210312  ", "2021-03-12"),
        ("2021-03-12T14:45:01-05:00", "2021-03-12T14:45:01-05:00"),
        ("2021-03-12T14:45:01Z", "2021-03-12T14:45:01+00:00"),
        ("2021-03-12T14:45:01.123+01:00", "2021-03-12T14:45:01+01:00"),
        ("2021-03-12T14:45-05:00", "2021-03-12T14:45:00-05:00"),
        ("2021-03-12", "2021-03-12"),
        ("2021-03", "2021-03-01"),
        ("2021", "2021-01-01"),
    ],
)
def test_normalise_pdf_date_gives_iso_8601(value: str, iso: str) -> None:
    assert normalise_pdf_date(value) == iso


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "garbage",
        "D:",
        "D:20211312",  # month 13
        "D:20210230",  # 30 February
        "D:20210312256000",  # hour 25
        "D:20210312144501-25'00'",  # an offset of more than a day
        "D:00000101",
        "D:18991231",
        "D:2021031214450",  # an odd number of digits
        "Fri Mar 12 14:45:01 2021",
        "2021-3-12",
        "D:20210312144501-05'00'" + "0" * 100,
    ],
)
def test_normalise_pdf_date_refuses_garbage(value: str | None) -> None:
    assert normalise_pdf_date(value) is None


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: dt.timedelta(minutes=minutes))
MOMENTS = st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2100, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0)
)


@given(MOMENTS, OFFSETS)
def test_normalise_pdf_date_round_trips_both_syntaxes(
    moment: dt.datetime, offset: dt.timedelta
) -> None:
    aware = moment.replace(tzinfo=dt.timezone(offset))
    sign = "-" if offset < dt.timedelta(0) else "+"
    hours, minutes = divmod(abs(offset) // dt.timedelta(minutes=1), 60)
    pdf = f"D:{moment:%Y%m%d%H%M%S}{sign}{hours:02d}'{minutes:02d}'"
    assert normalise_pdf_date(pdf) == aware.isoformat()
    assert normalise_pdf_date(aware.isoformat()) == aware.isoformat()


@given(st.text(max_size=80))
def test_normalise_pdf_date_gives_iso_or_none(value: str) -> None:
    result = normalise_pdf_date(value)
    if result is not None:
        dt.datetime.fromisoformat(result)


# --- find_document_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("From: A\nSent: Tuesday, March 9, 2021 10:14 AM\nTo: B\nSubject: C", "2021-03-09"),
        ("Date: 3/9/2021", "2021-03-09"),
        ("Date: 03-09-2021", "2021-03-09"),
        ("DATE: March 9, 2021", "2021-03-09"),
        ("Dated: Mar. 9th, 2021", "2021-03-09"),
        ("Date: Tue, 9 Mar 2021 10:14:00 -0500", "2021-03-09"),
        ("U.S. Department of Homeland Security\nMarch 9, 2021\n\nDear Ms. Doe:", "2021-03-09"),
        ("Office of the Director\nMarch 9 2021\nDear Ms. Doe:", "2021-03-09"),
        ("The meeting was held on 09 March 2021 in Seattle.", "2021-03-09"),
        ("Report generated 2021-03-09 by the system.", "2021-03-09"),
        ("Sept. 9, 2021", "2021-09-09"),
        ("SEPTEMBER 9, 2021", "2021-09-09"),
    ],
)
def test_find_document_date_reads_every_spelling(text: str, date: str) -> None:
    assert find_document_date(text) == dt.date.fromisoformat(date)


def test_find_document_date_prefers_the_sent_line_over_the_body() -> None:
    text = (
        "From: Smith, John <john.smith@ice.dhs.gov>\n"
        "Sent: Tuesday, March 9, 2021 10:14 AM\n"
        "To: Doe, Jane <jane.doe@ice.dhs.gov>\n"
        "Subject: Follow-up on the January 5, 2021 meeting\n"
        "On January 5, 2021 we agreed to meet again.\n"
    )
    assert find_document_date(text) == dt.date(2021, 3, 9)


def test_find_document_date_prefers_a_memo_date_line() -> None:
    text = (
        "MEMORANDUM FOR: Field Office Directors\n"
        "This replaces the memo of 1/4/2020.\n"
        "DATE: March 9, 2021"
    )
    assert find_document_date(text) == dt.date(2021, 3, 9)


def test_find_document_date_prefers_the_letter_date_over_dates_in_the_body() -> None:
    text = "Re: Request of January 5, 2021\nMarch 9, 2021\nDear Ms. Doe:\nOn February 1, 2021 ..."
    assert find_document_date(text) == dt.date(2021, 3, 9)


def test_find_document_date_ignores_a_label_that_merely_ends_in_date() -> None:
    # A CPD letter: the request date is a field, the letter's own date is its top line.
    text = "Department of Police\nNovember 23, 2016\nREQUEST DATE: November 18, 2016\n"
    assert find_document_date(text) == dt.date(2016, 11, 23)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "No date here at all.",
        "Date: 1/1/1900",
        "Founded on 4 July 1776.",
        "Due 2/30/2021 and 13/1/2021.",
        "Call 2021-03-12345 or 123/45/2021",
        "March 2021",
        "Date: 3/9/21",  # two-digit years are not read
        "2019-ICLI-00003 022454",
    ],
)
def test_find_document_date_ignores_non_dates(text: str) -> None:
    assert find_document_date(text) is None


@given(
    st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31)),
    st.sampled_from(
        ["%B %-d, %Y", "%b %d %Y", "%d %B %Y", "%Y-%m-%d", "%-m/%-d/%Y", "%A, %B %d, %Y"]
    ),
    st.sampled_from(["Date: {}", "Sent: {} 10:14 AM", "Office\n{}\nDear Sir:", "Signed on {}."]),
)
def test_find_document_date_reads_back_rendered_dates(
    date: dt.date, layout: str, line: str
) -> None:
    assert find_document_date(line.format(date.strftime(layout))) == date


# --- parse_email_headers -----------------------------------------------------------------------

OUTLOOK = """\
Smith, John (ICE)

From: Smith, John <John.Smith@ice.dhs.gov>
Sent: Tuesday, March 9, 2021 10:14 AM
To: Doe, Jane <Jane.Doe@ice.dhs.gov>; Roe, Richard <Richard.Roe@ice.dhs.gov>;
Poe, Edgar <Edgar.Poe@ice.dhs.gov>
Cc: (b)(6), (b)(7)(C)
Subject: RE: Detainer request for
    subject in custody
Attachments: request.pdf

Jane, see below.
"""


def test_parse_email_headers_reads_an_outlook_block() -> None:
    assert parse_email_headers(OUTLOOK) == {
        "from": "Smith, John <John.Smith@ice.dhs.gov>",
        "sent": "Tuesday, March 9, 2021 10:14 AM",
        "to": (
            "Doe, Jane <Jane.Doe@ice.dhs.gov>; Roe, Richard <Richard.Roe@ice.dhs.gov>; "
            "Poe, Edgar <Edgar.Poe@ice.dhs.gov>"
        ),
        "cc": "(b)(6), (b)(7)(C)",
        "subject": "RE: Detainer request for subject in custody",
    }


def test_parse_email_headers_reads_pdfium_line_ends_and_ocr_blank_lines() -> None:
    text = "From: A. Person\r\n\r\nSent: Monday, April 24, 2017 10:39 AM\r\n\r\nTo: 'Sam'\r\n"
    assert parse_email_headers(text) == {
        "from": "A. Person",
        "sent": "Monday, April 24, 2017 10:39 AM",
        "to": "'Sam'",
    }


def test_parse_email_headers_reads_a_date_header_as_sent() -> None:
    text = "From: a@example.org\nDate: Tue, 9 Mar 2021 10:14:00 -0500\nSubject: Hi\n\nBody"
    assert parse_email_headers(text) == {
        "from": "a@example.org",
        "sent": "Tue, 9 Mar 2021 10:14:00 -0500",
        "subject": "Hi",
    }


def test_parse_email_headers_stops_at_the_next_message() -> None:
    text = "From: A\nSent: May 1, 2017 3:56 PM\nTo: B\nFrom: C\nSent: May 2, 2017 1:00 PM\n"
    assert parse_email_headers(text) == {"from": "A", "sent": "May 1, 2017 3:56 PM", "to": "B"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Dear Mr. Stecklow,\nThank you.",
        # A memo's block: no Sent line, no address, no time of day.
        "TO: All staff\nFROM: Director\nDATE: March 9, 2021\nSUBJECT: Guidance\n",
        # A quoted message deep in the page is not this page's header.
        "\n".join(["Body line"] * 20) + "\nFrom: A\nSent: May 1, 2017 3:56 PM\nTo: B\nSubject: C",
        "From: A\nTo: B\n",  # no date
        "From: A\nSent: May 1, 2017 3:56 PM\n",  # neither recipient nor subject
        "From the desk of the director: notes on the budget",
    ],
)
def test_parse_email_headers_refuses_non_emails(text: str) -> None:
    assert parse_email_headers(text) == {}


# --- classify_document -------------------------------------------------------------------------

MEMO = """\
U.S. Department of Homeland Security
MEMORANDUM FOR: Field Office Directors
FROM: Assistant Director
SUBJECT: Guidance on detainers
This memorandum explains ...
"""
MEMO_WITHOUT_TITLE = "TO: All staff\nFROM: Director\nDATE: March 9, 2021\nSUBJECT: Guidance\n"
LETTER = """\
U.S. Immigration and Customs Enforcement
Freedom of Information Act Office
March 9, 2021
Jane Doe
Dear Ms. Doe:
This is the final response to your request 2021-ICFO-12345.
Sincerely,
FOIA Officer
"""
FORM = """\
Name: ______________________  Date of birth: ____________
Address: ___________________________________________
[ ] Single  [ ] Married  [X] Divorced
Signature: ____________________
"""
TABLE = "\n".join(
    ["Type Date Number Amount"]
    + [f"Check 01/{day:02d}/2010 {14400 + day} ($9,{day:03d}.80)" for day in range(1, 20)]
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (OUTLOOK, DocumentType.EMAIL),
        (MEMO, DocumentType.MEMO),
        (MEMO_WITHOUT_TITLE, DocumentType.MEMO),
        ("MEMORANDUM\n\nTO: All staff\n", DocumentType.MEMO),
        (LETTER, DocumentType.LETTER),
        (LETTER.replace("Sincerely,", "Thank you for your patience."), DocumentType.LETTER),
        ("Dear Sir,\nPlease find enclosed.\nVery truly yours,\nJ.", DocumentType.LETTER),
        (FORM, DocumentType.FORM),
        ("Paperwork Reduction Act\nOMB No. 1615-0052\nInstructions", DocumentType.FORM),
        ("text\nForm I-213 (Rev 08/01/07)", DocumentType.FORM),
        (TABLE, DocumentType.TABLE),
        ("A short paragraph of prose about nothing in particular.", DocumentType.OTHER),
        ("", DocumentType.OTHER),
        # A "Dear" without a closing or a date line is not enough for a letter.
        ("Notes\nDear John was the code name.\nMore notes.", DocumentType.OTHER),
        # An uppercase title in passing is not a memo: it must stand on its own line.
        ("The MEMORANDUM OF UNDERSTANDING was signed.", DocumentType.OTHER),
    ],
)
def test_classify_document_applies_its_rules(text: str, kind: DocumentType) -> None:
    assert classify_document(text) is kind


def test_document_type_values_are_stable_strings() -> None:
    assert [kind.value for kind in DocumentType] == [
        "email",
        "memo",
        "letter",
        "form",
        "table",
        "other",
    ]
    assert DocumentType("email") == "email"


@given(st.text(max_size=500))
def test_classifiers_never_fail_on_arbitrary_text(text: str) -> None:
    assert classify_document(text) in DocumentType
    assert isinstance(parse_email_headers(text), dict)
    found = find_document_date(text)
    assert found is None or 1950 <= found.year <= 2100


HOSTILE = [
    "From: ",
    "From: a - To: b - ",
    "Date: ",
    "March 9, ",
    "9 March ",
    "1/1/",
    "2021-01-",
    "____ ",
    "[ ] ",
    "Form I-213 ",
    "1 2 3\n",
    "Dear ",
    "\n",
    " ",
]


@pytest.mark.parametrize("unit", HOSTILE)
def test_text_parsers_are_linear_on_hostile_text(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    started = time.perf_counter()
    find_document_date(text)
    parse_email_headers(text)
    classify_document(text)
    normalise_pdf_date(text)
    assert time.perf_counter() - started < 10


# --- Real pages --------------------------------------------------------------------------------


def _first_pages(name: str, count: int = 2) -> str:
    pdf = pdfium.PdfDocument(CORPUS / name)
    try:
        texts = []
        for index in range(min(count, len(pdf))):
            page = pdf[index]
            textpage = page.get_textpage()
            # get_text_bounded() is what get_text_range() runs with default arguments; calling
            # it directly avoids pypdfium2's UserWarning about that redirect.
            texts.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return "\n".join(texts)
    finally:
        pdf.close()


@needs_corpus
@pytest.mark.parametrize(
    ("name", "kind", "date"),
    [
        ("invinst-cpd__CPB_1960s-2011_data_email.pdf", DocumentType.EMAIL, "2017-05-01"),
        ("invinst-cpd__P054496Responsive.pdf", DocumentType.LETTER, "2016-11-23"),
        ("lucyparsons-1505__FOIA121515.pdf", DocumentType.LETTER, "2015-12-18"),
        ("lucyparsons-1505__CPD_FOIA14-5298ResponseLetter.pdf", DocumentType.LETTER, "2014-12-08"),
        ("invinst-cpd__invinst_FOIA.pdf", DocumentType.LETTER, "2018-03-07"),
        ("uwchr-i213__3866f3-1789-1791.pdf", DocumentType.FORM, "2020-03-05"),
        ("pypdf__SF424_page2.pdf", DocumentType.FORM, None),
        ("pdfjs__prefilled_f1040.pdf", DocumentType.FORM, None),
        ("lucyparsons-1505__CPDJan10Feb2015ChecksAndAmounts.pdf", DocumentType.TABLE, None),
        (
            "invinst-cpd__FOIA_P050308_ActiveSworn_CIT_40HR_Certified.pdf",
            DocumentType.TABLE,
            "2016-08-19",
        ),
        ("pdfplumber__nics-background-checks-2015-11-rotated.pdf", DocumentType.TABLE, None),
        ("lucyparsons-1505__freddy_lawsuit_CPD3.pdf", DocumentType.OTHER, None),
        ("pdfplumber__federal-register-2020-17221.pdf", DocumentType.OTHER, None),
    ],
)
def test_real_documents_are_classified_and_dated(
    name: str, kind: DocumentType, date: str | None
) -> None:
    text = _first_pages(name)
    assert classify_document(text) is kind
    if date is not None:
        assert find_document_date(text) == dt.date.fromisoformat(date)


@needs_corpus
def test_real_apple_mail_printout_header() -> None:
    # Apple Mail prints From, To and Date on one line, joined by " - ".
    text = _first_pages("invinst-cpd__CPB_1960s-2011_data_email.pdf", 1)
    assert parse_email_headers(text) == {
        "from": "Caproni, Max",
        "to": "sam.stecklow@gmail.com",
        "sent": "May 1, 2017 at 3:56 PM",
        "subject": "RE: Freedom of Information Request",
    }


@needs_corpus
def test_real_email_continuation_page_has_no_header_block() -> None:
    # Page 2 quotes an Outlook header half-way down: it is not this page's header.
    pdf = pdfium.PdfDocument(CORPUS / "invinst-cpd__CPB_1960s-2011_data_email.pdf")
    try:
        textpage = pdf[1].get_textpage()
        text = textpage.get_text_bounded()
        textpage.close()
    finally:
        pdf.close()
    assert "From: Sam Stecklow" in text
    assert parse_email_headers(text) == {}
