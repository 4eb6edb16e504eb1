"""Where a search query occurs on one page: ``<mark>`` in the page text, boxes on the image.

Meilisearch decides *which* pages match; this module only finds *where* on a page, so the reader
can draw the matches without asking the index again. It folds case and accents as Meilisearch
does (``informacion`` finds ``información``), treats a "quoted phrase" (and a hyphenated word
such as a Bates number) as a run of words across any punctuation or line break, skips
``-excluded`` words, and lets the last bare word match as a prefix, as Meilisearch's last query
word does. Typos are not matched: a page found only through typo tolerance shows no marks.

Every pattern is built from ``re.escape``-d tokens and bounded in number, so a hostile query
cannot make matching slow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

MAX_QUERY_LENGTH = 500  # the search form's limit too
MAX_TERMS = 20
MAX_TOKENS_PER_TERM = 12

_TOKEN = re.compile(r"[^\W_]+")
_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
_BETWEEN = r"[\W_]+"
_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"


class _FoldTable(dict[int, str]):
    """``str.translate`` table, filled on first sight of each character."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        decomposed = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        # Exactly one character out for one in: spans in the folded text are spans in the
        # original. Characters that fold to several ("ß" -> "ss", "ﬁ") keep a one-char form.
        if len(base) != 1:
            lowered = char.lower()
            base = lowered if len(lowered) == 1 else char
        self[codepoint] = base
        return base


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """``text`` lower-cased without accents, one character for each character of ``text``."""
    return text.translate(_FOLD)


def _term_pattern(tokens: Sequence[str], *, prefix: bool) -> re.Pattern[str]:
    body = _BETWEEN.join(re.escape(token) for token in tokens)
    return re.compile(_BEFORE + body + ("" if prefix else _AFTER))


class QueryMatcher:
    """The positive terms and excluded terms of one search query, compiled."""

    def __init__(self, query: str) -> None:
        terms: list[tuple[list[str], bool]] = []  # (folded tokens, may be a prefix)
        excluded: list[list[str]] = []
        for match in _QUERY_PART.finditer(query[:1000]):
            negative = bool(match.group(1) or match.group(3))
            quoted = match.group(2) is not None
            raw = match.group(2) if quoted else match.group(4)
            tokens = _TOKEN.findall(fold(raw or ""))[:MAX_TOKENS_PER_TERM]
            if not tokens:
                continue
            if negative:
                excluded.append(tokens)
            else:
                terms.append((tokens, not quoted))
        terms = terms[:MAX_TERMS]
        self.patterns: tuple[re.Pattern[str], ...] = tuple(
            # Only the query's last bare word is a prefix, and only once it has two letters:
            # a lone "a" would otherwise light up every word starting with a.
            _term_pattern(tokens, prefix=can_prefix and i == len(terms) - 1 and len(tokens[-1]) > 1)
            for i, (tokens, can_prefix) in enumerate(terms)
        )
        self.excluded: tuple[re.Pattern[str], ...] = tuple(
            _term_pattern(tokens, prefix=False) for tokens in excluded[:MAX_TERMS]
        )

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping (start, end) character ranges of ``text`` that match."""
        folded = fold(text)
        found = sorted(
            (m.start(), m.end()) for pattern in self.patterns for m in pattern.finditer(folded)
        )
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def matches(self, text: str) -> bool:
        """Whether every term occurs in ``text`` and no excluded word does."""
        if not self.patterns:
            return False
        folded = fold(text)
        return all(p.search(folded) for p in self.patterns) and not any(
            p.search(folded) for p in self.excluded
        )

    def word_indices(self, words: Sequence[str]) -> list[int]:
        """Indices of the ``words`` (in reading order) that a match touches."""
        starts: list[int] = []
        offset = 0
        for word in words:
            starts.append(offset)
            offset += len(word) + 1
        text = " ".join(words)
        hit: list[int] = []
        spans = self.spans(text)
        span_index = 0
        for index, (start, word) in enumerate(zip(starts, words, strict=True)):
            end = start + len(word)
            while span_index < len(spans) and spans[span_index][1] <= start:
                span_index += 1
            if span_index < len(spans) and spans[span_index][0] < end:
                hit.append(index)
        return hit


def mark_text(text: str, matcher: QueryMatcher) -> Markup:
    """``text`` HTML-escaped, with the matches wrapped in ``<mark>`` (escaped first, always)."""
    if not matcher:
        return escape(text)
    out: list[str] = []
    position = 0
    for start, end in matcher.spans(text):
        out.append(str(escape(text[position:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))  # noqa: S704 - escaped pieces joined with our own tags only
