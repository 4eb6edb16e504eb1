"""Open a released PDF: the fast way when it works, repaired when it must be, never unbounded.

    open_pdf (caller's process)                   python -m ingest.pdfopen (helper child)
      empty file? -> BrokenFileError              RLIMIT_AS set once, RLIMIT_CORE 0
      request as a JSON line on stdin  ───────>   per request: RLIMIT_CPU = used + budget
                                                  pdfium: given password, then the empty one
                                                  every page in the page tree resolvable?
                                                  no: qpdf rewrites a copy into work_dir,
                                                      pdfium checks the copy
      OpenedPdf or IngestError  <─────────────    outcome as a JSON line on stdout
      timeout -> child killed, BrokenFileError
      crash (EOF) -> BrokenFileError

The risky part runs in a child process because hostile PDFs (decompression bombs, cyclic
structures, fuzzed files) can make pdfium or qpdf allocate without bound, loop, or crash, and
none of that may take a worker down with it. Starting Python and pdfium for every document
cost ~0.2 s, more than reading a short document's pages, so the child is a long-lived helper
that serves one request at a time and is reused: a helper that runs out of time is killed,
one that crashes or runs out of memory is gone, and the next request starts a fresh one.
Idle helpers are kept per memory limit; concurrent callers each get their own. The password
travels on stdin, never on the command line, where other users of the machine could read it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
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

    All of this runs in a helper process limited to ``timeout`` seconds for this file and
    ``memory_limit`` bytes of address space: a file that needs more (a decompression bomb, a
    hang, a crash in the PDF libraries) ends as ``PdfLimitError`` (a ``BrokenFileError``)
    instead of hurting the caller. Raises ``OSError`` if ``path`` cannot be read at all.
    """
    if path.stat().st_size == 0:
        raise BrokenFileError(EMPTY_REASON)
    work_dir.mkdir(parents=True, exist_ok=True)
    request = {
        "path": str(path.resolve()),
        "work_dir": str(work_dir.resolve()),
        "password": password,
        "cpu_seconds": math.ceil(timeout) + 1,
    }
    with _helper(memory_limit) as helper:
        outcome = helper.ask(request, timeout)
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
            f"this PDF has {opened.page_count:,} pages, over the limit of {max_pages:,} "
            "(READINGROOM_MAX_PAGES): split it into smaller files, or raise the limit and retry",
            retryable=True,
        )
    return opened


class _HelperGoneError(Exception):
    """The helper died or was killed during a request; the message is the reason to give."""


class _Helper:
    """One long-lived ``python -m ingest.pdfopen`` child, asked one request at a time."""

    def __init__(self, memory_limit: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        # stderr goes to a file, not a pipe nobody reads: a chatty library must not block.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the helper
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingest.pdfopen", str(memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self._buffer = b""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` seconds for its outcome."""
        deadline = time.monotonic() + timeout
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # pragma: no cover - Popen was given pipes
            raise _HelperGoneError("the PDF reader could not be started")
        try:
            stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            stdin.flush()
        except BrokenPipeError:
            raise self._gone(timeout) from None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stdout], [], [], remaining)[0]:
                self.close(kill=True)
                raise _HelperGoneError(_too_long(timeout))
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise self._gone(timeout)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        outcome = _parse_outcome(line)
        if outcome is None:
            self.close(kill=True)
            raise _HelperGoneError(_CRASHED)
        if outcome.pop("retire", False):
            self.close()  # it is exiting: the next request must not find it half gone
        return outcome

    def _gone(self, timeout: float) -> _HelperGoneError:
        returncode = self.process.wait()
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        logger.warning(
            "pdf open helper exited with %s: %s",
            returncode,
            self._stderr.read().decode("utf-8", "replace"),
        )
        self.close()
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            return _HelperGoneError(_too_long(timeout))
        return _HelperGoneError(_CRASHED)

    def close(self, *, kill: bool = False) -> None:
        if kill and self.alive:
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()  # EOF on stdin ends an idle helper
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.alive:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


_CRASHED = (
    "the PDF reader crashed on this file (it ran out of memory or met damage it cannot "
    "handle): it may be a decompression bomb or badly damaged; ask for a new copy"
)
# Helpers waiting for a request, by memory limit; more than this many idle ones are closed.
_MAX_IDLE_HELPERS = 4
_idle: dict[int, list[_Helper]] = {}
_idle_lock = threading.Lock()


@contextlib.contextmanager
def _helper(memory_limit: int) -> Iterator[_Helper]:
    """An idle helper for this memory limit, or a new one; returned to the idle list after."""
    with _idle_lock:
        waiting = _idle.get(memory_limit, [])
        helper = waiting.pop() if waiting else None
    if helper is None or not helper.alive:
        helper = _Helper(memory_limit)
    try:
        yield helper
    except _HelperGoneError as exc:
        raise PdfLimitError(str(exc)) from None
    except BaseException:
        helper.close(kill=True)  # interrupted mid-request: its answer would go to the next
        raise
    if not helper.alive:
        helper.close()
        return
    _park(helper, memory_limit)


