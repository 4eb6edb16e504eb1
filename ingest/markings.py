"""Markings printed on released pages: FOIA exemption codes and Bates stamps.

Pure functions over a page's text (and, for Bates stamps, optionally its word boxes). Page text
is hostile input, so every pattern is compiled once, anchored on literal characters and built
only from bounded repetitions: scanning is linear in the length of the text.

Exemption codes are reported in one spelling, ``b1`` … ``b9`` and ``b7A`` … ``b7F``, whatever
the agency printed (``(b)(6)``, ``(b) (7) (C)``, ``b(7)(C)``, ``B6``, ``b7c``, ``Exemption 6``,
``5 U.S.C. § 552(b)(6)``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# --- Exemption codes -------------------------------------------------------------------------

# Up to three blanks between the parts of a label: OCR and PDF text both insert stray spaces
# ("(b) (7) (C)"), and a fixed bound keeps the scan linear on hostile text.
_S = r"\s{0,3}"


# A sub-letter "(C)" belongs to the code unless it opens the next code: in the real label run
# "(b) (7)(b) (7)(E)" the "(b)" after "(7)" starts a new label, it is not exemption 7(B).
def _paren_sub(name: str) -> str:
    return rf"(?:{_S}\({_S}(?P<{name}>[A-Fa-f]){_S}\)(?!{_S}\({_S}\d))?"


_EXEMPTION = re.compile(
    # "(b)(6)", "(b) (7) (C)", "552(b)(6)". A "(b)" glued to a section number such as
    # "§5.05(b)(2)" or "§105.12A(B)(1)" is a statute's own paragraph, not a FOIA exemption;
    # only 5 U.S.C. 552 is the FOIA, so "552(b)(6)" still counts.
    rf"(?:(?<=552)|(?<![0-9])(?<![0-9][A-Za-z]))"
    rf"\({_S}[bB]{_S}\){_S}\({_S}(?P<paren>[1-9]){_S}\){_paren_sub('paren_sub')}"
    # "b(7)(C)": a bare b must start a word, or "Sub(1)" style outlines would count.
    rf"|(?<![\w(])[bB]\((?P<bare>[1-9])\){_paren_sub('bare_sub')}"
    # "b6", "B6", "b7c", "b7(C)". The neighbours exclude hex and identifiers ("ab6x",
    # "00:1b:b6:", "#b6", "B:B1", "B1(0)", "B6="), and the look-alikes that immigration and
    # medical records are full of: "B1/B2 visa", "vitamin B6", "Schedule B6".
    r"|(?<![\w#:.\-])(?<!B1/)(?<!B2/)(?<![Vv]itamin )(?<!Schedule )(?<!Form )"
    r"[bB](?P<compact>[1-9])"
    r"(?:(?P<compact_sub>[A-Fa-f])|\((?P<compact_psub>[A-Fa-f])\))?"
    r"(?![\w(:=]|[.\-]\w|/B[12]\b|[ \t]{1,3}[Vv][Ii][Ss][Aa]\b)"
    # "Exemption 6", "Exemptions 6 and 7(C)", "exemption 7C". "Exemption 7(1)(c)" is the
    # Illinois FOIA, whose exemptions are numbered 7(1)(a)...; the lookahead refuses it.
    r"|\b[Ee]xemptions?[ \t]{1,3}(?P<word>[1-9])"
    r"(?:\((?P<word_psub>[A-Fa-f])\)|(?P<word_sub>[A-F])\b)?(?![\d(])",
)

# After a parenthesised code, "(b)(6), (7)(C)" and "(b)(6); (7)(C)" leave out the second "(b)".
_JOIN = r"[ \t]{0,3}(?:[,;&/]|and|or)[ \t\r\n]{0,3}(?:(?:and|or)[ \t]{1,3})?"
_CONTINUE_PAREN = re.compile(rf"{_JOIN}\({_S}(?P<digit>[1-9]){_S}\){_paren_sub('sub')}")
# After "Exemptions 6": "6, 7(C) and 7(E)". Not "Exemption 6, 5 U.S.C. § 552(b)(6)", the usual
# wording of response letters: a number followed by "U.S.C." is a title of the Code.
_CONTINUE_WORD = re.compile(
    rf"{_JOIN}(?P<digit>[1-9])(?:\((?P<sub>[A-Fa-f])\)|(?P<letter>[A-F])\b)?(?![\d(])"
    r"(?![ \t]{1,3}U\.?[ \t]?S\.?[ \t]?C\b)"
)
# After a 7: "(b)(7)(A), (C), and (E)" lists further sub-letters of the same exemption.
_CONTINUE_SUB = re.compile(rf"{_JOIN}\({_S}(?P<sub>[A-Fa-f]){_S}\)(?!{_S}\({_S}\d)")


def _code(digit: str, sub: str | None) -> str | None:
    """The normalised code, or None for a sub-letter on an exemption that has none."""
    if not sub:
        return f"b{digit}"
    if digit == "7":
        return f"b7{sub.upper()}"
    return None


# Every spelling above holds one of these: a b or B before a digit, "(" or ")" (after up to
# three blanks), or "xemption". Most pages hold none, and this plain scan is many times
# cheaper than the look-behinds of ``_EXEMPTION`` tried at every character.
_EXEMPTION_HINT = re.compile(r"[bB](?:[1-9(]|\s{0,3}\))|xemption")
# How far before its hint a code can start: the "(" and up to three blanks of "( b)".
_HINT_LEAD = 4


def find_exemptions(text: str) -> list[str]:
    """FOIA exemption codes named in ``text``, normalised and sorted unique.

    ``"(b)(6), (b) (7)(C)"`` gives ``["b6", "b7C"]``. A lone ``"(b)"``, ``"(b)(10)"`` and
    codes inside words or hex strings are not codes. ``"(b)(6), (7)(C)"`` counts the second
    code too: it inherits the "(b)". The sorted order is b1 < … < b7 < b7A < … < b7F < b8.
    """
    found: set[str] = set()
    pos = 0
    while (match := _next_exemption(text, pos)) is not None:
        pos = match.end()
        if match["compact"] is not None:
            # "b6c" names no exemption and is more likely a hex fragment: nothing is kept.
            code = _code(match["compact"], match["compact_sub"] or match["compact_psub"])
            if code is not None:
                found.add(code)
            continue
        if match["word"] is not None:
            digit, sub = match["word"], match["word_psub"] or match["word_sub"]
            follow = _CONTINUE_WORD
        else:
            digit = match["paren"] or match["bare"]
            sub = match["paren_sub"] or match["bare_sub"]
            follow = _CONTINUE_PAREN
        # "(b)(6)(C)" is still a clear b6; the stray letter is dropped.
        found.add(_code(digit, sub) or f"b{digit}")
        pos = _continue_list(text, pos, digit, found, follow)
    return sorted(found)


def _next_exemption(text: str, pos: int) -> re.Match[str] | None:
    """The leftmost code starting at or after ``pos``, as ``_EXEMPTION.search`` finds it.

    Every code starts at most _HINT_LEAD characters before a hint of its own, so only those
    few starting places are tried at each hint. Searching on from a hint that belongs to no
    code ("exemption" in prose) would try the look-behinds at every later character.
    """
    start = pos
    while (hint := _EXEMPTION_HINT.search(text, start)) is not None:
        for at in range(max(pos, hint.start() - _HINT_LEAD), hint.start() + 1):
            if (match := _EXEMPTION.match(text, at)) is not None:
                return match
        # No code starts before this hint any more: later codes start past it.
        pos = start = hint.start() + 1
    return None


def _continue_list(
    text: str, pos: int, digit: str, found: set[str], follow: re.Pattern[str]
) -> int:
    """Consume the shorthand list after a code; return where the scan resumes."""
    while True:
        if (step := follow.match(text, pos)) is not None:
            digit = step["digit"]
            sub = step["sub"] or (step["letter"] if "letter" in follow.groupindex else None)
            found.add(_code(digit, sub) or f"b{digit}")
        elif digit == "7" and (step := _CONTINUE_SUB.match(text, pos)) is not None:
            found.add(f"b7{step['sub'].upper()}")
        else:
            return pos
        pos = step.end()


# --- Bates stamps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One word of a page with its box, in page units with the origin at the top left."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float


# Uppercase words that precede long numbers without being Bates prefixes (phone, fax, ids,
# money, dates, bar numbers, case-law citations). Listing them is cheaper than a false stamp
# on every letterhead.
_NOT_PREFIX_WORDS = """
    TEL PHONE FAX CELL MOBILE OFFICE DIRECT ZIP POSTAL NO NUM NUMBER ID PAGE PAGES CASE FILE
    ACCT ACCOUNT INV INVOICE REF ORDER PO BOX USD EUR AMOUNT TOTAL SSN DOB EIN TIN DATE DATED
    JAN FEB MAR APR MAY JUN JUL AUG SEP SEPT OCT NOV DEC TIME ITEM CHECK CHK CODE FY RECEIPT
    CONTROL SERIAL LOT UNIT STAR BADGE EXT ROOM SUITE STE SBN BAR LEXIS
