"""Two versions of a page aligned word by word, and the verdict: versions of one page or not.

The alignment is a longest common subsequence of normalised words (rapidfuzz's Indel opcodes,
in C: about 40 times faster than difflib on a page, which matters when every page of a new
production is aligned with its candidates), so that case, punctuation and hyphenation do not
count as differences. Each stretch between matching words is then told apart:

- ``only_a`` / ``only_b``: words one side has and the other does not, or that the other side
  shows as a redaction label (``(b)(6)``, ``REDACTED``, a masked run): what one release hid;
- ``ocr``: both sides have words there and they are spelled nearly alike (a character ratio of
  0.6 or more): the same words read differently;
- ``differs``: both sides have words there and they have little in common. Two versions of a
  page have few of these; two different records on one form (same labels, other people) have
  many, which is what tells them apart.

The verdict asks that the words both sides share make most of the shorter page and a good
part of the longer one, and that conflicting words stay rare: a release that blacked out half
a page is still a version of it, a different e-mail with the same signature block is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Indel

MAX_ALIGNED_WORDS = 5_000  # per side: longer pages are aligned on their first 5,000 words
OCR_SIMILARITY = 0.6
MIN_RUN = 3  # words in a row that anchor the alignment
# A stretch with a redaction label whose shorter side has at most this many words is a
# redaction on each side (names side by side); a longer one is a real difference.
MAX_SPLIT_WORDS = 4
MIN_AGREEMENT = 0.9  # shared / (shared + conflicting)
MIN_COVER_SHORTER = 0.6  # shared words / words of the shorter page
MIN_COVER_LONGER = 0.35  # shared words / words of the longer page

_TOKEN = re.compile(r"\S+")
_KEEP = re.compile(r"[^\W_]+")
# What a release prints where it hid something: exemption labels, "REDACTED", masked runs.
_LABEL = re.compile(
    r"^(?:\(?b\)?(?:\(\d\)|\d)(?:\([a-f]\)|[a-f])?[.,;:]?|\(\d\)(?:\([a-f]\))?[.,;:]?"
    r"|\[?redacted\]?|\[?withheld\]?|x{3,}|\u2588+|ex\.?|exemption)$",
    re.IGNORECASE,
)

SegmentKind = Literal["same", "only_a", "only_b", "ocr", "differs"]


@dataclass(frozen=True)
class Token:
    text: str  # as printed
    key: str  # lower-cased letters and digits
    start: int  # character offsets in the page text
    end: int
    label: bool  # a redaction label, not a word of the record


def tokens(text: str) -> list[Token]:
    """The words of ``text`` with their offsets; pure punctuation is not a word."""
    found: list[Token] = []
    for match in _TOKEN.finditer(text):
        raw = match.group()
        label = bool(_LABEL.match(raw)) or "\u2588" in raw
        key = "".join(_KEEP.findall(raw.casefold()))
        if not key and not label:
            continue
        found.append(Token(raw, key or "\u2588", match.start(), match.end(), label))
        if len(found) >= MAX_ALIGNED_WORDS:
            break
    return found


@dataclass(frozen=True)
class Segment:
    """A stretch of the alignment: token ranges ``[a0, a1)`` of side A, ``[b0, b1)`` of B."""

    kind: SegmentKind
    a0: int
    a1: int
    b0: int
    b1: int
    split: bool = False  # one half of a stretch where both sides hid something


@dataclass(frozen=True)
class Alignment:
    a: list[Token]
    b: list[Token]
    segments: list[Segment]

    def _count(self, kind: SegmentKind, side: str) -> int:
        total = 0
        for s in self.segments:
            if s.kind == kind:
                lo, hi = (s.a0, s.a1) if side == "a" else (s.b0, s.b1)
                total += sum(1 for t in (self.a if side == "a" else self.b)[lo:hi] if not t.label)
        return total

    @property
    def shared(self) -> int:
        """Words both sides have, counting words OCR read differently."""
        same = sum(
            1 for s in self.segments if s.kind == "same" for t in self.a[s.a0 : s.a1] if not t.label
        )
        ocr = sum(min(s.a1 - s.a0, s.b1 - s.b0) for s in self.segments if s.kind == "ocr")
        return same + ocr

    @property
    def conflicting(self) -> int:
        """Words in conflict: both sides have different words there (a split stretch
        counts its shorter side: two releases hiding different names there, or not)."""
        total = sum(min(s.a1 - s.a0, s.b1 - s.b0) for s in self.segments if s.kind == "differs")
        halves = [s for s in self.segments if s.split]
        for first, second in zip(halves[::2], halves[1::2], strict=False):
            words_a = sum(1 for t in self.a[first.a0 : first.a1] if not t.label)
            words_b = sum(1 for t in self.b[second.b0 : second.b1] if not t.label)
            total += min(words_a, words_b)
        return total

    @property
    def only_a(self) -> int:
        """Words of A that B does not have (hidden, or missing, in B)."""
        return self._count("only_a", "a")

    @property
    def only_b(self) -> int:
        return self._count("only_b", "b")

    @property
    def ocr_words(self) -> int:
        return sum(max(s.a1 - s.a0, s.b1 - s.b0) for s in self.segments if s.kind == "ocr")

    @property
    def words_a(self) -> int:
        return sum(1 for t in self.a if not t.label)

    @property
    def words_b(self) -> int:
        return sum(1 for t in self.b if not t.label)

    @property
    def similarity(self) -> float:
        """Shared words over the words of both sides (1.0: the same words)."""
        total = self.words_a + self.words_b
        return 2 * self.shared / total if total else 0.0

    @property
    def agreement(self) -> float:
        shared = self.shared
        return shared / (shared + self.conflicting) if shared else 0.0

    @property
    def is_version(self) -> bool:
        """Versions of one page: see the module docstring for the rule."""
        shorter, longer = sorted((self.words_a, self.words_b))
        if not shorter:
            return False
        shared = self.shared
        return (
            self.agreement >= MIN_AGREEMENT
            and shared >= MIN_COVER_SHORTER * shorter
            and shared >= MIN_COVER_LONGER * longer
        )


def _ratio(a: list[Token], b: list[Token]) -> float:
    return float(
        Indel.normalized_similarity(" ".join(t.key for t in a), " ".join(t.key for t in b))
    )


def _stretch(a: list[Token], b: list[Token], a0: int, a1: int, b0: int, b1: int) -> list[Segment]:
    """The segments of one stretch between matching blocks."""
    words_a = [t for t in a[a0:a1] if not t.label]
    words_b = [t for t in b[b0:b1] if not t.label]
    if a1 == a0 or not words_b:
        # B has nothing here, or only a label: A's words are what B hid. (And the reverse.)
        if a1 > a0 and b1 > b0:
            return [Segment("only_a", a0, a1, b0, b1)]
        return [Segment("only_b" if a1 == a0 else "only_a", a0, a1, b0, b1)]
    if not words_a:
        return [Segment("only_b", a0, a1, b0, b1)]
    labelled = len(words_a) < a1 - a0 or len(words_b) < b1 - b0
    if labelled and min(len(words_a), len(words_b)) <= MAX_SPLIT_WORDS:
        # A label in the stretch: each side hid what the other shows here (two neighbouring
        # names, the first redacted in one release and the second in the other).
        return [
            Segment("only_a", a0, a1, b0, b0, split=True),
            Segment("only_b", a1, a1, b0, b1, split=True),
        ]
    if _ratio(words_a, words_b) >= OCR_SIMILARITY:
        return [Segment("ocr", a0, a1, b0, b1)]
    return [Segment("differs", a0, a1, b0, b1)]


def align(text_a: str, text_b: str) -> Alignment:
    """Align two page texts word by word (see the module docstring)."""
    return align_tokens(tokens(text_a), tokens(text_b))


def align_tokens(a: list[Token], b: list[Token]) -> Alignment:
    """:func:`align` on texts already cut into :func:`tokens`: a page aligned with each of
    its candidates is cut once, which is most of the cost of an alignment."""
    segments: list[Segment] = []
    # Indel opcodes are equal runs with deletions and insertions between them: the stretch
    # between two equal runs is judged as one (a replaced name is a deletion and an insertion).
    # A run of one or two words inside a stretch is no anchor: any two texts share "the" and
    # "of" here and there, and counting them would make two different e-mails look alike.
    a0 = b0 = 0
    for op in Indel.opcodes([t.key for t in a], [t.key for t in b]):
        if op.tag != "equal":
            continue
        at_edge = op.src_start == 0 and op.dest_start == 0
        at_end = op.src_end == len(a) and op.dest_end == len(b)
        if op.src_end - op.src_start < MIN_RUN and not (at_edge or at_end):
            continue
        if op.src_start > a0 or op.dest_start > b0:
            segments.extend(_stretch(a, b, a0, op.src_start, b0, op.dest_start))
        segments.append(Segment("same", op.src_start, op.src_end, op.dest_start, op.dest_end))
        a0, b0 = op.src_end, op.dest_end
    if a0 < len(a) or b0 < len(b):
        segments.extend(_stretch(a, b, a0, len(a), b0, len(b)))
    return Alignment(a, b, segments)
