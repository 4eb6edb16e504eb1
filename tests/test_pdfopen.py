"""open_pdf: every corpus file ends opened or in a clear state, in bounded time and memory."""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import re
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2 as pdfium
import pytest

from ingest import pdfopen
from ingest.errors import (
    ENCRYPTED_REASON,
    BrokenFileError,
    EncryptedFileError,
    IngestError,
    TooLargeError,
    UnsupportedFileError,
)
from ingest.pdfopen import OpenedPdf, PdfLimitError, open_pdf
from tests.conftest import CORPUS, needs_corpus

OPEN_WITH_EMPTY_PASSWORD = {
    "ocrmypdf__encrypted_algo4.pdf",
    "pdfjs__bug1815476.pdf",
    "pdfjs__empty_protected.pdf",
}
UNKNOWN_PASSWORD = {
    "pdfjs__saslprep-r6.pdf",
    "pdfminer__aes-256-r6.pdf",
    "pypdf-samples__libreoffice-writer-password.pdf",
    "pypdf__r2-user-password.pdf",
}
UNREPAIRABLE = {
    "fl-doctor__empty.pdf",  # zero bytes
    "pdfjs__REDHAT-1531897-0.pdf",  # fuzzed trailer, no /Root to be found
    "pdfjs__Pages-tree-refs.pdf",  # cyclic page tree
}
CORPUS_WALL_CLOCK_LIMIT = 120.0


def manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def attempt(path: Path, work_dir: Path) -> OpenedPdf | IngestError:
    try:
        return open_pdf(path, work_dir)
    except IngestError as exc:
        return exc


@needs_corpus
@pytest.mark.slow
def test_every_corpus_file_opens_or_ends_in_a_matching_state(tmp_path: Path) -> None:
    rows = manifest()
    assert len(rows) == 94
    started = time.monotonic()
    # Each open runs in its own child process, so threads are enough to use every core.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        outcomes = dict(
            zip(
                [row["file"] for row in rows],
                pool.map(lambda row: attempt(CORPUS / row["file"], tmp_path / "work"), rows),
                strict=True,
            )
        )
    elapsed = time.monotonic() - started
    assert elapsed < CORPUS_WALL_CLOCK_LIMIT, f"corpus took {elapsed:.1f} s"

    for row in rows:
        name, kind, outcome = row["file"], row["kind"], outcomes[row["file"]]
        if isinstance(outcome, OpenedPdf):
            assert outcome.page_count > 0, name
            assert not outcome.repaired, name  # pdfium's own recovery copes with the rest
            if row["pages"].isdigit():
                assert outcome.page_count == int(row["pages"]), name
        if name in OPEN_WITH_EMPTY_PASSWORD:
            assert isinstance(outcome, OpenedPdf), name
            assert outcome.password == "", name
        elif name in UNKNOWN_PASSWORD:
            assert isinstance(outcome, EncryptedFileError), name
            assert outcome.reason == ENCRYPTED_REASON
        elif name in UNREPAIRABLE:
            assert isinstance(outcome, BrokenFileError), name
        elif kind == "broken":
            # Damaged files that pdfium still reads are documents, not failures.
            assert isinstance(outcome, OpenedPdf | BrokenFileError), name
        else:
            assert isinstance(outcome, OpenedPdf), (name, outcome)
            assert outcome.password is None, name
            assert outcome.path == CORPUS / name


@needs_corpus
@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("pypdf-samples__libreoffice-writer-password.pdf", "openpassword"),
        ("pypdf__r2-user-password.pdf", "asdfzxcv"),
    ],
)
def test_known_password_opens(tmp_path: Path, name: str, password: str) -> None:
    opened = open_pdf(CORPUS / name, tmp_path, password=password)
    assert opened == OpenedPdf(CORPUS / name, opened.page_count, False, password)
    assert opened.page_count > 0
    document = pdfium.PdfDocument(opened.path, password=opened.password)
    assert len(document) == opened.page_count
    document.close()


@needs_corpus
def test_wrong_password_says_so(tmp_path: Path) -> None:
    with pytest.raises(EncryptedFileError, match="the password given does not open") as caught:
        open_pdf(CORPUS / "pypdf__r2-user-password.pdf", tmp_path, password="not it")
    assert caught.value.state == "encrypted"
    assert caught.value.retryable


@needs_corpus
def test_wrong_password_still_falls_back_to_the_empty_one(tmp_path: Path) -> None:
    opened = open_pdf(CORPUS / "pdfjs__empty_protected.pdf", tmp_path, password="not it")
    assert opened.password == ""


