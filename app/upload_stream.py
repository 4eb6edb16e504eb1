"""Streaming a multipart upload straight into the content-addressed store.

The request body is read chunk by chunk from the ASGI stream and fed to python-multipart's
streaming parser; the bytes of each file part go through a bounded pipe to ``store_stream``
running in a thread of its own, which hashes them, writes them under ``files/tmp`` and renames
the finished file into ``files/originals``. So a 2 GB upload is written to disk once, never
held in memory, and stops being read the moment it passes the size limit.

A file's checksum is checked before it is kept: the client names the sha256 it expects in an
``X-Content-SHA256`` header (a request with one file) or in a ``sha256`` form field sent just
before the file. A mismatch aborts the store (the temporary file is removed) and the request.

Nothing here writes a database row: the caller registers the files once all of them arrived.
A request that fails half-way may leave earlier files in the store without rows; they are
valid originals (named by their own hash) that nothing points at.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.errors import InvalidInputError, ReadingroomError, UnavailableError
from ingest.storage import StorageFullError, StoredFile, store_stream

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from ingest.blobstore import BlobStore

SHA256_FIELD = "sha256"
SHA256_HEADER = "X-Content-SHA256"
MAX_FILES = 500
MAX_FIELDS = 100
MAX_FIELD_BYTES = 16 * 1024
MAX_FILENAME = 255
# Bytes waiting between the request and the disk: the request is read no faster than that.
PIPE_BYTES = 4 * 1024 * 1024

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class FileTooLargeError(ReadingroomError):
    status_code = 413
    code = "too_large"


class InsufficientStorageError(ReadingroomError):
    status_code = 507
    code = "insufficient_storage"


class ChecksumMismatchError(InvalidInputError):
    code = "checksum_mismatch"


class _AbortedError(Exception):
    """The request stopped before the file ended: the store must not keep a partial file."""


@dataclass(frozen=True)
class ReceivedFile:
    """A file part now in the store: the name its sender gave, and where it is."""

    filename: str
    stored: StoredFile
    checksum_verified: bool


@dataclass
class ReceivedUpload:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)


def clean_filename(raw: str) -> str:
    """The last path component of a sent file name, without control characters, capped."""
    name = _UNSAFE_NAME.sub("", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot else name[:MAX_FILENAME]
    return name


def parse_sha256(value: str | None, where: str) -> str | None:
    """A claimed checksum, lower-cased; ``InvalidInputError`` if it is not 64 hex digits."""
    if value is None or not value.strip():
        return None
    digest = value.strip().lower()
    if not _SHA256.match(digest):
        raise InvalidInputError(f"{where} must be 64 hexadecimal digits (a sha256)")
    return digest


class _Pipe:
    """Bytes from the event loop to a reader thread, at most ``PIPE_BYTES`` in between.

    The loop side never blocks: when the pipe is full it awaits an event that the reader sets
    (thread-safely) after taking bytes out. The reader hashes what it hands on, so that the
    end of the file can be refused when it does not match the claimed checksum.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, expected_sha256: str | None) -> None:
        self._loop = loop
        self._expected = expected_sha256
        self._digest = hashlib.sha256()
        self._chunks: deque[bytes] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._eof = False
        self._aborted = False
        self._reader_gone = False
        self._room = asyncio.Event()
        self._room.set()

    async def write(self, data: bytes) -> bool:
        """Queue ``data`` for the reader; False if the reader has stopped (see its outcome)."""
        while True:
            with self._cond:
                if self._reader_gone:
                    return False
                if self._pending < PIPE_BYTES:
                    self._chunks.append(data)
                    self._pending += len(data)
                    self._cond.notify()
                    return True
                self._room.clear()
            await self._room.wait()

    def close(self) -> None:
        """The file part ended: the reader sees the end of the file."""
        with self._cond:
            self._eof = True
            self._cond.notify()

    def abort(self) -> None:
        """The request failed: the reader raises, and the store removes its temporary file."""
        with self._cond:
            self._aborted = True
            self._cond.notify()

    def reader_done(self) -> None:
        with self._cond:
            self._reader_gone = True
        self._wake_writer()

    def _wake_writer(self) -> None:
        # The request may have ended (its loop closed) while this thread was finishing.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._room.set)

    def read(self, size: int = -1) -> bytes:
        """Called by ``store_stream`` in the reader thread; ``b""`` at the end of the file."""
        with self._cond:
            while not self._chunks and not self._eof and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise _AbortedError
            if not self._chunks:
                if self._expected is not None and self._digest.hexdigest() != self._expected:
                    raise ChecksumMismatchError(
                        f"the file's sha256 is {self._digest.hexdigest()}, not the "
                        f"{self._expected} that was sent with it: it was damaged on the way, "
                        "nothing was kept"
                    )
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                chunk, rest = chunk[:size], chunk[size:]
                self._chunks.appendleft(rest)
            self._pending -= len(chunk)
        self._digest.update(chunk)
        self._wake_writer()
        return chunk


