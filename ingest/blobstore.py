"""Where originals are kept so that every machine can read them: a folder, or S3.

    BlobStore (protocol)     put / exists / fetch / open by sha256; there is no delete
    ├── LocalStore           files/originals/ab/cd/<sha256> in the data folder (the default;
    │                        on a shared volume it is shared by every machine)
    └── S3Store              <prefix>/originals/ab/cd/<sha256> in a bucket, through boto3

    BlobStoreError (an OSError: the store could not give or take the bytes)
    ├── BlobNotFoundError    no original under that sha256 (also a FileNotFoundError)
    ├── BlobConflictError    bytes that are not the ones the key names, offered or found
    └── BlobIntegrityError   bytes written or read back do not hash to their key

The local folder stays every machine's working copy: intake writes there first
(``ingest.storage``) and then puts the original to the store before any row names it; a worker
that lacks an original fetches it into the same place (``ensure_local_original``), so pdfium and
tesseract always get a local path. Derived files are never put here: each machine rebuilds its
own from the original.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from botocore.exceptions import ClientError

from ingest.storage import CHUNK, original_path

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

    from app.config import Settings

# Files from this size on go up in parts of this size, several at a time: a 2 GiB original
# neither sits whole in memory nor restarts from zero when one part fails.
PART_SIZE = 16 * 1024 * 1024
UPLOAD_THREADS = 4

# What S3-compatible servers answer for a missing key (HEAD has no body, so only the status).
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class BlobStoreError(OSError):
    """Base: the store could not give or take an original's bytes."""


class BlobNotFoundError(BlobStoreError, FileNotFoundError):
    """No original is stored under this sha256."""


class BlobConflictError(BlobStoreError):
    """A put whose file is not the original its key names, or a key that holds other bytes."""


class BlobIntegrityError(BlobStoreError):
    """Bytes uploaded or fetched do not hash to their key: a damaged transfer or object."""


def original_key(sha256: str) -> str:
    """The key of an original inside a store, the same layout as the local folder."""
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobStore(Protocol):
    """Originals by sha256: written once, never changed, never deleted."""

    def put(self, sha256: str, path: Path) -> None:
        """Store the finished local file ``path`` as the original ``sha256``; idempotent.

        Raises ``BlobConflictError`` if ``path`` does not hash to ``sha256`` or the key
        already holds other bytes: an existing original is never overwritten.
        """

    def exists(self, sha256: str) -> bool:
        """Whether the original is stored."""

    def fetch(self, sha256: str, dest: Path) -> None:
        """Copy the original to ``dest`` atomically (read-only), checking its sha256."""

    def open(self, sha256: str) -> BinaryIO:
        """The original as a stream, for downloads; the caller closes it."""


def _not_found(sha256: str, where: str) -> BlobNotFoundError:
    return BlobNotFoundError(errno.ENOENT, f"the original is not in {where}", sha256)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _temp_beside(dest: Path) -> Iterator[Path]:
    """A temporary path in ``dest``'s folder (so the final rename is atomic), removed on error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:16]}.fetch-")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _install(tmp: Path, dest: Path, sha256: str) -> None:
    """Move a fetched copy into place, read-only, only if it is the original it claims to be."""
    actual = file_sha256(tmp)
    if actual != sha256:
        raise BlobIntegrityError(
            errno.EIO, f"the copy fetched from storage hashes to {actual}, not its key", sha256
        )
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.chmod(0o444)
    tmp.replace(dest)


def _copy_checked(source: Path, dest: Path, sha256: str) -> None:
    with _temp_beside(dest) as tmp:
        shutil.copyfile(source, tmp)
        _install(tmp, dest, sha256)


class LocalStore:
    """The folder layout of ``ingest.storage``: the default, and a shared volume's."""

    def __init__(self, files_dir: Path) -> None:
        self.files_dir = files_dir

    def put(self, sha256: str, path: Path) -> None:
        """A no-op for a file already in place (``store_stream`` wrote it there); else copy."""
        target = original_path(self.files_dir, sha256)
        if path.resolve() == target.resolve():
            return
        if file_sha256(path) != sha256:
            raise BlobConflictError(errno.EEXIST, "the file does not hash to its key", sha256)
        if target.exists():
            return  # written by store_stream after its own hash check: the same bytes
        _copy_checked(path, target, sha256)

    def exists(self, sha256: str) -> bool:
        """Whether the original is in the folder."""
        return original_path(self.files_dir, sha256).is_file()

    def fetch(self, sha256: str, dest: Path) -> None:
        """Copy the original to ``dest``; nothing to do when ``dest`` is where it is kept."""
        source = original_path(self.files_dir, sha256)
        if not source.is_file():
            raise _not_found(sha256, f"the folder {self.files_dir}")
        if dest.resolve() == source.resolve():
            return
        _copy_checked(source, dest, sha256)

    def open(self, sha256: str) -> BinaryIO:
        """The original file, opened for reading."""
        try:
            return original_path(self.files_dir, sha256).open("rb")
        except FileNotFoundError:
            raise _not_found(sha256, f"the folder {self.files_dir}") from None


