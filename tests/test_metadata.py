"""PDF metadata: the info dictionary and XMP, and the byte check that skips XMP-less files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pikepdf
import pytest

from ingest.metadata import read_pdf_metadata


def _pdf(path: Path, *, xmp_title: str | None, object_streams: bool) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Records Division"
    if xmp_title is not None:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            meta["dc:title"] = xmp_title
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(path, object_stream_mode=mode)
    return path


def test_xmp_fills_in_what_the_info_dictionary_lacks(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "plain.pdf", xmp_title="Culvert inspections 2019", object_streams=False)
    assert b"/Metadata" in path.read_bytes()
    found = read_pdf_metadata(path)
    assert found["title"] == "Culvert inspections 2019"
    assert found["author"] == "Records Division"


def test_xmp_hidden_in_an_object_stream_is_still_read(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "packed.pdf", xmp_title="Packed catalog memo", object_streams=True)
    # The catalog, with its /Metadata key, is compressed into an object stream.
    assert b"/ObjStm" in path.read_bytes()
    assert read_pdf_metadata(path)["title"] == "Packed catalog memo"


def test_a_file_naming_no_metadata_stream_is_not_parsed_for_xmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _pdf(tmp_path / "bare.pdf", xmp_title=None, object_streams=False)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("pikepdf opened a file that cannot hold XMP")

    monkeypatch.setattr(pikepdf, "open", refuse)
    assert read_pdf_metadata(path) == {"author": "Records Division"}