def _store_in_thread(
    pipe: _Pipe, files_dir: Path, max_bytes: int, blobstore: BlobStore | None
) -> concurrent.futures.Future[StoredFile]:
    # A thread per file rather than the shared pool: a slow client holds its reader for the
    # whole upload, and must not take the threads that sync routes run in.
    future: concurrent.futures.Future[StoredFile] = concurrent.futures.Future()

    def run() -> None:
        try:
            stored = store_stream(
                pipe,  # type: ignore[arg-type]
                files_dir,
                max_bytes=max_bytes,
                blobstore=blobstore,
            )
        except ValueError:
            pipe.reader_done()
            # store_stream's only ValueError: past the limit (it removed what it wrote).
            future.set_exception(
                FileTooLargeError(
                    f"this file is larger than the limit of {format_bytes(max_bytes)}; "
                    "split it, or ask an administrator to raise READINGROOM_MAX_UPLOAD_BYTES"
                )
            )
        except StorageFullError:
            pipe.reader_done()
            # store_stream removed its temporary file: the space is free again.
            future.set_exception(
                InsufficientStorageError(
                    "the server has no room left to store this file; nothing was kept. "
                    "Try again later, and tell an administrator"
                )
            )
        except OSError as exc:
            pipe.reader_done()
            # An unreachable shared store, a read-only disk: nothing is registered, try later.
            future.set_exception(UnavailableError(f"the file could not be stored now: {exc}"))
        except BaseException as exc:
            pipe.reader_done()
            future.set_exception(exc)
        else:
            # Before the result: once it is set, the request (and its event loop) may be gone.
            pipe.reader_done()
            future.set_result(stored)

    threading.Thread(target=run, name="upload-store", daemon=True).start()
    return future