def _park(helper: _Helper, memory_limit: int) -> None:
    """Keep an idle helper for the next request, or close it when enough are waiting."""
    with _idle_lock:
        waiting = _idle.setdefault(memory_limit, [])
        if len(waiting) < _MAX_IDLE_HELPERS:
            waiting.append(helper)
            return
    helper.close()


def prestart_helper(memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
    """Start a helper now, if none is idle, so that the first :func:`open_pdf` finds it ready.

    A helper takes ~0.2 s to start Python and pdfium; started before the caller's first
    document (while files are taken in, or a job is claimed), it comes up on another core
    instead of delaying that document. Never raises: the first request starts one anyway.
    """
    with _idle_lock:
        if _idle.get(memory_limit):
            return
    try:
        helper = _Helper(memory_limit)
    except OSError:
        logger.warning("pdf open helper could not be started ahead", exc_info=True)
        return
    _park(helper, memory_limit)


def _close_idle_helpers() -> None:
    with _idle_lock:
        helpers = [h for waiting in _idle.values() for h in waiting]
        _idle.clear()
    for helper in helpers:
        helper.close()


def _forget_helpers_after_fork() -> None:
    # A forked child shares its parent's pipes: it must start helpers of its own, and must
    # not close or kill the parent's.
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


atexit.register(_close_idle_helpers)
os.register_at_fork(after_in_child=_forget_helpers_after_fork)


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
    """Entry point of ``python -m ingest.pdfopen MEMORY``: one outcome line per request line."""
    # Keep the real stdout for the outcomes alone: C libraries may print, and a stray line
    # must not corrupt the JSON the parent parses. Their output goes to stderr instead.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    memory = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a 2 GiB core
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        for line in sys.stdin:
            request = json.loads(line)
            # CPU time backs up the parent's wall-clock timeout should the parent itself die;
            # the budget is per request, on top of what earlier requests used.
            used = resource.getrusage(resource.RUSAGE_SELF)
            spent = math.ceil(used.ru_utime + used.ru_stime)
            cpu = spent + int(request["cpu_seconds"])
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            if hard != resource.RLIM_INFINITY:
                cpu = min(cpu, hard)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))
            exhausted = False
            try:
                outcome = _open_or_repair(
                    Path(request["path"]), Path(request["work_dir"]), request["password"]
                )
            except IngestError as exc:
                outcome = {"error": type(exc).__name__, "reason": exc.reason}
            except MemoryError:
                exhausted = True
                outcome = {
                    "error": "PdfLimitError",
                    "reason": (
                        f"opening this PDF took too much memory (over {memory // 1024**2:,} "
                        "MiB): it may be a decompression bomb; ask for a new copy"
                    ),
                }
            # After a MemoryError, a fresh helper for the next file, not a fragmented heap.
            out.write(json.dumps(outcome | {"retire": exhausted}) + "\n")
            out.flush()
            if exhausted:
                return 0
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
    return BrokenFileError(
        f"this PDF is damaged and could not be repaired ({_qpdf_detail(str(exc), path)}): ask "
        "the agency for a new copy"
    )


_QPDF_WHERE_RE = re.compile(r"(?: \((?P<where>[^)]*)\))?:\s*")
_SHA256_RE = re.compile(r"\b[0-9a-f]{64}\b")
_QPDF_FUNCTION_RE = re.compile(r" \([a-z]+[A-Z]\w*\)")  # "(getAllPages)": qpdf's own names


def _qpdf_detail(message: str, path: Path) -> str:
    """qpdf's message for a person: without the file's path, which is a stored sha256 name.

    qpdf writes "<path> (object 3 0): Loop detected in /Pages structure (getAllPages)";
    this gives "object 3 0: Loop detected in /Pages structure".
    """
    for name in (str(path), path.name):
        if message.startswith(name):
            rest = message[len(name) :]
            where = _QPDF_WHERE_RE.match(rest)
            if where:
                rest = rest[where.end() :]
                message = f"{where['where']}: {rest}" if where["where"] else rest
            break
    message = message.replace(str(path), "the file").replace(path.name, "the file")
    message = _QPDF_FUNCTION_RE.sub("", _SHA256_RE.sub("the file", message))
    return message.strip()[:300]


def _wrong_password(password: str | None) -> str:
    if password:
        return (
            "the password given does not open this file: retry with its password "
            "(readingroom ingest --password)"
        )
    return ENCRYPTED_REASON


if __name__ == "__main__":
    sys.exit(_child_main())
