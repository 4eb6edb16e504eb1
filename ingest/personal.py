"""Personal data in a page's text: the identifiers that must not go public by accident.

What is found, and how (each match has a kind, a confidence and its place in the text):

=================  ==========================================================================
kind               rule
=================  ==========================================================================
ssn                ``123-45-6789`` (or spaced) that python-stdnum accepts as issuable; nine
                   bare digits only beside an SSN label
a_number           ``A`` + 8 or 9 digits: ``A123456789``, ``A-123-456-789``, ``A# 12345678``
date_of_birth      a date within a few characters after "DOB", "date of birth", "born"...
phone              a North American or ``+``-international number that phonenumbers
                   (Google's libphonenumber) says is a valid number
email              an address email-validator accepts, of a private person: government
                   domains (.gov, .mil, .fed.us, state .us) are left out
street_address     number, street name and suffix, with unit and "City, ST 12345" when there;
                   an agency's letterhead address is left out
passport           a 6-9 character number after a "passport" label
drivers_license    a 5-17 character number after a "driver's license" / "DL#" label
credit_card        13-19 digits that pass the Luhn check and start like a card (IIN)
=================  ==========================================================================

Why these libraries, and what is written here: Microsoft Presidio's analyzer was the first
candidate, but it needs spaCy and a language model (models are not on the package index
this project installs from, only unofficial re-uploads), and a spaCy pass costs tens of
milliseconds a page where the whole scan must stay under a fifth of a born-digital page's
processing time (about a millisecond). Its recognisers for these kinds are regular
expressions with context words, which is what this module is; the well-kept libraries are used
where they know more than a regex: ``phonenumbers`` for which numbers exist (area codes,
lengths, countries), ``email-validator`` for address syntax, ``python-stdnum`` for SSN
issuance rules and the Luhn check. phonenumbers' own matcher scans text at ~17 ms a page, so
candidates come from one regex and only they are parsed.

FOIA look-alikes are not personal data and must not match: Bates numbers
(``ICE-2021-000123``), FOIA tracking numbers (``2021-ICFO-21457``), court case numbers
(``3:21-cv-04719``) and dates that are not birth dates. Their shapes do not fit the patterns
(no 3-2-4 digit groups, no ``A`` prefix on 8-9 digits, no birth label), and a page's own
Bates number is excluded by value.

Confidence is 0..1; :data:`HIGH_CONFIDENCE` and above blocks publication until a moderator
decides (app.services.findings).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import email_validator
import phonenumbers
from stdnum import luhn
from stdnum.us import ssn as us_ssn

HIGH_CONFIDENCE = 0.8

# How far before a match its label may be (characters), and after a label its value.
LABEL_REACH = 40
VALUE_REACH = 30


@dataclass(frozen=True)
class TextMatch:
    """One identifier found in a text: ``text[start:end]`` is ``value``."""

    kind: str
    start: int
    end: int
    value: str
    confidence: float


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + r")(?![\w])", re.IGNORECASE)


_SSN_LABEL = _words(r"SSN", r"SS\s?#", r"S\.S\.N\.?", r"social\s+security(?:\s+(?:no|number|#))?")
_SSN = re.compile(r"(\d(?<![\w/.:-]\d)\d{2})([- ]?)(\d{2})\2(\d{4})(?![\w/-]|\.\d)")

_A_LABEL = _words(
    r"A\s?-?\s?(?:number|no\.?|#|file)", r"alien(?:\s+(?:registration|number|no\.?|#))*"
)
_A_NUMBER = re.compile(
    r"A(?<![\w/.-]A)(?P<sep>\s?#\s?|-\s?|\s)?"
    r"(?P<digits>\d{3}[- ]?\d{3}[- ]?\d{3}|\d{2}[- ]?\d{3}[- ]?\d{3}|\d{8,9})(?![\w/-]|\.\d)"
)

_DOB_LABEL = _words(
    r"D\.?O\.?B\.?",
    r"date\s+of\s+birth",
    r"birth\s?date",
    r"born(?:\s+on)?",
    r"fecha\s+de\s+nacimiento",
)
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = re.compile(
    r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})(?!\d)"
    r"|\d{4}-\d{2}-\d{2}(?!\d)"
    rf"|{_MONTHS}\.?\s+\d{{1,2}},?\s+\d{{4}}"
    rf"|\d{{1,2}}\s+{_MONTHS}\.?,?\s+\d{{4}}",
    re.IGNORECASE,
)
# Between a birth label and its date: punctuation, a format hint, nothing that is a word.
_LABEL_GAP = re.compile(r"\s*(?:\((?:mm/dd/yyyy|mm/dd/yy|yyyy-mm-dd)\))?[\s:#.()\-]*", re.I)

_PHONE = re.compile(
    r"(?<![\w/.-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w/-]|\.\d)"
    r"|(?<![\w/.-])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?![\w/-]|\.\d)"
)
_PERSONAL_PHONE_LABEL = _words(
    r"cell(?:ular)?", r"mobile", r"home(?:\s+(?:phone|tel))?", r"personal", r"celular"
)
_PHONE_LABEL = _words(r"phone", r"tel(?:ephone)?", r"ph", r"tel[eé]fono", r"contact")

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])"
)
_OFFICIAL_DOMAIN = re.compile(
    r"(?:\.gov|\.mil|\.fed\.us|\.int|\.gov\.[a-z]{2}|\.gob\.[a-z]{2}"
    r"|\.(?:state|co|ci|city|county|courts?)\.[a-z]{2}\.us|uscourts\.gov)$",
    re.IGNORECASE,
)
_RESERVED_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost)$", re.IGNORECASE
)
WEBMAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "att.net",
        "comcast.net",
        "gmail.com",
        "gmx.com",
        "googlemail.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "sbcglobal.net",
        "verizon.net",
        "yahoo.com",
        "ymail.com",
    }
)

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Place|Pl|"
    r"Way|Terrace|Ter|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Trail|Trl|Loop|Alley|Plaza)"
)
_ADDRESS = re.compile(
    r"\d(?<![\w/.:-]\d)\d{0,5}[A-Z]?[ \t]+"
    r"(?:(?:[NSEW]\.?|North|South|East|West)[ \t]+)?"
    r"(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][A-Za-z'.-]{0,20})[ \t]+){1,4}"
    rf"{_SUFFIX}\.?(?:[ \t]+(?:[NS][EW]|[NSEW])\b\.?)?"
    r"(?P<unit>,?[ \t]+(?:Apt|Apartment|Unit|Suite|Ste|#)\.?[ \t]*#?[A-Za-z0-9-]{1,6}\b)?"
    r"(?P<city>,?\s+[A-Z][A-Za-z.'-]+(?:[ \t]+[A-Z][A-Za-z.'-]+){0,3},?[ \t]+[A-Z]{2}\.?"
    r"[ \t]+\d{5}(?:-\d{4})?)?(?!\w)"
)
_ADDRESS_LABEL = _words(
    r"(?:home\s+|mailing\s+|street\s+|residential\s+)?address",
    r"resides?(?:\s+at)?",
    r"residence",
    r"lives\s+at",
    r"domicilio",
    r"direcci[oó]n",
)
# An address opening the line under a short line naming one of these is an institution's
# letterhead, not a person's home.
LETTERHEAD_LINE = 60
_INSTITUTION = re.compile(
    r"department|agency|u\.\s?s\.|united states|office|headquarters|federal|court|"
    r"bureau|division|ministry|administration|homeland|immigration and customs",
    re.IGNORECASE,
)

_PASSPORT_LABEL = _words(r"passport(?:\s+(?:no\.?|number|num\.?|#))?", r"pasaporte")
_PASSPORT_VALUE = re.compile(r"[:#\s.-]{0,6}(?P<value>[A-Z]{0,2}\d[A-Z0-9]{5,8})(?![\w-])")
_LICENSE_LABEL = _words(
    r"driver'?s?\s+licen[cs]e(?:\s+(?:no\.?|number|#))?",
    r"drivers\s+licen[cs]e(?:\s+(?:no\.?|number|#))?",
    r"D\.?L\.?\s?(?:#|no\.?|number)",
    r"licencia\s+de\s+conducir",
)
_LICENSE_VALUE = re.compile(
    r"(?:\s*\([A-Z]{2}\))?[:#\s.-]{0,6}(?:[A-Z]{2}[ \t:]+)?"
    r"(?P<value>[A-Z0-9][A-Z0-9-]{4,16})(?![\w-])"
)

_CARD = re.compile(r"\d(?<![\w/.-]\d)(?:[ -]?\d){12,18}(?![\w/-]|\.\d)")
_CARD_LABEL = _words(
    r"card", r"credit", r"visa", r"master\s?card", r"amex", r"american\s+express", r"discover"
)

# When two matches overlap, the more specific kind wins (then the more confident).
_PRIORITY = {
    "a_number": 0,
    "ssn": 1,
    "credit_card": 2,
    "passport": 3,
    "drivers_license": 4,
    "date_of_birth": 5,
    "email": 6,
    "phone": 7,
    "street_address": 8,
}


def _label_before(pattern: re.Pattern[str], text: str, start: int) -> bool:
    return pattern.search(text, max(0, start - LABEL_REACH), start) is not None


def _label_just_before(pattern: re.Pattern[str], text: str, start: int) -> bool:
    """The label ends on the same line, a few characters before ``start``."""
    line_start = text.rfind("\n", 0, start) + 1
    window = max(line_start, start - 20)
    return any(m.end() >= start - 6 for m in pattern.finditer(text, window, start))


def _ssns(text: str) -> list[TextMatch]:
    found = []
    for match in _SSN.finditer(text):
        separator = match.group(2)
        labelled = _label_before(_SSN_LABEL, text, match.start())
        if not separator and not _label_just_before(_SSN_LABEL, text, match.start()):
            continue  # nine bare digits are too many other things (A-numbers, account numbers)
        digits = match.group(1) + match.group(3) + match.group(4)
        if not us_ssn.is_valid(digits):
            continue
        confidence = 0.97 if labelled else (0.9 if separator == "-" else 0.7)
        found.append(TextMatch("ssn", match.start(), match.end(), match.group(), confidence))
    return found


def _a_numbers(text: str) -> list[TextMatch]:
    found = []
    for match in _A_NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group("digits"))
        if len(digits) not in (8, 9):
            continue
        labelled = _label_before(_A_LABEL, text, match.start() + 1)
        separator = match.group("sep") or ""
        # "A 12345678" (a bare space) is also how lists and exhibits are lettered.
        confidence = 0.97 if labelled else (0.7 if separator == " " else 0.9)
        found.append(TextMatch("a_number", match.start(), match.end(), match.group(), confidence))
    return found


def _birth_dates(text: str) -> list[TextMatch]:
    found = []
    for label in _DOB_LABEL.finditer(text):
        gap = _LABEL_GAP.match(text, label.end())
        position = gap.end() if gap else label.end()
        date = _DATE.match(text, position)
        if date is None or date.start() - label.end() > VALUE_REACH:
            continue
        found.append(TextMatch("date_of_birth", date.start(), date.end(), date.group(), 0.95))
    return found


def _phones(text: str) -> list[TextMatch]:
    found = []
    for match in _PHONE.finditer(text):
        candidate = match.group()
        try:
            number = phonenumbers.parse(candidate, "US")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        if _label_before(_PERSONAL_PHONE_LABEL, text, match.start()):
            confidence = 0.9
        elif _label_before(_PHONE_LABEL, text, match.start()):
            confidence = 0.75
        else:
            confidence = 0.65
        found.append(TextMatch("phone", match.start(), match.end(), candidate, confidence))
    return found


def _emails(text: str) -> list[TextMatch]:
    found = []
    for match in _EMAIL.finditer(text):
        address = match.group()
        domain = address.rsplit("@", 1)[1].lower()
        if _OFFICIAL_DOMAIN.search(domain):
            continue  # a public servant's work address, released as such
        if _RESERVED_DOMAIN.search(domain):
            continue  # RFC 2606 / 6761 names: nobody's address
        try:
            email_validator.validate_email(address, check_deliverability=False)
        except email_validator.EmailNotValidError:
            continue
        confidence = 0.95 if domain in WEBMAIL_DOMAINS else 0.6
        found.append(TextMatch("email", match.start(), match.end(), address, confidence))
    return found


def _addresses(text: str) -> list[TextMatch]:
    found = []
    for match in _ADDRESS.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        previous_line = text[text.rfind("\n", 0, max(0, line_start - 1)) + 1 : line_start]
        # A letterhead: the address opens its line, under a short line naming an institution.
        if (
            not text[line_start : match.start()].strip()
            and len(previous_line.strip()) <= LETTERHEAD_LINE
            and _INSTITUTION.search(previous_line)
        ):
            continue
        labelled = _label_before(_ADDRESS_LABEL, text, match.start())
        complete = match.group("city") is not None
        confidence = 0.7 + 0.15 * complete + 0.1 * labelled
        found.append(
            TextMatch("street_address", match.start(), match.end(), match.group(), confidence)
        )
    return found


def _labelled_values(
    text: str, label: re.Pattern[str], value: re.Pattern[str], kind: str, min_digits: int
) -> list[TextMatch]:
    found = []
    for match in label.finditer(text):
        found_value = value.match(text, match.end())
        if found_value is None:
            continue
        start, end = found_value.span("value")
        candidate = text[start:end]
        if sum(ch.isdigit() for ch in candidate) < min_digits:
            continue
        found.append(TextMatch(kind, start, end, candidate, 0.9))
    return found


_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|3(?:0[0-5]|[68])|35")


def _cards(text: str) -> list[TextMatch]:
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits):
            continue
        if not luhn.is_valid(digits):
            continue
        labelled = _label_before(_CARD_LABEL, text, match.start())
        found.append(
            TextMatch(
                "credit_card", match.start(), match.end(), match.group(), 0.97 if labelled else 0.9
            )
        )
    return found


def _resolve(matches: list[TextMatch]) -> list[TextMatch]:
    """Drop matches overlapping a better one (more specific kind, then more confident)."""
    ranked = sorted(matches, key=lambda m: (_PRIORITY[m.kind], -m.confidence, m.start))
    kept: list[TextMatch] = []
    for match in ranked:
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


# Cheap gates: a page without a digit has no number to find, without "@" no address.
_HAS_DIGIT = re.compile(r"\d")
_BIRTH_WORDS = ("dob", "d.o.b", "birth", "born", "nacimiento")
_LICENSE_WORDS = ("licen", "dl#", "dl ", "d.l", "dl:", "dl no")
_PHONE_GATE = re.compile(r"(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}|\+\d{1,3}[\s.-]?\(?\d")
_CARD_GATE = re.compile(r"(?:\d[ -]?){13}")


def find_personal_data(text: str, *, exclude: Collection[str] = ()) -> list[TextMatch]:
    """Every identifier of the kinds above in ``text``, in order, without overlaps.

    ``exclude`` holds values that are known not to be personal (the page's Bates number),
    compared ignoring spaces and case.
    """
    matches: list[TextMatch] = []
    if "@" in text:
        matches += _emails(text)
    if _HAS_DIGIT.search(text):
        # Each rule runs only where the words it needs are on the page at all: substring
        # tests in C are far cheaper than the case-blind label patterns.
        lower = text.lower()
        matches += _ssns(text)
        if "A" in text:
            matches += _a_numbers(text)
        if any(word in lower for word in _BIRTH_WORDS):
            matches += _birth_dates(text)
        if _PHONE_GATE.search(text):
            matches += _phones(text)
        matches += _addresses(text)
        if "passport" in lower or "pasaporte" in lower:
            matches += _labelled_values(text, _PASSPORT_LABEL, _PASSPORT_VALUE, "passport", 5)
        if any(word in lower for word in _LICENSE_WORDS):
            matches += _labelled_values(text, _LICENSE_LABEL, _LICENSE_VALUE, "drivers_license", 4)
        if _CARD_GATE.search(text):
            matches += _cards(text)
    if exclude:
        excluded = {"".join(value.split()).upper() for value in exclude}
        matches = [m for m in matches if "".join(m.value.split()).upper() not in excluded]
    return _resolve(matches)
