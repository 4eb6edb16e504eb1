"""Originals are stored once under their sha256, atomically, and never modified."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from ingest.storage import original_path, store_file, store_stream


def test_stored_under_sha256_read_only_and_once(tmp_path: Path) -> None:
    source = tmp_path / "in.pdf"
    source.write_bytes(b"%PDF-1.4 example")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    first = store_file(source, tmp_path / "files")
    second = store_file(source, tmp_path / "files")
    assert first.sha256 == digest
    assert not first.already_stored
    assert second.already_stored
    assert second.path == first.path
    assert first.path == original_path(tmp_path / "files", digest)
    assert first.path.parent.parent.name == digest[:2]
    assert first.path.stat().st_mode & 0o222 == 0
    assert source.read_bytes() == b"%PDF-1.4 example"


def test_oversized_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    files = tmp_path / "files"
    with pytest.raises(ValueError, match="larger than the limit"):
        store_stream(io.BytesIO(b"x" * 5000), files, max_bytes=4096)
    assert not (files / "originals").exists()
    assert list((files / "tmp").iterdir()) == []
