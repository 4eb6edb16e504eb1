"""Open a released PDF: the fast way when it works, repaired when it must be, never unbounded.

    open_pdf (caller's process)                   python -m ingest.pdfopen (child)
      empty file? -> BrokenFileError              RLIMIT_AS / RLIMIT_CPU set first
      request as JSON on stdin  ───────────────>  pdfium: given password, then the empty one
                                                  every page in the page tree resolvable?
                                                  no: qpdf rewrites a copy into work_dir,
                                                      pdfium checks the copy
      OpenedPdf or IngestError  <───────────────  outcome as JSON on stdout
      timeout / crash -> BrokenFileError

The risky part runs in a child process because hostile PDFs (decompression bombs, cyclic
structures, fuzzed files) can make pdfium or qpdf allocate without bound, loop, or crash, and
none of that may take a worker down with it. The password travels on stdin, never on the
command line, where other users of the machine could read it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.errors import (
    EMPTY_REASON,
    ENCRYPTED_REASON,
    BrokenFileError,
    EncryptedFileError,
    IngestError,
    TooLargeError,
    UnsupportedFileError,
)

if TYPE_CHECKING:
    import pikepdf

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY_LIMIT = 2 * 1024**3

_PROJECT_ROOT = Path(__file__).resolve().parents[1]

# pdfium's FPDF_GetLastError codes (fpdfview.h) that are not plain damage.
_FPDF_ERR_PASSWORD = 4
_FPDF_ERR_SECURITY = 5


class PdfLimitError(BrokenFileError):
    """Opening the PDF took more time or memory than allowed, or crashed the PDF libraries."""


@dataclass(frozen=True)
class OpenedPdf:
    """A PDF that pdfium can read.

    ``path`` is the original, or the repaired copy in ``work_dir`` when ``repaired`` is true.
    ``password`` is what opens ``path``: ``None`` when it is not encrypted (a repaired copy is
    always written unencrypted), ``""`` when the empty password opens it, else the given one.
    """

    path: Path
    page_count: int
    repaired: bool
    password: str | None


def open_pdf(
    path: Path,
    work_dir: Path,
    *,
    password: str | None = None,
    max_pages: int = 100_000,
    timeout: float = DEFAULT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> OpenedPdf:
    """Open ``path`` with pypdfium2, repairing it with qpdf (pikepdf) if pdfium cannot.

    Encrypted files are tried with ``password``, then the empty password; if neither opens
    the file, ``EncryptedFileError``. A file pdfium cannot load, or loads with no pages or with
    pages its page tree cannot reach, is rewritten by qpdf into ``work_dir`` (the original is
    never modified) and the copy is opened instead. Empty, header-only, page-less and
    unrepairable files (e.g. a cyclic page tree) raise ``BrokenFileError`` with a reason; more
    than ``max_pages`` pages raises ``TooLargeError``.

    All of this runs in a child process limited to ``timeout`` seconds and ``memory_limit``
    bytes of address space: a file that needs more (a decompression bomb, a hang, a crash in
    the PDF libraries) ends as ``PdfLimitError`` (a ``BrokenFileError``) instead of hurting
    the caller. Raises
    ``OSError`` if ``path`` cannot be read at all.
    """
    if path.stat().st_size == 0:
        raise BrokenFileError(EMPTY_REASON)
    work_dir.mkdir(parents=True, exist_ok=True)
    request = {
        "path": str(path.resolve()),
        "work_dir": str(work_dir.resolve()),
        "password": password,
        "memory_limit": memory_limit,
        "cpu_seconds": math.ceil(timeout) + 1,
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    try:
        child = subprocess.run(
            [sys.executable, "-m", "ingest.pdfopen"],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PdfLimitError(_too_long(timeout)) from exc

    outcome = _parse_outcome(child.stdout)
    if outcome is None:
        logger.warning(
            "pdf open child for %s exited with %s: %s",
            path,
            child.returncode,
            child.stderr[-2000:].decode("utf-8", "replace"),
        )
        if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise PdfLimitError(_too_long(timeout))
        raise PdfLimitError(
            "the PDF reader crashed on this file (it ran out of memory or met damage it cannot "
            "handle): it may be a decompression bomb or badly damaged; ask for a new copy"
        )
    if "error" in outcome:
        raise _ERRORS.get(str(outcome["error"]), BrokenFileError)(str(outcome["reason"]))

    repaired = bool(outcome["repaired"])
    opened = OpenedPdf(
        path=Path(outcome["path"]) if repaired else path,
        page_count=int(outcome["page_count"]),
        repaired=repaired,
        password=outcome["password"],
    )
    if opened.page_count > max_pages:
        raise TooLargeError(
            f"this PDF has {opened.page_count:,} pages, over the limit of {max_pages:,}: split "
            "it into smaller files"
        )
    return opened


# The errors a child may report, by class name (the child cannot pickle them across).
_ERRORS: dict[str, type[IngestError]] = {
    cls.__name__: cls
    for cls in (
        BrokenFileError,
        EncryptedFileError,
        PdfLimitError,
        TooLargeError,
        UnsupportedFileError,
    )
}


def _too_long(timeout: float) -> str:
    return (
        f"opening this PDF took too long (over {timeout:g} seconds): it may be a decompression "
        "bomb or badly damaged; ask for a new copy"
    )


def _parse_outcome(stdout: bytes) -> dict[str, Any] | None:
    try:
        outcome = json.loads(stdout)
    except ValueError:
        return None
    return outcome if isinstance(outcome, dict) else None


# --- the child process -------------------------------------------------------------------------


def _child_main() -> int:
    """Entry point of ``python -m ingest.pdfopen``: one request on stdin, one outcome out."""
    # Keep the real stdout for the outcome alone: C libraries may print, and a stray line must
    # not corrupt the JSON the parent parses. Their output goes to stderr instead.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    request = json.load(sys.stdin)
    memory = int(request["memory_limit"])
    cpu = int(request["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # CPU time backs up the parent's wall-clock timeout should the parent itself die.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a 2 GiB core
    try:
        outcome = _open_or_repair(
            Path(request["path"]), Path(request["work_dir"]), request["password"]
        )
    except IngestError as exc:
        outcome = {"error": type(exc).__name__, "reason": exc.reason}
    except MemoryError:
        outcome = {
            "error": "PdfLimitError",
            "reason": (
                f"opening this PDF took too much memory (over {memory // 1024**2:,} MiB): it may "
                "be a decompression bomb; ask for a new copy"
            ),
        }
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        json.dump(outcome, out)
    return 0


@dataclass(frozen=True)
class _Probe:
    """What pdfium made of a file: an error code, or a page count and whether all pages resolve."""

    error: int = 0
    page_count: int = 0
    unreachable_page: int | None = None
    encrypted: bool = False

    @property
    def readable(self) -> bool:
        return self.error == 0 and self.page_count > 0 and self.unreachable_page is None


def _open_or_repair(path: Path, work_dir: Path, password: str | None) -> dict[str, Any]:
    # The empty password (None for pdfium) opens owner-password-only files, which are common.
    attempts = [password, None] if password else [None]
    for attempt in attempts:
        probe = _pdfium_probe(path, attempt)
        if probe.error != _FPDF_ERR_PASSWORD:
            break
    if probe.error == _FPDF_ERR_PASSWORD:
        raise EncryptedFileError(_wrong_password(password))
    if probe.error == _FPDF_ERR_SECURITY:
        raise UnsupportedFileError(
            "this PDF is protected by a security scheme other than a password (certificates "
            "or DRM), which readingroom cannot open: ask the agency for an unprotected copy"
        )
    if probe.readable:
        return {
            "path": str(path),
            "page_count": probe.page_count,
            "repaired": False,
            "password": (attempt or "") if probe.encrypted else None,
        }

    repaired = _repair(path, work_dir, password)
    probe = _pdfium_probe(repaired, None)
    if not probe.readable:
        repaired.unlink(missing_ok=True)
        raise BrokenFileError(
            "this PDF is damaged and could not be read even after repair: ask the agency for "
            "a new copy"
        )
    return {
        "path": str(repaired),
        "page_count": probe.page_count,
        "repaired": True,
        "password": None,
    }


def _pdfium_probe(path: Path, password: str | None) -> _Probe:
    """Load with pdfium and check that every page in the page tree can be reached.

    pdfium trusts the page tree's /Count, so a cyclic or truncated tree shows up as pages that
    cannot be found; their size lookup walks the tree without parsing page content, so this
    stays cheap for long documents.
    """
    # Imported here, as the parent never needs pdfium for this module. Importing any part of
    # the pypdfium2 package initialises the library; the raw bindings expose its error codes.
    import pypdfium2.raw as pdfium_c

    secret = None if password is None else (password + "\x00").encode("utf-8")
    doc = pdfium_c.FPDF_LoadDocument(os.fsencode(path) + b"\x00", secret)
    if not doc:
        return _Probe(error=int(pdfium_c.FPDF_GetLastError()) or 1)
    try:
        count = int(pdfium_c.FPDF_GetPageCount(doc))
        size = pdfium_c.FS_SIZEF()
        unreachable = next(
            (i for i in range(count) if not pdfium_c.FPDF_GetPageSizeByIndexF(doc, i, size)),
            None,
        )
        encrypted = int(pdfium_c.FPDF_GetSecurityHandlerRevision(doc)) != -1
    finally:
        pdfium_c.FPDF_CloseDocument(doc)
    return _Probe(page_count=count, unreachable_page=unreachable, encrypted=encrypted)


def _repair(path: Path, work_dir: Path, password: str | None) -> Path:
    """Have qpdf rebuild the file's structure into a new, unencrypted copy in ``work_dir``."""
    # Imported here: only damaged files need qpdf, and the import costs each child ~0.1 s.
    import pikepdf

    pdf = _open_for_repair(path, password)
    try:
        with pdf:
            if len(pdf.pages) == 0:
                raise BrokenFileError("this PDF has no pages: ask the agency for a new copy")
            target = work_dir / f"{path.stem}.repaired.pdf"
            fd, tmp_name = tempfile.mkstemp(dir=work_dir, prefix=f".{target.name}.")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                # Streams are copied as they are: decoding them would let a decompression bomb
                # inflate here, and pdfium decodes what it needs when pages are rendered.
                pdf.save(
                    tmp,
                    stream_decode_level=pikepdf.StreamDecodeLevel.none,
                    deterministic_id=True,
                )
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
            return target
    except pikepdf.PdfError as exc:
        raise _unrepairable(path, exc) from exc


