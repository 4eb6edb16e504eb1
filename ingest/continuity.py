"""Text that runs across line and page breaks, made searchable as it was written.

Two things break a search for words a page plainly shows:

- **A word hyphenated at a line end** (``recog-`` / ``nition``) is two tokens to the index.
  :func:`join_hyphenated` joins it back: ``recognition``. A compound that merely fell at a
  line end keeps its hyphen (``self-`` / ``employed`` -> ``self-employed``, both of which the
  index then holds as words); which is which is told by the dictionary (:mod:`ingest.vocabulary`):
  the parts are kept apart only when both are words and their join is not.
- **A phrase running from the bottom of one page to the top of the next** is in no single
  page's text. Each page's index record therefore carries :func:`seam`: its last words and the
  next page's first words, one text, so that the phrase matches there, on the page where it
  starts. Page furniture between the two (a Bates stamp, "Page 3 of 12", a lone page number) is
  left out of the seam, as a reader's eye skips it.

This is applied when records are built for the index; the database keeps the text as read.
"""

from __future__ import annotations

import re

from ingest.markings import find_bates_number
from ingest.vocabulary import vocabulary

# Words of each side that a seam keeps: Meilisearch reads only the first 10 words of a
# query, so a phrase longer than this cannot be asked for anyway.
SEAM_WORDS = 12

# A hyphen (ASCII, soft, Unicode hyphen or non-breaking hyphen) at a line end between letters.
_HYPHEN_BREAK_RE = re.compile(
    r"(?P<head>[^\W\d_]+)[-\u00ad\u2010\u2011][ \t]*\n[ \t]*(?:\n[ \t]*)?(?P<tail>[^\W\d_]+)"
)
# Page numbers in their usual shapes ("3", "Page 3 of 12", "- 3 -", "Página 3 de 12").
_PAGE_NUMBER_RES = (
    re.compile(r"^(?:page|p\.|pg\.?|p[aá]gina)?\s*\d{1,5}(?:\s*(?:of|/|de)\s*\d{1,5})?\.?$", re.I),
    re.compile(r"^[-\u2013\u2014]\s*\d{1,5}\s*[-\u2013\u2014]$"),
)
# A line is a Bates stamp when little but the stamp is on it.
_MAX_LETTERS_BESIDE_STAMP = 3
_LETTER_RE = re.compile(r"[^\W\d_]")


def join_hyphenated(text: str) -> str:
    """``text`` with words hyphenated across a line break joined (see the module doc)."""
    if "\n" not in text:
        return text
    return _HYPHEN_BREAK_RE.sub(_join, text)


def _join(match: re.Match[str]) -> str:
    head, tail = match.group("head"), match.group("tail")
    if tail[0].isupper():
        # "Smith-" / "Jones", "COVID-" / "19"-like: a name or a code, never one word.
        return f"{head}-{tail}"
    words = vocabulary()
    joined = head + tail
    if joined.lower() not in words and head.lower() in words and tail.lower() in words:
        return f"{head}-{tail}"  # a compound that fell at the line end
    return joined


def is_furniture(line: str) -> bool:
    """Whether a line is page furniture (a Bates stamp, a page number), not running text."""
    stripped = line.strip()
    if not stripped:
        return False
    if any(pattern.match(stripped) for pattern in _PAGE_NUMBER_RES):
        return True
    stamp = find_bates_number(stripped)
    if stamp is None:
        return False
    beside = len(_LETTER_RE.findall(stripped)) - len(_LETTER_RE.findall(stamp))
    return beside <= _MAX_LETTERS_BESIDE_STAMP


def head_words(text: str, count: int = SEAM_WORDS) -> list[str]:
    """The first ``count`` words of a page's running text (furniture lines skipped)."""
    words: list[str] = []
    for line in text.splitlines():
        if not line.strip() or is_furniture(line):
            continue
        words.extend(line.split())
        if len(words) >= count:
            break
    return words[:count]


def tail_words(text: str, count: int = SEAM_WORDS) -> list[str]:
    """The last ``count`` words of a page's running text (furniture lines skipped)."""
    words: list[str] = []
    for line in reversed(text.splitlines()):
        if not line.strip() or is_furniture(line):
            continue
        words[:0] = line.split()
        if len(words) >= count:
            break
    return words[-count:] if words else []


def seam(text: str, next_text: str | None) -> str:
    """The page's last words and the next page's first, as one searchable text.

    Empty when there is no next page. A word hyphenated across the page break is joined.
    """
    if not next_text:
        return ""
    tail, head = tail_words(text), head_words(next_text)
    if not tail or not head:
        return ""
    return join_hyphenated(" ".join(tail) + "\n" + " ".join(head))
