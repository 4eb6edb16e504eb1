"""Releases compared: the versions of a page across productions, and what was withheld.

Agencies release the same records again and again, with other redactions, other OCR errors
and other Bates numbers. This package finds the versions of each page and says how they
differ:

- :mod:`ingest.versions.fingerprint`: a page's words, their two-word shingles and a MinHash
  signature cut into LSH bands; pages with too little text are left out (blank pages, fax
  covers), and so are slip-sheets;
- :mod:`ingest.versions.align`: two texts aligned word by word (LCS), with the words only
  one side has, those OCR read differently, and a verdict: versions of one page, or not;
- :mod:`ingest.versions.withheld`: slip-sheets ("Withheld in full pursuant to (b)(5)") and
  the Bates numbers never released (gaps in the sequence of a production or a request);
- :mod:`ingest.versions.job`: the ``versions`` job of the job queue, which compares one
  document's pages against the whole archive through the band table (never pair by pair),
  confirms candidates by alignment, stores the matches, the page-version groups and the
  document versions.

Everything it writes is keyed by :data:`METHOD_VERSION` and derived from the pages: deleting it
loses nothing (``readingroom versions rebuild``).
"""

# 1: two-word shingles, 64-permutation MinHash in 32 bands of 2 rows, LCS confirmation.
METHOD_VERSION = 1