def _digests(path: Path, part_size: int) -> tuple[int, bytes, list[bytes]]:
    """Size, SHA-256 of the whole file, and SHA-256 of each ``part_size`` part, in one read."""
    whole = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    with path.open("rb") as source:
        while True:
            part = hashlib.sha256()
            filled = 0
            while filled < part_size and (chunk := source.read(min(CHUNK, part_size - filled))):
                part.update(chunk)
                whole.update(chunk)
                filled += len(chunk)
            if filled:
                parts.append(part.digest())
                size += filled
            if filled < part_size:
                return size, whole.digest(), parts


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Store:
    """Originals in an S3-compatible bucket under ``<prefix>/originals/ab/cd/<sha256>``.

    Every upload carries SHA-256 checksums that the server checks before it keeps the bytes
    (of the whole object, or of each part of a multipart upload); afterwards the object's size
    and the checksum the server reports are compared with the local file's.
    """

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE
    ) -> None:
        # boto3 takes a fifth of a second to import: only installations that use S3 pay it.
        from boto3.s3.transfer import TransferConfig

        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self._transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=UPLOAD_THREADS,
        )

    def key(self, sha256: str) -> str:
        """The object key of an original."""
        key = original_key(sha256)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _head(self, sha256: str) -> HeadObjectOutputTypeDef | None:
        try:
            return self.client.head_object(
                Bucket=self.bucket, Key=self.key(sha256), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                return None
            raise

    def _holds(
        self, head: HeadObjectOutputTypeDef, size: int, whole: bytes, parts: list[bytes]
    ) -> bool:
        """Whether the object described by ``head`` has the file's size and SHA-256."""
        if head["ContentLength"] != size:
            return False
        reported = head.get("ChecksumSHA256")
        if reported is None:
            return True  # a server that keeps no SHA-256: the size is all it can tell
        composite, dash, count = reported.rpartition("-")
        if not dash:
            return reported == _b64(whole)
        # Sent in parts: S3 reports the SHA-256 of the parts' SHA-256s, then their count.
        if count != str(len(parts)):
            # Parts of another size (another tool, another part size) cannot be recomputed
            # here; the server checked each part's SHA-256 as it arrived.
            return True
        return composite == _b64(hashlib.sha256(b"".join(parts)).digest())

    def put(self, sha256: str, path: Path) -> None:
        """Upload ``path`` unless the key already holds it; refuse different bytes."""
        size, whole, parts = _digests(path, self.part_size)
        if whole.hex() != sha256:
            raise BlobConflictError(errno.EEXIST, "the file does not hash to its key", sha256)
        head = self._head(sha256)
        if head is not None:
            if not self._holds(head, size, whole, parts):
                raise BlobConflictError(
                    errno.EEXIST,
                    f"s3://{self.bucket}/{self.key(sha256)} holds other bytes; it is never "
                    "overwritten",
                    sha256,
                )
            return
        # Two machines may upload the same original at once; the bytes were checked against
        # the key above, so whichever upload lands last writes the same object.
        self.client.upload_file(
            str(path),
            self.bucket,
            self.key(sha256),
            ExtraArgs={"ChecksumAlgorithm": "SHA256", "ContentType": "application/octet-stream"},
            Config=self._transfer,
        )
        head = self._head(sha256)
        if head is None or not self._holds(head, size, whole, parts):
            raise BlobIntegrityError(
                errno.EIO,
                f"s3://{self.bucket}/{self.key(sha256)} does not match the uploaded file",
                sha256,
            )

    def exists(self, sha256: str) -> bool:
        """Whether the bucket holds the original."""
        return self._head(sha256) is not None

    def fetch(self, sha256: str, dest: Path) -> None:
        """Download the original next to ``dest``, check its sha256, then rename it in place."""
        with _temp_beside(dest) as tmp:
            try:
                self.client.download_file(
                    self.bucket,
                    self.key(sha256),
                    str(tmp),
                    ExtraArgs={"ChecksumMode": "ENABLED"},
                    Config=self._transfer,
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                    raise _not_found(sha256, f"s3://{self.bucket}/{self.prefix}") from exc
                raise
            _install(tmp, dest, sha256)

    def open(self, sha256: str) -> BinaryIO:
        """The object's body as a buffered stream; botocore checks a whole-object checksum
        when the last byte has been read."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key(sha256), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                raise _not_found(sha256, f"s3://{self.bucket}/{self.prefix}") from exc
            raise
        # StreamingBody has readinto(), all a BufferedReader asks of its raw stream, though
        # its stubs do not call it a RawIOBase.
        return io.BufferedReader(response["Body"])  # type: ignore[type-var]


def parse_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ``("bucket", "some/prefix")``."""
    scheme, _, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme != "s3" or not bucket:
        raise ValueError(f"storage URL {url!r} is not of the form s3://bucket/prefix")
    return bucket, prefix.strip("/")


@lru_cache(maxsize=8)
def _s3_store(url: str, endpoint_url: str | None) -> S3Store:
    # One client per configuration and process: creating one reads credentials and the
    # service model (tens of milliseconds), and a client is safe to share between threads.
    import boto3
    from botocore.config import Config

    bucket, prefix = parse_storage_url(url)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        # Self-hosted servers (MinIO, SeaweedFS, Ceph) answer on one host name, so buckets go
        # in the path; AWS itself keeps its default virtual-host addressing.
        config=Config(
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )
    return S3Store(client, bucket, prefix)


def get_blobstore(settings: Settings) -> BlobStore:
    """The store ``settings`` name: S3 for an ``s3://`` storage URL, else the local folder.

    Credentials for S3 come from boto3's usual sources (``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from readingroom's settings.
    """
    if settings.storage_url is None:
        return LocalStore(settings.files_dir)
    return _s3_store(settings.storage_url, settings.s3_endpoint_url)


def ensure_local_original(settings: Settings, sha256: str) -> Path:
    """The local path of an original, fetched from the store first if this machine lacks it.

    The local folder is then a cache of the store on each worker machine. Raises
    ``BlobNotFoundError`` (a ``FileNotFoundError``) when no store has it.
    """
    path = original_path(settings.files_dir, sha256)
    if not path.is_file():
        get_blobstore(settings).fetch(sha256, path)
    return path
