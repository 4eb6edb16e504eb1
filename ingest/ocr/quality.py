"""How good is a reading? Tesseract's confidence, and the share of words a dictionary knows.

Two readings of the same region (other segmentation, other preprocessing) are compared by
:func:`score`: the characters expected to be right, that is each word's letters and digits
weighted by tesseract's confidence in it, and a little less when the word is alphabetic but
in no dictionary of the page's languages (garbage such as ``tbe`` or ``lll1`` is in none,
while a misread line loses confidence and dictionary words at once). Counting characters,
not averaging, keeps a reading that found more text ahead of one that read less, better.

The dictionaries are those of :mod:`ingest.vocabulary`; names and rare words are missing from
them, which only lowers every reading of a region alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.vocabulary import vocabulary

from .tesseract import OcrWord

# Weight of an alphabetic word no dictionary knows, against 1 for a known word or a number.
UNKNOWN_WORD_WEIGHT = 0.8
_EDGES = "\"'()[]{}<>.,;:!?*|«»“”‘’"  # noqa: RUF001 (typographic quotes are the point)
_LETTERS_RE = re.compile(r"[^\W\d_]+")
_ALNUM_RE = re.compile(r"[^\W_]")
_CHECKABLE_MIN_LETTERS = 3


@dataclass(frozen=True)
class Judgement:
    """A reading's figures: see :func:`judge`."""

    score: float
    confidence: float | None  # mean word confidence, 0..100
    dictionary_share: float | None  # known share of alphabetic words, 0..1
    words: int


def judge(words: Iterable[OcrWord], languages: str) -> Judgement:
    """Score (expected right characters), mean confidence and dictionary share of words."""
    known_words = vocabulary(languages)
    score = 0.0
    confidences: list[float] = []
    checkable = known = count = 0
    for word in words:
        chars = len(_ALNUM_RE.findall(word.text))
        if not chars:
            continue
        count += 1
        conf = max(word.conf, 0.0)
        confidences.append(conf)
        weight = 1.0
        core = word.text.strip(_EDGES)
        if known_words and _LETTERS_RE.fullmatch(core) and len(core) >= _CHECKABLE_MIN_LETTERS:
            checkable += 1
            if core.lower() in known_words:
                known += 1
            else:
                weight = UNKNOWN_WORD_WEIGHT
        score += chars * conf / 100 * weight
    return Judgement(
        score=score,
        confidence=sum(confidences) / len(confidences) if confidences else None,
        dictionary_share=known / checkable if checkable else None,
        words=count,
    )