def test_password_never_appears_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], **kwargs: Any) -> Any:
        seen.append((args, kwargs.get("env")))
        return real_popen(args, **kwargs)

    # Idle helpers from earlier tests would answer without a new process being started.
    monkeypatch.setattr(pdfopen, "_idle", {})
    monkeypatch.setattr(subprocess, "Popen", spy)
    open_pdf(make_pdf(tmp_path / "a.pdf", 1), tmp_path / "work", password="s3cret-Pa55")
    pdfopen._close_idle_helpers()  # the helper started here, before the real list is back
    [(args, env)] = seen
    assert not any("s3cret-Pa55" in arg for arg in args)
    assert not any("s3cret-Pa55" in value for value in env.values())


def make_pdf(path: Path, pages: int) -> Path:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    # A classic xref table and no object streams, so tests can damage the structure by hand.
    pdf.save(path, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return path


def test_damaged_file_is_repaired_into_a_copy(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", 3).read_bytes()
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(whole[: whole.rindex(b"trailer")])  # no trailer, no startxref
    before = hashlib.sha256(damaged.read_bytes()).hexdigest()
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(damaged)

    work = tmp_path / "work"
    opened = open_pdf(damaged, work)

    assert opened.repaired
    assert opened.page_count == 3
    assert opened.password is None
    assert opened.path.parent == work.resolve()
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == before
    document = pdfium.PdfDocument(opened.path)
    assert len(document) == 3
    document.close()
    assert [path.name for path in work.iterdir()] == [opened.path.name]  # no temp files left


def test_zero_page_pdf_is_broken(tmp_path: Path) -> None:
    empty = make_pdf(tmp_path / "nopages.pdf", 0)
    with pytest.raises(BrokenFileError, match="has no pages"):
        open_pdf(empty, tmp_path / "work")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty \\(0 bytes\\)"),
        (b"%PDF-1.7\n", "damaged and could not be repaired"),
        (b"%PDF-1.4\n%%EOF\n", "damaged and could not be repaired"),
        (b"Dear requester, attached are the records" * 10, "damaged and could not be repaired"),
    ],
)
def test_files_with_nothing_to_open_are_broken(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "upload.pdf"
    path.write_bytes(content)
    with pytest.raises(BrokenFileError, match=reason) as caught:
        open_pdf(path, tmp_path / "work")
    assert caught.value.state == "failed"
    assert str(tmp_path) not in caught.value.reason  # server paths stay out of reasons


@needs_corpus
def test_cyclic_page_tree_is_broken_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(BrokenFileError, match="Loop detected in /Pages") as caught:
        open_pdf(CORPUS / "pdfjs__Pages-tree-refs.pdf", tmp_path)
    assert caught.value.reason.startswith("this PDF is damaged")
    assert str(CORPUS) not in caught.value.reason


def test_too_many_pages(tmp_path: Path) -> None:
    with pytest.raises(TooLargeError, match="5 pages, over the limit of 4"):
        open_pdf(make_pdf(tmp_path / "five.pdf", 5), tmp_path / "work", max_pages=4)


def xref_stream_bomb(path: Path, inflated_mib: int) -> Path:
    """A one-page PDF whose cross-reference stream inflates to ``inflated_mib`` MiB.

    pdfium must inflate the xref stream to open the file at all. The zeros are written as one
    deflate block repeated (possible because each ends in a full flush), so building a bomb of
    hundreds of MiB takes a fraction of a second.
    """
    body = bytearray(b"%PDF-1.5\n")
    offsets = []
    for number, obj in enumerate(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ],
        start=1,
    ):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref_offset = len(body)
    rows = b"\x00\x00\x00\xff" + b"".join(
        b"\x01" + offset.to_bytes(2, "big") + b"\x00" for offset in [*offsets, xref_offset]
    )
    chunk = bytes(1024**2)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = raw.compress(rows) + raw.flush(zlib.Z_FULL_FLUSH)
    repeated = raw.compress(chunk) + raw.flush(zlib.Z_FULL_FLUSH)
    tail = raw.flush()
    checksum = zlib.adler32(rows)
    for _ in range(inflated_mib):
        checksum = zlib.adler32(chunk, checksum)
    data = b"\x78\xda" + head + repeated * inflated_mib + tail + checksum.to_bytes(4, "big")
    body += b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 2 1] /Root 1 0 R /Filter /FlateDecode"
    body += b" /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (len(data), data)
    body += b"startxref\n%d\n%%%%EOF\n" % xref_offset
    path.write_bytes(bytes(body))
    return path


