"""Why a file could not be taken in: one base class, a subclass per final document state.

    IngestError                 state="failed"       a file could not be taken in
    ├── UnsupportedFileError    state="unsupported"  not a format readingroom reads
    ├── EncryptedFileError      state="encrypted"    password-protected; retry with its password
    ├── BrokenFileError         state="failed"       damaged or empty
    │   └── pdfopen.PdfLimitError                    took too long / too much memory / crashed
    └── TooLargeError           state="failed"       over a size, page or pixel limit
        └── archive.ZipBombError                     refused as a likely zip bomb

Each module of the ingest front door (``archive``, ``convert``, ``pdfopen``) raises these,
with its own subclasses defined beside the code that raises them, so the task that processes a
document needs one ``except IngestError`` to store the state, the reason and whether a retry
can help. ``reason`` is written for a volunteer: it says
what is wrong and what to do, never a stack trace.
"""

from __future__ import annotations

EMPTY_REASON = (
    "this file is empty (0 bytes): the upload or the agency's export failed; ask for the file again"
)
ENCRYPTED_REASON = (
    "this file is password-protected: retry with its password (readingroom ingest --password)"
)


class IngestError(Exception):
    """Base: a file could not be taken in; carries the final document state and whether a retry
    can help."""

    state: str = "failed"
    """The document's final state: one of "unsupported", "encrypted", "failed"."""
    retryable: bool = False
    """Whether trying again (e.g. with a password) can succeed."""

    def __init__(self, reason: str, *, retryable: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if retryable is not None:  # this case differs from its class's (a limit can be raised)
            self.retryable = retryable


class UnsupportedFileError(IngestError):
    """The bytes are not a format readingroom can read (the original is kept as it is)."""

    state = "unsupported"


class EncryptedFileError(IngestError):
    """The file is password-protected and no password given opens it."""

    state = "encrypted"
    retryable = True

    def __init__(self, reason: str = ENCRYPTED_REASON) -> None:
        super().__init__(reason)


class BrokenFileError(IngestError):
    """The file is damaged beyond repair or empty."""

    state = "failed"


class TooLargeError(IngestError):
    """The file exceeds a limit that protects the workers (bytes, members, pages, pixels)."""

    state = "failed"