"""
_NOT_PREFIXES = frozenset(_NOT_PREFIX_WORDS.split())

_BATES = re.compile(
    # "2019-ICLI-00003 022454": a request's tracking number then the page sequence. The real
    # ICE stamp prints "2019-ICLI-00003 -022454"; the dash is a separator and is dropped.
    r"(?<![\w-])(?P<track>(?:19|20)\d\d-[A-Z]{2,8}-\d{3,7})"
    r"(?:[ \t]{1,3}-?[ \t]{0,2}|-)(?P<tseq>\d{6,8})(?![\w-])"
    # "ICE-2021-000123", "ICE 2021 000123": agency prefix, year, sequence.
    r"|(?<![\w-])(?P<yprefix>[A-Z]{3,10})(?P<ysep>[- ])(?:19|20)\d\d(?P=ysep)\d{5,8}(?![\w-])"
    # "DHS 000123", "DHS-000123", "CBP000123", "DOJ-OIP-000123". Three letters at least: two
    # letters followed by digits are state codes with zips and invoice numbers ("IN014639").
    r"|(?<![\w-])(?P<prefix>[A-Z]{3,10}(?:[-_][A-Z]{2,10}){0,2})[ \t]{0,3}[-_]?[ \t]{0,3}"
    r"(?P<seq>\d{6,10})(?![\w-])"
)

_PREFIX_PARTS = re.compile(r"[-_]")
_DIGIT_RUN = re.compile(r"\d{5}")
_AMOUNT = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})*\.\d\d(?![\d.])")


# The share of the page height (top and bottom) or width (right) that counts as margin.
_MARGIN = 0.12


@dataclass(frozen=True)
class _Candidate:
    stamp: str  # normalised
    start: int
    end: int
    alone: bool  # the only thing on its line
    in_ledger_row: bool  # its line carries an amount of money


def _lines_with_digit_runs(text: str) -> Iterator[tuple[int, int]]:
    """Start and end of each line of ``text`` that holds five digits in a row, in order.

    Every stamp shape ends in a sequence of at least five digits, and most lines of prose
    have none: only these lines are worth the full stamp pattern.
    """
    pos = 0
    while (hint := _DIGIT_RUN.search(text, pos)) is not None:
        start = text.rfind("\n", 0, hint.start()) + 1
        end = text.find("\n", hint.end())
        end = len(text) if end < 0 else end
        yield start, end
        pos = end


def _iter_candidates(text: str) -> Iterator[_Candidate]:
    """Stamp-shaped strings of ``text`` ("\n" line ends); no shape spans two lines."""
    for start, end in _lines_with_digit_runs(text):
        content = text[start:end].strip()
        in_ledger_row: bool | None = None
        for match in _BATES.finditer(text, start, end):
            if match["track"] is not None:
                stamp = f"{match['track']} {match['tseq']}"
            else:
                prefix = match["yprefix"] or match["prefix"]
                if any(part in _NOT_PREFIXES for part in _PREFIX_PARTS.split(prefix)):
                    continue
                stamp = " ".join(match[0].split())
            if in_ledger_row is None:
                in_ledger_row = _AMOUNT.search(content) is not None
            yield _Candidate(stamp, match.start(), match.end(), content == match[0], in_ledger_row)


def _pick_from_text(text: str) -> str | None:
    candidates = list(_iter_candidates(text))
    alone = [c for c in candidates if c.alone]
    if alone:
        return alone[-1].stamp
    # A ledger row ("CURRIE MOTORS 021012, 020912 50,828.00") holds invoice numbers, not the
    # page's stamp.
    candidates = [c for c in candidates if not c.in_ledger_row]
    if not candidates:
        return None
    # Several different identifiers inside lines are a column of data (document or invoice
    # numbers in a ledger), not the one stamp a page carries.
    if len({c.stamp for c in candidates}) >= 3:
        return None
    return candidates[-1].stamp


def _join_words(words: Sequence[Word]) -> tuple[str, list[int]]:
    """Words as lines of text, and where each word starts in it (words keep their order)."""
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    previous: Word | None = None
    for word in words:
        if previous is not None:
            height = max(previous.bottom - previous.top, 1.0)
            same_line = abs(word.top - previous.top) < height / 2 and word.x0 >= previous.x0
            parts.append(" " if same_line else "\n")
            length += 1
        parts.append(word.text)
        starts.append(length)
        length += len(word.text)
        previous = word
    return "".join(parts), starts


def _pick_from_words(
    words: Sequence[Word], page_width: float | None, page_height: float | None
) -> str | None:
    text, starts = _join_words(words)
    # Without the page size, the extent of the words stands in for it.
    width = page_width or max(w.x1 for w in words)
    height = page_height or max(w.bottom for w in words)
    best: tuple[bool, float, int] | None = None
    best_stamp: str | None = None
    for order, candidate in enumerate(_iter_candidates(text)):
        # The words the candidate's characters fall in: bisect keeps this cheap on pages
        # with tens of thousands of words.
        first = bisect.bisect_right(starts, candidate.start) - 1
        last = bisect.bisect_left(starts, candidate.end)
        boxes = words[first:last]
        top = min(w.top for w in boxes)
        bottom = max(w.bottom for w in boxes)
        x0 = min(w.x0 for w in boxes)
        in_margin = (
            bottom <= height * _MARGIN
            or top >= height * (1 - _MARGIN)
            or x0 >= width * (1 - _MARGIN)
        )
        # Stamps in a margin win; among them the lowest on the page, as stamps usually sit
        # at the foot; then the later in reading order.
        key = (in_margin, bottom if in_margin else 0.0, order)
        if best is None or key > best:
            best, best_stamp = key, candidate.stamp
    return best_stamp


def find_bates_number(
    text: str,
    words: Sequence[Word] | None = None,
    page_width: float | None = None,
    page_height: float | None = None,
) -> str | None:
    """The Bates stamp of one page, or None.

    Shapes: ``ICE-2021-000123``, ``ICE 2021 000123``, ``2019-ICLI-00003 022454`` (tracking
    number and sequence; ``2019-ICLI-00003 -022454`` is returned without the dash), ``DHS
    000123``, ``DHS-000123``, ``CBP000123``. Whitespace is normalised to one space.

    With ``words`` (boxes in page units, origin top left), a candidate in the top or bottom
    12% of the page or its right 12% wins, the lowest first. With text only, a candidate alone
    on its line wins, then the last one: stamps are usually printed at the foot of the page.
    Dates, phone numbers, zip codes, amounts and a tracking number without a sequence are
    never stamps.
    """
    if words:
        stamp = _pick_from_words(words, page_width, page_height)
        if stamp is not None:
            return stamp
    return _pick_from_text(text.replace("\r\n", "\n").replace("\r", "\n"))


def bates_range(numbers: Sequence[str | None]) -> tuple[str | None, str | None]:
    """First and last non-empty Bates number of a document's pages, in page order."""
    present = [n for n in numbers if n and n.strip()]
    if not present:
        return None, None
    return present[0], present[-1]


_SEPARATORS = re.compile(r"[\s_-]+")


def bates_sort_key(number: str) -> tuple[str, int]:
    """``(prefix, sequence)`` to order and compare stamps.

    The prefix is upper-cased with its separators unified, so ``"DHS 000123"`` and
    ``"DHS-000123"`` have the same key ``("DHS", 123)``. A stamp without a trailing number
    gets sequence -1, before every numbered stamp with the same prefix.
    """
    stamp = number.strip()
    # At most 30 digits make the sequence: int() refuses very long digit strings, and longer
    # runs are not Bates sequences anyway.
    head = stamp.rstrip("0123456789")
    head = max(head, stamp[:-30], key=len)
    digits = stamp[len(head) :]
    sequence = int(digits) if digits else -1
    return _SEPARATORS.sub("-", head.upper()).strip("-"), sequence
