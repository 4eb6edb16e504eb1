"""OCR of many pages at once: one worker process per core, sharing the machine's OCR slots.

A page that fails (timeout, tesseract error, unreadable page, even a worker process that
dies) yields its :class:`OcrError` and never stops the other pages.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ingest.procs import forkserver_context

from .page import OcrResult, ocr_pdf_page
from .tesseract import OcrError, check_languages

# Worker crashes (segfault, OOM kill) one page may take part in before it is given up.
_MAX_WORKER_CRASHES = 2

# Lock files of the machine-wide OCR slots (see _ocr_slot), per user: every ingest process of
# this user on this machine shares them. Local temporary storage, never the shared data
# folder: the slots count this machine's cores, and flock on network storage is unreliable.
_SLOTS_DIR = Path(tempfile.gettempdir()) / f"readingroom-ocr-slots-{os.getuid()}"
_SLOT_POLL_SECONDS = 0.02


def ocr_pages_parallel(
    jobs: Sequence[tuple[Path, int]],
    *,
    languages: str = "eng",
    timeout: float = 120.0,
    workers: int | None = None,
    password: str | None = None,
) -> Iterator[tuple[int, OcrResult | OcrError]]:
    """OCR ``(pdf_path, page_index)`` jobs in worker processes, yielding as pages finish.

    Yields ``(position of the job in jobs, result)``, in completion order. A page that fails
    (timeout, tesseract error, unreadable page, even a worker process that dies) yields its
    :class:`OcrError` and never stops the other pages. ``workers`` defaults to the CPU count.
    Only ``workers`` jobs are in flight at a time, so when a worker dies the suspects are
    known: they are retried in a fresh pool and given up after two crashes. Each worker runs
    one single-threaded tesseract (:func:`ocr_image` sets ``OMP_THREAD_LIMIT=1``).

    ``workers`` is also the number of OCR slots of the machine (:func:`_ocr_slot`): pools of
    several processes at once share them, so no more than ``workers`` pages are OCR'd at a
    time whoever asks.

    Workers come from a forkserver, so call this from a script guarded by
    ``if __name__ == "__main__"`` and from a non-daemonic process: Celery's prefork children
    are daemonic and may not start pools (there, send pages out as tasks instead).
    """
    check_languages(languages)
    max_workers = max(1, workers or os.cpu_count() or 1)
    queue = deque(range(len(jobs)))
    crashes = dict.fromkeys(queue, 0)
    # forkserver, not fork: forking a threaded process (web server, task worker) can copy a
    # lock held by another thread and deadlock the child.
    context = forkserver_context()
    while queue:
        pool = ProcessPoolExecutor(max_workers=min(max_workers, len(queue)), mp_context=context)
        running: dict[Future[OcrResult | OcrError], int] = {}
        broken = False
        try:
            while queue or running:
                while queue and not broken and len(running) < max_workers:
                    index = queue.popleft()
                    path, page_index = jobs[index]
                    try:
                        future = pool.submit(
                            _ocr_job,
                            Path(path),
                            page_index,
                            languages,
                            timeout,
                            password,
                            max_workers,
                        )
                    except BrokenProcessPool:
                        queue.appendleft(index)  # never started: not its fault
                        broken = True
                        break
                    running[future] = index
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    outcome = _outcome(future)
                    if isinstance(outcome, BrokenProcessPool):
                        broken = True
                        crashes[index] += 1
                        if crashes[index] < _MAX_WORKER_CRASHES:
                            queue.appendleft(index)
                            continue
                        outcome = OcrError(
                            "the OCR worker process died on this page (crash or out of memory)"
                        )
                    yield index, outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _ocr_slot(slots: int) -> Iterator[int]:
    """Hold one of ``slots`` OCR slots of this machine while a page is rendered and read.

    Each job process (the ingest itself and its helpers, or two ingests at once) starts an
    OCR pool of one worker per core; without a shared limit two such pools ran four
    tesseracts on two cores, each slower than alone. A slot is an exclusive ``flock`` on
    one of ``slots`` lock files: the kernel drops it when its holder exits, even killed, so
    a crashed worker never keeps its slot. The page's OCR timeout starts once a slot is held.
    Yields the slot's number.
    """
    _SLOTS_DIR.mkdir(mode=0o700, exist_ok=True)
    while True:
        for slot in range(slots):
            fd = os.open(_SLOTS_DIR / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield slot
            finally:
                os.close(fd)  # closing the only descriptor releases the lock
            return
        time.sleep(_SLOT_POLL_SECONDS)


def _ocr_job(
    pdf_path: Path,
    page_index: int,
    languages: str,
    timeout: float,
    password: str | None,
    slots: int,
) -> OcrResult | OcrError:
    """Worker-process entry point: the page's result, or its OcrError as a value."""
    try:
        with _ocr_slot(slots):
            return ocr_pdf_page(
                pdf_path, page_index, languages=languages, timeout=timeout, password=password
            )
    except OcrError as exc:
        return exc


def _outcome(
    future: Future[OcrResult | OcrError],
) -> OcrResult | OcrError | BrokenProcessPool:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        return exc
    except Exception as exc:  # any failure in the worker becomes that page's reason
        return OcrError(f"OCR failed: {type(exc).__name__}: {exc}")


# Pages repeat their words: scoring each distinct token once makes text_quality a dict lookup
# per token. Bounded, as OCR garbage produces endless distinct tokens.
