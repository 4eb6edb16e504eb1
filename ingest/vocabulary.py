"""Words a dictionary knows, per language: for judging OCR and for joining hyphenated words.

The dictionaries are wordfreq's "small" lists (about 30,000 words a language, 0.2 s each to
load), kept once per process. Names and rare words are missing from them on purpose: what is
in them is common enough to be a real word, and OCR garbage (``tbe``, ``lll``) is not.
"""

from __future__ import annotations

import functools

import wordfreq

# Tesseract language codes -> wordfreq's. Languages without a list have no dictionary.
_WORDFREQ_CODES = {
    "eng": "en",
    "spa": "es",
    "fra": "fr",
    "deu": "de",
    "ita": "it",
    "por": "pt",
    "nld": "nl",
    "pol": "pl",
    "rus": "ru",
    "ara": "ar",
    "chi_sim": "zh",
    "vie": "vi",
}
# What the archive's releases are written in when nothing narrower is known (the OCR
# languages installed by the Makefile).
ARCHIVE_LANGUAGES = "eng+spa"


@functools.lru_cache(maxsize=16)
def vocabulary(languages: str = ARCHIVE_LANGUAGES) -> frozenset[str]:
    """Lower-case words of the dictionaries of ``languages`` (tesseract codes, ``eng+spa``)."""
    words: set[str] = set()
    for code in languages.split("+"):
        wanted = _WORDFREQ_CODES.get(code)
        if wanted is not None:
            words.update(wordfreq.get_frequency_dict(wanted, wordlist="small"))
    return frozenset(words)
