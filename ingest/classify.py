"""What a released document is and when it was written, from its text alone.

Pure functions: PDF metadata dates to ISO 8601, the record's own date found in its text (the
date users filter and sort by, not the upload date), an email printout's header block, and a
coarse document type. Every pattern is compiled once and uses only bounded repetition, since
page text is hostile input.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

# Dates outside this range are OCR noise or placeholders ("D:00000101", "1/1/0001").
_MIN_YEAR = 1950
_MAX_YEAR = 2100

# --- PDF metadata dates ----------------------------------------------------------------------

# PDF 32000-1 §7.9.4: D:YYYYMMDDHHmmSSOHH'mm', every part after the year optional. Producers
# also write "Z00'00'", drop the closing quote, or add fractions of a second.
_PDF_DATE = re.compile(
    r"(?:D:)?[ \t]{0,3}(?P<Y>\d{4})(?P<m>\d\d)?(?P<d>\d\d)?(?P<H>\d\d)?(?P<M>\d\d)?(?P<S>\d\d)?"
    r"(?:\.\d{1,6})?[ \t]{0,3}"
    r"(?P<tz>Z(?:00'?00'?)?|(?P<sign>[+-])(?P<th>\d\d)(?:'?(?P<tm>\d\d)'?|')?)?"
)
# XMP (ISO 8601 profile): YYYY, YYYY-MM, YYYY-MM-DD, then THH:MM[:SS[.s]] and a zone.
_XMP_DATE = re.compile(
    r"(?P<Y>\d{4})(?:-(?P<m>\d\d)(?:-(?P<d>\d\d)"
    r"(?:T(?P<H>\d\d):(?P<M>\d\d)(?::(?P<S>\d\d)(?:\.\d{1,9})?)?"
    r"(?P<tz>Z|(?P<sign>[+-])(?P<th>\d\d):?(?P<tm>\d\d))?)?)?)?"
)


def normalise_pdf_date(value: str | None) -> str | None:
    """A PDF info or XMP date as ISO 8601, or None when it is missing or garbage.

    ``"D:20210312144501-05'00'"`` and ``"2021-03-12T14:45:01-05:00"`` give
    ``"2021-03-12T14:45:01-05:00"``; a value without a time gives a date, ``"2021-03-12"``.
    Missing month and day default to 01 as the PDF specification says (``"D:2021"`` gives
    ``"2021-01-01"``); a time without a zone stays without one.
    """
    if value is None:
        return None
    value = value.strip()
    # Real metadata dates are about 25 characters; anything long is not one.
    if len(value) > 64:
        return None
    match = _XMP_DATE.fullmatch(value) or _PDF_DATE.fullmatch(value)
    if match is None:
        return None
    parts = match.groupdict()
    try:
        day = dt.date(int(parts["Y"]), int(parts["m"] or 1), int(parts["d"] or 1))
        if not _MIN_YEAR <= day.year <= _MAX_YEAR:
            return None
        if parts["H"] is None:
            return day.isoformat()
        zone: dt.tzinfo | None = None
        if parts["sign"] is not None:
            offset = dt.timedelta(hours=int(parts["th"]), minutes=int(parts["tm"] or 0))
            zone = dt.timezone(-offset if parts["sign"] == "-" else offset)
        elif parts["tz"] is not None:
            zone = dt.UTC
        moment = dt.datetime(
            day.year,
            day.month,
            day.day,
            int(parts["H"]),
            int(parts["M"] or 0),
            int(parts["S"] or 0),
            tzinfo=zone,
        )
    except ValueError:  # month 13, hour 25, an offset of a day or more
        return None
    return moment.isoformat()


# --- The document's own date -----------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    # "March 9, 2021", "Tuesday, March 9, 2021", "Mar. 9th 2021"
    rf"\b(?P<mdy_m>{_MONTH})\.?[ \t]{{1,3}}(?P<mdy_d>\d{{1,2}})(?:st|nd|rd|th)?,?[ \t]{{1,3}}"
    r"(?P<mdy_y>\d{4})\b"
    # "09 March 2021", "Tue, 9 Mar 2021"
    rf"|\b(?P<dmy_d>\d{{1,2}})(?:st|nd|rd|th)?[ \t]{{1,3}}(?P<dmy_m>{_MONTH})\.?,?[ \t]{{1,3}}"
    r"(?P<dmy_y>\d{4})\b"
    # "2021-03-09" (not inside a longer identifier)
    r"|(?<![\w-])(?P<iso_y>\d{4})-(?P<iso_m>\d\d)-(?P<iso_d>\d\d)(?![\w-])"
    # "3/9/2021" and "03-09-2021", US order; two-digit years are too ambiguous to use.
    r"|(?<![\w/.-])(?P<us_m>\d{1,2})(?P<us_sep>[/-])(?P<us_d>\d{1,2})(?P=us_sep)(?P<us_y>\d{4})"
    r"(?![\w/-])",
    re.IGNORECASE,
)
# "Sent:", "Date:", "DATE:", "Dated:" opening a line: email and memo headers.
_HEADER_DATE_LINE = re.compile(
    r"^[ \t]{0,8}(?:sent|date|dated)[ \t]{0,3}:(?P<rest>.*)$", re.I | re.M
)
# Letters put their date on a line of its own above the salutation.
_LETTER_DATE_LINES = 15


def _date_of(match: re.Match[str]) -> dt.date | None:
    parts = match.groupdict()
    try:
        if parts["mdy_y"] is not None:
            year, month = int(parts["mdy_y"]), _MONTHS[parts["mdy_m"][:3].lower()]
            day = int(parts["mdy_d"])
        elif parts["dmy_y"] is not None:
            year, month = int(parts["dmy_y"]), _MONTHS[parts["dmy_m"][:3].lower()]
            day = int(parts["dmy_d"])
        elif parts["iso_y"] is not None:
            year, month, day = int(parts["iso_y"]), int(parts["iso_m"]), int(parts["iso_d"])
        else:
            year, month, day = int(parts["us_y"]), int(parts["us_m"]), int(parts["us_d"])
        found = dt.date(year, month, day)
    except ValueError:  # "February 30"
        return None
    return found if _MIN_YEAR <= found.year <= _MAX_YEAR else None


def _first_date(text: str) -> dt.date | None:
    for match in _DATE.finditer(text):
        found = _date_of(match)
        if found is not None:
            return found
    return None


def _lines(text: str) -> list[str]:
    # pdfium ends lines with "\r\n"; "$" in a MULTILINE pattern only knows "\n".
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def find_document_date(text: str) -> dt.date | None:
    """The date a record was written, found in its text, or None.

    In order of trust: the "Sent"/"Date" value of an email header block; a line starting
    "Sent:", "Date:" or "Dated:" (memos); a line near the top that is only a date (letters);
    else the first date anywhere. Understood: "March 9, 2021", "Tuesday, March 9, 2021 10:14
    AM", "09 March 2021", "2021-03-09", "3/9/2021". Years outside 1950..2100 are ignored.
    """
    headers = parse_email_headers(text)
    if "sent" in headers and (found := _first_date(headers["sent"])) is not None:
        return found
    lines = _lines(text)
    plain = "\n".join(lines)
    for header in _HEADER_DATE_LINE.finditer(plain):
        if (found := _first_date(header["rest"])) is not None:
            return found
    top = [line.strip(" \t,.") for line in lines if line.strip()][:_LETTER_DATE_LINES]
    for line in top:
        match = _DATE.fullmatch(line)
        if match is not None and (found := _date_of(match)) is not None:
            return found
    return _first_date(plain)


# --- Email header blocks ---------------------------------------------------------------------

_HEADER_KEYS = {
    "from": "from",
    "sent": "sent",
    "date": "sent",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "subject": "subject",
    "attachments": "attachments",
    "importance": "importance",
}
_HEADER_LINE = re.compile(
    r"[ \t]{0,8}(?P<key>from|sent|date|to|cc|bcc|subject|attachments|importance)"
    r"[ \t]{0,3}:[ \t]{0,8}(?P<value>.*)",
    re.IGNORECASE,
)
# Apple Mail prints a whole header on one line: "From: A - To: b@x.org - Date: May 1, 2017 at
# 3:56 PM, Attachments: x.xlsx". Split before a title-case key that follows " - " or ", ".
_INLINE_KEY = re.compile(
    r"(?:[ \t]{1,3}-[ \t]{1,3}|,[ \t]{1,3})(?=(?:To|Cc|Bcc|Date|Sent|Subject|Attachments):)"
)
_FROM_LINE = re.compile(r"[ \t]{0,8}from[ \t]{0,3}:", re.IGNORECASE)
# Outlook's "From:" comes after at most a name line, a rule and an agency banner.
_HEADER_SEARCH_LINES = 12
_HEADER_BLOCK_LINES = 40
_RESULT_KEYS = ("from", "to", "cc", "subject", "sent")
_TIME = re.compile(r"\b\d{1,2}:\d\d\b")


def _header_fields(line: str) -> list[tuple[str, str]] | None:
    """The (label, value) pairs of one header line, label lower-cased; None when not one."""
    fields: list[tuple[str, str]] = []
    for piece in _INLINE_KEY.split(line):
        match = _HEADER_LINE.fullmatch(piece)
        if match is None:
            if not fields:
                return None
            # Not a key after all: the text belongs to the previous value.
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {piece}")
            continue
        fields.append((match["key"].lower(), match["value"]))
    return fields


def parse_email_headers(text: str) -> dict[str, str]:
    """The header block of an email printout: keys among "from", "to", "cc", "subject", "sent".

    The block must start with a "From:" line near the top of the page; values may wrap onto
    following indented lines (or, for address lists, after a trailing ";" or ","). "Date:" is
    read as "sent". Returns {} when the text is not an email: a memo's TO/FROM/DATE/SUBJECT
    block is told apart by having no "Sent:" line, no address and no time of day.
    """
    lines = _lines(text)
    nonblank = [i for i, line in enumerate(lines) if line.strip()][:_HEADER_SEARCH_LINES]
    start = next((i for i in nonblank if _FROM_LINE.match(lines[i])), None)
    if start is None:
        return {}
    found: dict[str, str] = {}
    saw_sent_label = False
    last: str | None = None
    for line in lines[start : start + _HEADER_BLOCK_LINES]:
        if not line.strip():
            continue  # OCR output often puts blank lines between header lines
        fields = _header_fields(line)
        if fields is None:
            if last is not None and _continues(line, found[last], last):
                found[last] = f"{found[last]} {line.strip()}"
                continue
            break
        if any(_HEADER_KEYS[label] in found for label, _ in fields):
            break  # a second "From:" starts the next message of a thread
        for label, value in fields:
            last = _HEADER_KEYS[label]
            found[last] = value.strip()
            saw_sent_label = saw_sent_label or label == "sent"
    headers = {key: " ".join(found[key].split()) for key in _RESULT_KEYS if found.get(key)}
    if "from" not in headers or "sent" not in headers:
        return {}
    if "to" not in headers and "subject" not in headers:
        return {}
    addresses = " ".join(headers.get(key, "") for key in ("from", "to", "cc"))
    if not (saw_sent_label or "@" in addresses or _TIME.search(headers["sent"])):
        return {}
    return headers


def _continues(line: str, value: str, key: str) -> bool:
    """Whether ``line`` is the wrapped rest of the header value ``value``."""
    if line[:1] in (" ", "\t"):
        return True
    return key in ("to", "cc", "bcc") and value.rstrip().endswith((";", ","))


# --- Document type ---------------------------------------------------------------------------


class DocumentType(StrEnum):
    """A coarse kind of record, for facets and for choosing how to display it."""

    EMAIL = "email"
    MEMO = "memo"
    LETTER = "letter"
    FORM = "form"
    TABLE = "table"
    OTHER = "other"


# Memo and letter markers are looked for near the top only: a report that mentions a
# "MEMORANDUM" on page 3 is not a memo.
_TOP_LINES = 60
_MEMO_TITLE = re.compile(r"^[ \t]{0,8}MEMORANDUM(?:[ \t]{1,3}(?:FOR|TO)\b.*)?[ \t]*$", re.M)
# Upper case on purpose: a title-case "From:" and "Subject:" pair is an email whose header
# is not at the top of the page (a thread's second message), not a memo.
_MEMO_FROM = re.compile(r"^[ \t]{0,8}FROM[ \t]{0,3}:", re.M)
_MEMO_SUBJECT = re.compile(r"^[ \t]{0,8}(?:SUBJECT|RE)[ \t]{0,3}:", re.M)
_SALUTATION = re.compile(r"^[ \t]{0,8}Dear[ \t]{1,3}\S", re.M)
_CLOSING = re.compile(
    r"^[ \t]{0,8}(?:Sincerely|Respectfully(?: yours)?|(?:Very )?[Tt]ruly yours|Yours (?:truly|"
    r"sincerely|faithfully)|(?:Best |Kind |Warm )?[Rr]egards|Cordially|Thank you)\b",
    re.M,
)
# "OMB No. 1545-0074", "OMB Number: 4040-0004", "OMB Control No."
_OMB = re.compile(r"\bOMB[ \t]{1,3}(?:No\b|Number\b|Control\b)")
# "Form I-213 (Rev 08/01/07)", "Form I-831 Continuation Page (Rev. 08/01/07)"
_FORM_REVISION = re.compile(r"\bForm[ \t]{1,3}[A-Z]{0,4}-?\d{1,5}[A-Z]?\b[^\n]{0,40}\(Rev\b")
# A blank to fill ("Name: ________") or a checkbox. Filled squares are left out: word
# processors use them as bullets.
_FIELD = re.compile(r"_{3,}|[☐☑☒□▢]|\[[ \txX]?\]")
_FORM_FIELDS = 6
_NUMERIC = re.compile(r"[($-]{0,3}\d[\d,.:/%-]{0,30}\)?")
# A row is tabular with two numeric cells making at least 30% of its cells (names and
# descriptions sit between the numbers); a table is at least half such rows.
_TABLE_MIN_ROWS = 5


def _is_memo(top: str) -> bool:
    if _MEMO_TITLE.search(top):
        return True
    return _MEMO_FROM.search(top) is not None and _MEMO_SUBJECT.search(top) is not None


def _is_letter(top_lines: list[str], text: str) -> bool:
    top = "\n".join(top_lines)
    if _SALUTATION.search(top) is None:
        return False
    if _CLOSING.search(text):
        return True
    # A long letter's closing is often beyond the first pages; its date line above the
    # salutation is not.
    return any(_DATE.fullmatch(line.strip(" \t,.")) for line in top_lines)


def _is_form(text: str) -> bool:
    if _OMB.search(text) or _FORM_REVISION.search(text):
        return True
    return sum(1 for _ in _FIELD.finditer(text)) >= _FORM_FIELDS


def _is_table(lines: list[str]) -> bool:
    """Whether most lines are rows with several numeric cells."""
    rows = [line.split() for line in lines if line.strip()]
    numeric_rows = 0
    for cells in rows:
        numbers = sum(1 for cell in cells if _NUMERIC.fullmatch(cell))
        if len(cells) >= 3 and numbers >= 2 and numbers * 10 >= len(cells) * 3:
            numeric_rows += 1
    return numeric_rows >= _TABLE_MIN_ROWS and numeric_rows * 2 >= len(rows)


def classify_document(first_pages_text: str) -> DocumentType:
    """The kind of a document, from the text of its first pages.

    Rules, first match wins: an email header block; a "MEMORANDUM" title or "FROM:" with
    "SUBJECT:" lines; a "Dear …" salutation with a closing ("Sincerely", "Very truly yours",
    "Thank you") or a date line above it; "OMB No.", a "Form I-213 (Rev …)" footer or many
    blanks and checkboxes; mostly rows of numbers; else OTHER.
    """
    if parse_email_headers(first_pages_text):
        return DocumentType.EMAIL
    lines = _lines(first_pages_text)
    text = "\n".join(lines)
    top_lines = lines[:_TOP_LINES]
    if _is_memo("\n".join(top_lines)):
        return DocumentType.MEMO
    if _is_letter(top_lines, text):
        return DocumentType.LETTER
    if _is_form(text):
        return DocumentType.FORM
    if _is_table(lines):
        return DocumentType.TABLE
    return DocumentType.OTHER
