"""Content-addressed storage of originals: ``files/originals/ab/cd/<sha256>``, never modified.

A file is streamed into a temporary file in the same folder tree (so the final rename is atomic
on one filesystem), hashed on the way, flushed to disk, then renamed into place. Given a
``BlobStore`` (``ingest.blobstore``), the original is also put there before this returns. A row
in the database is written only after that, so no row ever names a missing original, on this
machine or any other.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ingest.blobstore import BlobStore

CHUNK = 1024 * 1024

# "No space left", "quota exceeded", "file too large for this filesystem": only room helps.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StorageFullError(OSError):
    """The store's filesystem has no room for the file (nothing of it was kept)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size: int
    already_stored: bool


def original_path(files_dir: Path, sha256: str) -> Path:
    """Where the original with this hash lives."""
    return files_dir / "originals" / sha256[:2] / sha256[2:4] / sha256


def derived_dir(files_dir: Path, sha256: str, pipeline_version: int) -> Path:
    """Folder for what the pipeline derives from one original (images, word boxes)."""
    return files_dir / "derived" / sha256 / str(pipeline_version)


def store_stream(
    source: BinaryIO,
    files_dir: Path,
    *,
    max_bytes: int | None = None,
    blobstore: BlobStore | None = None,
) -> StoredFile:
    """Stream ``source`` into the store; raise ``ValueError`` past ``max_bytes`` (nothing kept).

    With ``blobstore``, the original is put there too (idempotently, so a file stored before
    reaches a store that missed it); its errors propagate, and the local copy stays.
    """
    stored = _store_locally(source, files_dir, max_bytes)
    if blobstore is not None:
        blobstore.put(stored.sha256, stored.path)
    return stored


def _store_locally(source: BinaryIO, files_dir: Path, max_bytes: int | None) -> StoredFile:
    tmp_dir = files_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ValueError(f"file is larger than the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        final = original_path(files_dir, sha256)
        if final.exists():
            tmp_path.unlink()
            return StoredFile(sha256, final, size, already_stored=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_path.chmod(0o444)
        tmp_path.replace(final)
        return StoredFile(sha256, final, size, already_stored=False)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
            raise StorageFullError(
                exc.errno, f"no room left to store the file ({exc.strerror})", str(tmp_path)
            ) from exc
        raise


def store_file(
    path: Path,
    files_dir: Path,
    *,
    max_bytes: int | None = None,
    blobstore: BlobStore | None = None,
) -> StoredFile:
    """Store a file from disk by its sha256 (the source file is left untouched)."""
    with path.open("rb") as source:
        return store_stream(source, files_dir, max_bytes=max_bytes, blobstore=blobstore)
