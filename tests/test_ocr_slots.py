"""The machine-wide OCR slots: pools of several job processes share one slot per worker.

Locks are taken here on the same lock files from a second open file description, which
``flock`` treats exactly like another process holding them; the slot folder is the test's own,
so OCR run meanwhile by other tests on the machine does not interfere.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

import ingest.ocr.pool
from ingest.ocr.pool import _ocr_slot


@pytest.fixture
def slots_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "slots"
    monkeypatch.setattr(ingest.ocr.pool, "_SLOTS_DIR", folder)
    return folder


def _hold(folder: Path, slot: int) -> int:
    """Take slot ``slot`` as another process would; return the descriptor that holds it."""
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _take_in_thread(slots: int) -> tuple[threading.Thread, list[tuple[int, float]]]:
    """Enter ``_ocr_slot(slots)`` in a thread; it records (slot, time held) once inside."""
    got: list[tuple[int, float]] = []

    def run() -> None:
        with _ocr_slot(slots) as slot:
            got.append((slot, time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def test_a_free_slot_is_taken_at_once_and_released_after(slots_dir: Path) -> None:
    with _ocr_slot(2) as first, _ocr_slot(2) as second:
        assert {first, second} == {0, 1}
    # Both released: another holder can take slot 0 without waiting.
    os.close(_hold(slots_dir, 0))


def test_a_page_waits_while_every_slot_is_held_elsewhere(slots_dir: Path) -> None:
    fds = [_hold(slots_dir, 0), _hold(slots_dir, 1)]
    thread, got = _take_in_thread(2)
    time.sleep(0.3)
    assert got == [], "a third page was let in beside two running ones"
    released = time.monotonic()
    os.close(fds[1])
    thread.join(timeout=5)
    os.close(fds[0])
    assert [slot for slot, _ in got] == [1]
    assert got[0][1] >= released


def test_slots_count_only_up_to_the_workers_asked_for(slots_dir: Path) -> None:
    # One process holds slot 0; a pool of one worker must wait, a pool of two gets slot 1.
    fd = _hold(slots_dir, 0)
    try:
        with _ocr_slot(2) as slot:
            assert slot == 1
        thread, got = _take_in_thread(1)
        time.sleep(0.2)
        assert got == []
    finally:
        os.close(fd)
    thread.join(timeout=5)
    assert [slot for slot, _ in got] == [0]


def test_a_slot_is_freed_when_its_holder_fails(slots_dir: Path) -> None:
    with pytest.raises(RuntimeError), _ocr_slot(1):
        raise RuntimeError("tesseract blew up")
    os.close(_hold(slots_dir, 0))
