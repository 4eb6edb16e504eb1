"""What a release withheld: slip-sheets, and the Bates numbers that no release carries.

Agencies account for a page they withhold in two ways. A **slip-sheet** takes its place: a
page that says little more than "Withheld in full pursuant to (b)(5)", "WIF (b)(6)", "Page
withheld"; or the page is simply **missing**, and only the Bates sequence shows it (the
production jumps from ``ICE-2021-000130`` to ``ICE-2021-000141``).

Gaps are computed per series (a prefix such as ``ICE-2021``), between the lowest and highest
number seen: the pages before the first and after the last one are not known to exist. A
number that OCR misread (``000731`` among ``000730``…``000732`` is fine, ``000137`` amid
``000731``…``000733`` is not) would open two false gaps, so in a document of several stamped
pages a number that continues neither its predecessor nor its successor is not trusted.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.markings import bates_sort_key, find_exemptions
from ingest.versions.fingerprint import words

# A slip-sheet is short: a letter that explains what was withheld is not one.
MAX_SLIP_SHEET_WORDS = 60
MAX_GAPS = 500  # per series: more is a misread series rather than withheld pages

_WITHHELD = re.compile(
    r"withheld\s{1,3}in\s{1,3}(?:its\s{1,3})?(?:full|entirety)"
    r"|withheld\s{1,3}(?:pursuant|under)\s{1,3}(?:to\s{1,3})?(?:foia\s{1,3})?exemptions?"
    r"|\bpages?\s{1,3}(?:(?:has|have|was|were|is|are)\s{1,3})?(?:been\s{1,3})?withheld"
    r"|\bdenied\s{1,3}in\s{1,3}full"
    r"|\b(?:page|document)s?\s{1,3}(?:has|have)\s{1,3}been\s{1,3}removed",
    re.IGNORECASE,
)
_WIF = re.compile(r"(?<![\w-])WIF(?![\w-])")  # upper case only: "wif" is a word elsewhere
_PAGE_COUNT = re.compile(
    r"(?<!\d)(\d{1,4})\s{1,3}pages?\s{1,3}(?:(?:were|was|have|has|are|is)\s{1,3})?"
    r"(?:been\s{1,3})?(?:withheld|removed|denied)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SlipSheet:
    exemptions: list[str]  # normalised codes, as ingest.markings writes them
    pages: int  # pages it stands for ("12 pages withheld in full"), 1 when it does not say


def slip_sheet(text: str) -> SlipSheet | None:
    """The slip-sheet this page is, or None: short, and saying that pages were withheld."""
    if len(words(text)) > MAX_SLIP_SHEET_WORDS:
        return None
    if _WITHHELD.search(text) is None and _WIF.search(text) is None:
        return None
    count = _PAGE_COUNT.search(text)
    pages = int(count.group(1)) if count else 1
    return SlipSheet(find_exemptions(text), max(1, pages))


@dataclass(frozen=True)
class Stamp:
    series: str  # the normalised prefix (ingest.markings.bates_sort_key)
    head: str  # the prefix as printed, separators included ("ICE-2021-")
    number: int
    width: int  # digits printed, to write the numbers of a gap the same way


def parse_stamp(bates: str) -> Stamp | None:
    """A Bates stamp's series and number; None for a stamp without a trailing number."""
    series, number = bates_sort_key(bates)
    if number < 0:
        return None
    stamp = bates.strip()
    head = stamp.rstrip("0123456789")
    return Stamp(series, head, number, len(stamp) - len(head))


def trusted_stamps(documents: Iterable[Sequence[str | None]]) -> list[Stamp]:
    """The stamps of each document's pages (in page order) that fit their neighbours."""
    trusted: list[Stamp] = []
    for numbers in documents:
        stamps = [s for s in (parse_stamp(n) for n in numbers if n) if s is not None]
        if len(stamps) < 3:
            trusted.extend(stamps)
            continue
        for i, stamp in enumerate(stamps):
            before = stamps[i - 1] if i else None
            after = stamps[i + 1] if i + 1 < len(stamps) else None
            fits = any(
                other is not None
                and other.series == stamp.series
                and abs(other.number - stamp.number) <= 2
                for other in (before, after)
            )
            if fits:
                trusted.append(stamp)
    return trusted


@dataclass(frozen=True)
class BatesGap:
    """Numbers ``first``…``last`` of one series that the pages looked at do not carry."""

    series: str
    head: str
    first: int
    last: int
    width: int

    @property
    def pages(self) -> int:
        return self.last - self.first + 1

    @property
    def label(self) -> str:
        """``ICE-2021-000131 – 000140`` (one number alone when the gap is one page)."""  # noqa: RUF002 (the dash readers write)
        start = f"{self.head}{self.first:0{self.width}d}"
        return start if self.first == self.last else f"{start} \u2013 {self.last:0{self.width}d}"


@dataclass(frozen=True)
class Series:
    series: str
    head: str
    first: int
    last: int
    width: int
    numbers: frozenset[int]


def series_of(stamps: Iterable[Stamp]) -> list[Series]:
    """The stamps grouped by series, each with its range and the numbers present."""
    grouped: dict[str, list[Stamp]] = {}
    for stamp in stamps:
        grouped.setdefault(stamp.series, []).append(stamp)
    found = []
    for name, members in sorted(grouped.items()):
        numbers = frozenset(s.number for s in members)
        first = min(members, key=lambda s: s.number)
        found.append(Series(name, first.head, min(numbers), max(numbers), first.width, numbers))
    return found


def gaps(series: Series, *, covered: frozenset[int] = frozenset()) -> list[BatesGap]:
    """The runs of numbers between ``series.first`` and ``.last`` that neither the series
    nor ``covered`` (numbers released elsewhere) holds, at most ``MAX_GAPS``."""
    present = sorted(series.numbers | {n for n in covered if series.first <= n <= series.last})
    found: list[BatesGap] = []
    for low, high in itertools.pairwise(present):
        if high - low > 1:
            found.append(BatesGap(series.series, series.head, low + 1, high - 1, series.width))
            if len(found) >= MAX_GAPS:
                break
    return found