def test_decompression_bomb_ends_as_broken_not_as_an_oom(tmp_path: Path) -> None:
    harmless = xref_stream_bomb(tmp_path / "small.pdf", 0)
    assert open_pdf(harmless, tmp_path / "work").page_count == 1

    bomb = xref_stream_bomb(tmp_path / "bomb.pdf", 700)
    assert bomb.stat().st_size < 1024**2
    started = time.monotonic()
    with pytest.raises(PdfLimitError, match=r"memory|crashed") as caught:
        open_pdf(bomb, tmp_path / "work", memory_limit=256 * 1024**2)
    assert time.monotonic() - started < 30
    assert "decompression bomb" in caught.value.reason


def many_pages(path: Path, pages: int) -> Path:
    """A valid PDF of ``pages`` blank pages, written by hand: pdfium needs ~0.5 s per 50,000."""
    body = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []

    def add(obj: bytes) -> None:
        offsets.append(len(body))
        body.extend(b"%d 0 obj\n%s\nendobj\n" % (len(offsets), obj))

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
    for _ in range(pages):
        add(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>")
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(offsets) + 1,
        xref,
    )
    path.write_bytes(bytes(body))
    return path


def test_hang_ends_as_broken_after_the_timeout(tmp_path: Path) -> None:
    path = many_pages(tmp_path / "slow.pdf", 50_000)
    started = time.monotonic()
    with pytest.raises(PdfLimitError, match=r"took too long \(over 0\.05 seconds\)") as caught:
        open_pdf(path, tmp_path / "work", timeout=0.05)
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, BrokenFileError)
    assert caught.value.state == "failed"
    # The helper that ran out of time was killed; the next file gets a working one.
    assert open_pdf(make_pdf(tmp_path / "next.pdf", 2), tmp_path / "work").page_count == 2


def test_a_bomb_does_not_break_the_next_open(tmp_path: Path) -> None:
    bomb = xref_stream_bomb(tmp_path / "bomb.pdf", 700)
    limit = 256 * 1024**2
    with pytest.raises(PdfLimitError):
        open_pdf(bomb, tmp_path / "work", memory_limit=limit)
    small = make_pdf(tmp_path / "small.pdf", 3)
    assert open_pdf(small, tmp_path / "work", memory_limit=limit).page_count == 3


def test_a_helper_started_ahead_answers_the_first_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdfopen, "_idle", {})
    try:
        pdfopen.prestart_helper()
        pdfopen.prestart_helper()  # one is idle already: no second one
        [ahead] = pdfopen._idle[pdfopen.DEFAULT_MEMORY_LIMIT]
        assert open_pdf(make_pdf(tmp_path / "a.pdf", 2), tmp_path / "work").page_count == 2
        # That helper answered and is idle again, ready for the next file.
        assert pdfopen._idle[pdfopen.DEFAULT_MEMORY_LIMIT] == [ahead]
        assert ahead.alive
    finally:
        pdfopen._close_idle_helpers()


def test_ordinary_files_reuse_a_helper_instead_of_starting_one_each(tmp_path: Path) -> None:
    paths = [make_pdf(tmp_path / f"{n}.pdf", 1 + n % 3) for n in range(40)]
    open_pdf(paths[0], tmp_path / "work")  # a helper is started and left idle

    started = time.monotonic()
    counts = [open_pdf(path, tmp_path / "work").page_count for path in paths]

    assert counts == [1 + n % 3 for n in range(40)]
    # Starting Python and pdfium for each file cost ~0.2 s a file; a helper answers in ~1 ms.
    assert time.monotonic() - started < 2.0


@needs_corpus
def test_damaged_file_reason_names_no_stored_file(tmp_path: Path) -> None:
    # Originals are stored under their sha256: qpdf's message names that file.
    data = (CORPUS / "pdfjs__Pages-tree-refs.pdf").read_bytes()
    stored = tmp_path / hashlib.sha256(data).hexdigest()
    stored.write_bytes(data)

    with pytest.raises(BrokenFileError) as caught:
        open_pdf(stored, tmp_path / "work")

    assert caught.value.reason == (
        "this PDF is damaged and could not be repaired (object 3 0: Loop detected in /Pages "
        "structure): ask the agency for a new copy"
    )


@pytest.mark.parametrize(
    ("error", "state", "retryable"),
    [
        (UnsupportedFileError("not a PDF"), "unsupported", False),
        (EncryptedFileError(), "encrypted", True),
        (BrokenFileError("damaged"), "failed", False),
        (TooLargeError("too big"), "failed", False),
    ],
)
def test_errors_carry_state_and_survive_pickling(
    error: IngestError, state: str, retryable: bool
) -> None:
    # Task queues pickle exceptions: the state and the reason must come through intact.
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, made just above
    assert type(copy) is type(error)
    assert (copy.state, copy.retryable, copy.reason) == (state, retryable, error.reason)
    assert re.match(r"^[a-z]", copy.reason)
