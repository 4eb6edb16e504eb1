"""A page's fingerprint: MinHash over two-word shingles, cut into LSH bands.

Why this shape:

- **Words, lower-cased, letters and digits only, two letters or more.** OCR noise is mostly
  punctuation, case and one-letter specks; exemption labels (``(b)(6)``) fall apart into
  one-letter pieces and drop out, so a box labelled ``(b)(6)`` in one release and nothing in
  another does not make the pages look different.
- **Two-word shingles.** A redaction removes a few runs of words and OCR garbles single words:
  each touches two shingles, where three-word shingles would lose three. One-word shingles
  would make every page of one form (same labels, other people) look alike.
- **MinHash, 64 permutations, 32 bands of 2 rows.** Two versions of a page whose shingle sets
  overlap by a Jaccard of 0.3 share at least one band with probability 0.95; pages at 0.1
  share one with probability 0.27 and are then dropped by the signature estimate before any
  alignment. The bands go to the database (``page_bands``), so a new page is compared with
  the archive by 32 indexed look-ups, whatever the archive's size.

The shingle hash is CRC-32 and the permutations are ``(a·x + b) mod p`` with a fixed seed:
stable across processes and machines (Python's own ``hash`` is salted per process), so a
signature computed by one worker matches one computed by another.

datasketch was considered: its MinHash is this same computation, and its LSH index lives in
memory, Redis or Cassandra, where the archive needs it in its own database, shared by every
worker and rebuilt with it; it would also bring in SciPy for nothing used here.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NUM_PERM = 64
BAND_ROWS = 2
BANDS = NUM_PERM // BAND_ROWS
# Fewer distinct words than this and a page says too little to be told from another one
# (blank pages, "this page intentionally left blank", a fax cover's few labels).
MIN_WORDS = 15
MAX_TOKENS = 20_000  # a page of more words is fingerprinted on its first 20,000
_PRIME = 4_294_967_311  # the first prime above 2**32: (a·x + b) mod p is a universal family
_SEED = 11

_WORD = re.compile(r"[^\W_]{2,}")

_rng = np.random.default_rng(_SEED)
_A = _rng.integers(1, 2**32, size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 2**32, size=NUM_PERM, dtype=np.uint64)

Signature = npt.NDArray[np.uint64]


def words(text: str) -> list[str]:
    """The words a fingerprint is made of: lower-cased letters and digits, two or more."""
    return _WORD.findall(text.casefold())[:MAX_TOKENS]


def shingles(tokens: list[str]) -> set[int]:
    """CRC-32 of each pair of neighbouring words (a one-word page has its word)."""
    if len(tokens) < 2:
        return {zlib.crc32(t.encode()) for t in tokens}
    return {zlib.crc32(f"{a} {b}".encode()) for a, b in itertools.pairwise(tokens)}


def signature(hashes: set[int]) -> Signature:
    """The MinHash signature of a set of shingle hashes (``NUM_PERM`` values below 2**33)."""
    if not hashes:
        return np.full(NUM_PERM, _PRIME, dtype=np.uint64)
    values = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
    # a < 2**32 and x < 2**32: a·x + b stays below 2**64, no wrap-around.
    permuted = (np.outer(_A, values) + _B[:, None]) % np.uint64(_PRIME)
    result: Signature = permuted.min(axis=1)
    return result


def band_keys(sig: Signature) -> list[int]:
    """One signed 64-bit key per band: equal keys mean equal rows in that band."""
    raw = sig.astype("<u8").tobytes()
    keys = []
    width = BAND_ROWS * 8
    for band in range(BANDS):
        # The band's number is hashed in: equal rows in two different bands are no match.
        rows = bytes([band]) + raw[band * width : (band + 1) * width]
        digest = hashlib.blake2b(rows, digest_size=8, person=b"rr-bands").digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def to_bytes(sig: Signature) -> bytes:
    return sig.astype("<u8").tobytes()


def from_bytes(raw: bytes) -> Signature:
    result: Signature = np.frombuffer(raw, dtype="<u8").astype(np.uint64)
    return result


def estimated_jaccard(a: Signature, b: Signature) -> float:
    """The share of equal MinHash values: an unbiased estimate of the shingle sets' Jaccard."""
    return float(np.mean(a == b))


@dataclass(frozen=True)
class Fingerprint:
    """What the comparison keeps of one page."""

    words: int  # distinct words
    signature: Signature | None  # None when the page has too little text to compare
    bands: list[int]

    @property
    def comparable(self) -> bool:
        return self.signature is not None


def fingerprint(text: str) -> Fingerprint:
    """The fingerprint of a page's text; pages under ``MIN_WORDS`` distinct words get none."""
    tokens = words(text)
    distinct = len(set(tokens))
    if distinct < MIN_WORDS:
        return Fingerprint(distinct, None, [])
    sig = signature(shingles(tokens))
    return Fingerprint(distinct, sig, band_keys(sig))