def _open_for_repair(path: Path, password: str | None) -> pikepdf.Pdf:
    """Open with qpdf in recovery mode, trying the given password and then the empty one."""
    import pikepdf

    for attempt in [password, ""] if password else [""]:
        try:
            return pikepdf.open(path, password=attempt)
        except pikepdf.PasswordError:
            continue
        except pikepdf.PdfError as exc:
            raise _unrepairable(path, exc) from exc
        except OSError as exc:
            # qpdf reports a file too short to hold any PDF structure as a failed seek.
            raise BrokenFileError(
                "this PDF is damaged and could not be repaired (no PDF structure could be "
                "found in it): ask the agency for a new copy"
            ) from exc
    raise EncryptedFileError(_wrong_password(password))


def _unrepairable(path: Path, exc: Exception) -> BrokenFileError:
    # qpdf names the file in its messages; the reason is shown to people, so keep only the name.
    detail = str(exc).replace(str(path), path.name)[:300]
    return BrokenFileError(
        f"this PDF is damaged and could not be repaired ({detail}): ask the agency for a new copy"
    )


def _wrong_password(password: str | None) -> str:
    if password:
        return (
            "the password given does not open this file: retry with its password "
            "(readingroom ingest --password)"
        )
    return ENCRYPTED_REASON


if __name__ == "__main__":
    sys.exit(_child_main())