def format_bytes(size: int) -> str:
    """``2147483648`` as ``2 GiB``: limits in messages people read."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


class _Receiver:
    """Turns parser events into stored files and fields (see ``receive_upload``)."""

    def __init__(
        self,
        files_dir: Path,
        max_file_bytes: int,
        header_sha256: str | None,
        before_first_file: Callable[[Mapping[str, list[str]]], None] | None,
        blobstore: BlobStore | None,
    ) -> None:
        self.files_dir = files_dir
        self.blobstore = blobstore
        self.max_file_bytes = max_file_bytes
        self.header_sha256 = header_sha256
        self.before_first_file = before_first_file
        self.result = ReceivedUpload()
        self.events: list[tuple[str, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._field_count = 0
        self._claimed_sha256: str | None = None
        self._pipe: _Pipe | None = None
        self._future: concurrent.futures.Future[StoredFile] | None = None
        self._filename = ""
        self._verified = False
        self._checked = False

    def callbacks(self) -> MultipartCallbacks:
        # The parser's callbacks are synchronous: they only record events, which
        # ``handle_events`` then acts on with awaits (writing to the pipe may have to wait).
        def data(name: str) -> Callable[[bytes, int, int], None]:
            return lambda buf, start, end: self.events.append((name, bytes(buf[start:end])))

        def mark(name: str) -> Callable[[], None]:
            return lambda: self.events.append((name, b""))

        return {
            "on_part_begin": mark("part_begin"),
            "on_header_field": data("header_field"),
            "on_header_value": data("header_value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_finished"),
            "on_part_data": data("data"),
            "on_part_end": mark("part_end"),
        }

    def check_before_files(self) -> None:
        if not self._checked:
            self._checked = True
            if self.before_first_file is not None:
                self.before_first_file(self.result.fields)

    async def handle_events(self) -> None:
        events, self.events = self.events, []
        for name, payload in events:
            if name == "part_begin":
                self._disposition = b""
            elif name == "header_field":
                self._header_name += payload
            elif name == "header_value":
                self._header_value += payload
            elif name == "header_end":
                if self._header_name.strip().lower() == b"content-disposition":
                    self._disposition = self._header_value.strip()
                self._header_name = self._header_value = b""
            elif name == "headers_finished":
                self._start_part()
            elif name == "data":
                await self._part_data(payload)
            elif name == "part_end":
                await self._end_part()

    def _start_part(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise InvalidInputError("a form part has no name (Content-Disposition)")
        if b"filename" not in options:
            self._field_count += 1
            if self._field_count > MAX_FIELDS:
                raise InvalidInputError(f"a form has at most {MAX_FIELDS} fields")
            self._field_name = options[b"name"].decode("utf-8", "replace")
            self._field_value = bytearray()
            return
        self.check_before_files()
        if len(self.result.files) >= MAX_FILES:
            raise InvalidInputError(f"send at most {MAX_FILES} files in one request")
        if self.header_sha256 is not None and self.result.files:
            raise InvalidInputError(
                f"{SHA256_HEADER} names the checksum of one file; with several files, send a "
                f"{SHA256_FIELD} field before each file instead"
            )
        self._field_name = None
        self._filename = clean_filename(options[b"filename"].decode("utf-8", "replace"))
        expected = self._claimed_sha256 or self.header_sha256
        self._verified = expected is not None
        self._claimed_sha256 = None
        self._pipe = _Pipe(asyncio.get_running_loop(), expected)
        self._future = _store_in_thread(
            self._pipe, self.files_dir, self.max_file_bytes, self.blobstore
        )

    async def _part_data(self, payload: bytes) -> None:
        if self._pipe is not None and self._future is not None:
            if not await self._pipe.write(payload):
                # The reader stopped early: past the size limit, or the disk failed.
                await asyncio.wrap_future(self._future)
                raise InvalidInputError("the upload stopped before the file ended")
            return
        if len(self._field_value) + len(payload) > MAX_FIELD_BYTES:
            raise InvalidInputError(f"a form field has at most {MAX_FIELD_BYTES} bytes")
        self._field_value.extend(payload)

    async def _end_part(self) -> None:
        if self._pipe is not None and self._future is not None:
            self._pipe.close()
            stored = await asyncio.wrap_future(self._future)
            self.result.files.append(ReceivedFile(self._filename, stored, self._verified))
            self._pipe = self._future = None
            return
        if self._field_name is None:
            return
        value = self._field_value.decode("utf-8", "replace")
        self.result.fields.setdefault(self._field_name, []).append(value)
        if self._field_name == SHA256_FIELD:
            self._claimed_sha256 = parse_sha256(value, f"the {SHA256_FIELD} field")
        self._field_name = None

    async def abort(self) -> None:
        """Stop the file being stored, and wait until its temporary file is gone."""
        if self._pipe is not None and self._future is not None:
            self._pipe.abort()
            # The request's own error is the one reported; the store's (aborted) is expected.
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(self._future)
            self._pipe = self._future = None

    def finish(self) -> ReceivedUpload:
        if self._pipe is not None:
            raise InvalidInputError("the upload ended in the middle of a file")
        if self._claimed_sha256 is not None:
            raise InvalidInputError(
                f"a {SHA256_FIELD} field must come just before the file it describes"
            )
        self.check_before_files()
        return self.result


async def receive_upload(
    chunks: AsyncIterator[bytes],
    content_type: str,
    files_dir: Path,
    *,
    max_file_bytes: int,
    header_sha256: str | None = None,
    before_first_file: Callable[[Mapping[str, list[str]]], None] | None = None,
    blobstore: BlobStore | None = None,
) -> ReceivedUpload:
    """Store every file part of a ``multipart/form-data`` body; return them and the fields.

    ``before_first_file`` sees the fields sent before the first file (the CSRF token of a
    browser form) and may raise to refuse the request before any file is stored; it is
    called at the end if no file came. Raises ``FileTooLargeError`` (413) past
    ``max_file_bytes`` for one file, ``ChecksumMismatchError`` or ``InvalidInputError`` (400).
    With ``blobstore`` each original is also put in the shared store before this returns.
    """
    mime, params = parse_options_header(content_type)
    if mime != b"multipart/form-data" or b"boundary" not in params:
        if before_first_file is not None:
            before_first_file({})  # who is asking is checked before what they sent
        raise InvalidInputError("send the files as multipart/form-data")
    receiver = _Receiver(files_dir, max_file_bytes, header_sha256, before_first_file, blobstore)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
            await receiver.handle_events()
        parser.finalize()
        await receiver.handle_events()
        return receiver.finish()
    except FormParserError as exc:
        await receiver.abort()
        raise InvalidInputError(f"the upload is not valid multipart/form-data: {exc}") from exc
    except BaseException:
        await receiver.abort()
        raise
