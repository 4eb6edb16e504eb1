"""extract_zip: productions unpacked, hostile archives refused, nothing written outside dest.

Every archive here is built by the test in a temporary folder: slip names, symlinks, nesting and
bombs are made with zipfile and, where zipfile will not write the lie, by patching header bytes.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.archive import Member, ZipBombError, extract_zip, safe_relative_parts
from ingest.errors import BrokenFileError, EncryptedFileError, TooLargeError, UnsupportedFileError

MiB = 1024**2


def make_zip(
    path: Path,
    members: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def patch_headers(path: Path, *, central: dict[int, int], local: dict[int, int]) -> None:
    """Overwrite 16- or 32-bit fields (by offset) in every central and local file header."""
    data = bytearray(path.read_bytes())
    for signature, fields in ((b"PK\x01\x02", central), (b"PK\x03\x04", local)):
        start = data.find(signature)
        while start != -1:
            for offset, value in fields.items():
                fmt = "<H" if offset in (6, 8, 10) else "<I"
                struct.pack_into(fmt, data, start + offset, value)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def everything_under(root: Path) -> set[Path]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(Path(folder) / name)
    return found


def test_production_is_unpacked_with_folders_and_original_names(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "production.zip",
        [
            ("Vol001/IMAGES/0001.tif", b"page one"),
            ("Vol002/IMAGES/0001.tif", b"another page one"),
            ("cover letter.pdf", b"%PDF-1.4 cover"),
        ],
    )
    members = extract_zip(archive, tmp_path / "out")
    dest = (tmp_path / "out").resolve()
    assert members == [
        Member(dest / "Vol001" / "IMAGES" / "0001.tif", "Vol001/IMAGES/0001.tif"),
        Member(dest / "Vol002" / "IMAGES" / "0001.tif", "Vol002/IMAGES/0001.tif"),
        Member(dest / "cover letter.pdf", "cover letter.pdf"),
    ]
    assert members[1].path.read_bytes() == b"another page one"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../evil.pdf", "evil.pdf"),
        ("/etc/cron.d/evil", "etc/cron.d/evil"),
        ("C:\\Windows\\System32\\evil.dll", "Windows/System32/evil.dll"),
        ("..\\..\\evil.pdf", "evil.pdf"),
        ("a/../../../evil.pdf", "a/evil.pdf"),
        ("C:evil.pdf", "evil.pdf"),
        ("//server/share/evil.pdf", "server/share/evil.pdf"),
        ("doc.pdf:Zone.Identifier", "doc.pdf_Zone.Identifier"),
        ("tab\there.pdf", "tab_here.pdf"),
    ],
)
def test_zip_slip_names_are_neutralised(tmp_path: Path, name: str, expected: str) -> None:
    archive = make_zip(tmp_path / "slip.zip", [(name, b"payload")])
    dest = tmp_path / "out"
    [member] = extract_zip(archive, dest)
    assert member.path == dest.resolve() / expected
    assert member.original_name == name
    assert everything_under(tmp_path) - everything_under(dest) == {archive, dest}


def test_over_long_names_are_shortened_keeping_the_extension() -> None:
    [part] = safe_relative_parts("é" * 300 + ".pdf")
    assert part.endswith(".pdf")
    assert len(part.encode("utf-8")) <= 200


_SEGMENTS = st.one_of(
    st.sampled_from(["..", ".", "", "C:", "c:", "D:..", "~", "...", ".hidden", "a:b", " ", "\t"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    st.text(alphabet="ab/\\.:", max_size=12),
    st.text(
        alphabet=st.characters(
            min_codepoint=0x800, max_codepoint=0xFFFF, blacklist_categories=["Cs"]
        ),
        min_size=80,
        max_size=120,
    ),
)
_SEPARATORS = st.sampled_from(["/", "\\", "//", "/../", "\\..\\", "/./"])
_PREFIXES = st.sampled_from(["", "/", "\\", "../", "../../../../", "C:\\", "C:/", "//srv/share/"])
_NAMES = st.builds(
    lambda prefix, first, rest: prefix + first + "".join(sep + seg for sep, seg in rest),
    _PREFIXES,
    _SEGMENTS,
    st.lists(st.tuples(_SEPARATORS, _SEGMENTS), max_size=5),
).filter(bool)  # zipfile cannot write an empty name


@settings(max_examples=200, deadline=None)
@given(names=st.lists(_NAMES, min_size=1, max_size=6, unique=True))
def test_no_member_name_escapes_dest(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        outside = root / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_bytes(b"untouched")
        payloads = {name: f"member {index}".encode() for index, name in enumerate(names)}
        archive = make_zip(root / "in.zip", payloads.items())
        dest = root / "a" / "b" / "dest"

        members = extract_zip(archive, dest)

        resolved = dest.resolve()
        for member in members:
            assert member.path.resolve().is_relative_to(resolved)
            assert member.path.is_file()
            assert not member.path.is_symlink()
            assert member.path.read_bytes() == payloads[member.original_name]
        assert len({member.path for member in members}) == len(members)
        new = everything_under(root) - everything_under(dest)
        assert new == {archive, outside, outside / "keep.txt", root / "a", root / "a" / "b", dest}
        assert (outside / "keep.txt").read_bytes() == b"untouched"
        assert not any(path.is_symlink() for path in everything_under(root))


def test_symlinks_directories_macos_metadata_and_dotfiles_are_skipped(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("passwords.pdf")
    link.create_system = 3  # Unix: the mode bits in external_attr are meaningful
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(
        tmp_path / "mac.zip",
        [
            (link, b"/etc/passwd"),
            ("folder/", b""),
            ("__MACOSX/._report.pdf", b"resource fork"),
            ("folder/.DS_Store", b"finder"),
            (".git/config", b"[core]"),
            ("folder/report.pdf", b"%PDF-1.4 report"),
        ],
    )
    dest = tmp_path / "out"
    members = extract_zip(archive, dest)
    assert [member.original_name for member in members] == ["folder/report.pdf"]
    assert everything_under(dest) == {dest / "folder", dest / "folder" / "report.pdf"}


def test_colliding_names_get_a_counter_and_never_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "cover.pdf").write_bytes(b"already here")
    archive = tmp_path / "dupes.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        make_zip(
            archive,
            [
                ("cover.pdf", b"first"),
                ("../cover.pdf", b"second"),
                ("cover.pdf", b"third"),
                ("notes", b"a file named notes"),
                ("notes/page.pdf", b"needs notes to be a folder"),
            ],
        )
    members = extract_zip(archive, dest)
    found = {member.path.relative_to(dest.resolve()).as_posix(): member for member in members}
    assert {name: member.path.read_bytes() for name, member in found.items()} == {
        "cover (2).pdf": b"first",
        "cover (3).pdf": b"second",
        "cover (4).pdf": b"third",
        "notes": b"a file named notes",
        "notes (2)/page.pdf": b"needs notes to be a folder",
    }
    assert (dest / "cover.pdf").read_bytes() == b"already here"


def test_nested_zips_are_unpacked_and_named_by_their_chain(tmp_path: Path) -> None:
    innermost = zip_bytes([("deep/memo.pdf", b"%PDF memo")])
    inner = zip_bytes([("memos.zip", innermost), ("email.pdf", b"%PDF email")])
    archive = make_zip(tmp_path / "outer.zip", [("vol1/batch.zip", inner), ("a.pdf", b"%PDF a")])
    dest = tmp_path / "out"
    members = extract_zip(archive, dest)
    resolved = dest.resolve()
    assert [(m.path.relative_to(resolved).as_posix(), m.original_name) for m in members] == [
        ("vol1/batch/memos/deep/memo.pdf", "vol1/batch.zip/memos.zip/deep/memo.pdf"),
        ("vol1/batch/email.pdf", "vol1/batch.zip/email.pdf"),
        ("a.pdf", "a.pdf"),
    ]
    # The inner archives were unpacked, so their own files are gone.
    assert not (dest / "vol1" / "batch.zip").exists()
    assert not (dest / "vol1" / "batch" / "memos.zip").exists()


def test_nesting_deeper_than_max_depth_is_refused_and_cleaned_up(tmp_path: Path) -> None:
    level2 = zip_bytes([("doc.pdf", b"%PDF")])
    level1 = zip_bytes([("level2.zip", level2)])
    archive = make_zip(tmp_path / "outer.zip", [("level1.zip", level1)])
    dest = tmp_path / "out"
    with pytest.raises(ZipBombError, match="nested more than 1 levels deep") as caught:
        extract_zip(archive, dest, max_depth=1)
    assert isinstance(caught.value, TooLargeError)
    assert caught.value.state == "failed"
    assert list(dest.iterdir()) == []


def test_self_nesting_archive_stops_at_the_depth_limit(tmp_path: Path) -> None:
    # Ten levels of ZIP in ZIP: a quine-like bomb must end at max_depth, not at the disk's end.
    data = zip_bytes([("doc.pdf", b"%PDF")])
    for level in range(10):
        data = zip_bytes([(f"level{level}.zip", data)])
    archive = tmp_path / "deep.zip"
    archive.write_bytes(data)
    with pytest.raises(TooLargeError, match="nested"):
        extract_zip(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_broken_inner_zip_is_kept_as_a_file_of_its_own(tmp_path: Path) -> None:
    broken_inner = zip_bytes([("doc.pdf", b"%PDF" * 100)])[:-30]  # central directory cut off
    archive = make_zip(tmp_path / "outer.zip", [("bad.zip", broken_inner), ("ok.pdf", b"%PDF")])
    dest = tmp_path / "out"
    members = extract_zip(archive, dest)
    assert [member.original_name for member in members] == ["bad.zip", "ok.pdf"]
    assert members[0].path.read_bytes() == broken_inner
    assert everything_under(dest) == {dest / "bad.zip", dest / "ok.pdf"}


def test_declared_total_over_the_limit_is_refused_before_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", [("a.pdf", b"a" * 600), ("b.pdf", b"b" * 600)])
    dest = tmp_path / "out"
    with pytest.raises(TooLargeError, match=r"would unpack to 1\.2 KiB, over the 1,000 bytes"):
        extract_zip(archive, dest, max_total_bytes=1000)
    assert list(dest.iterdir()) == []


def test_limits_apply_across_nested_archives(tmp_path: Path) -> None:
    # Each inner archive alone fits the limit; together they do not.
    first = zip_bytes([("a.pdf", b"a" * 800)])
    second = zip_bytes([("b.pdf", b"b" * 800)])
    archive = make_zip(tmp_path / "outer.zip", [("one.zip", first), ("two.zip", second)])
    dest = tmp_path / "out"
    with pytest.raises(TooLargeError, match="zip bomb"):
        extract_zip(archive, dest, max_total_bytes=1500)
    assert list(dest.iterdir()) == []
    assert len(extract_zip(archive, dest, max_total_bytes=3000)) == 2


def test_large_member_with_extreme_ratio_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.pdf", bytes(100 * MiB))])
    info = zipfile.ZipFile(archive).getinfo("zeros.pdf")
    assert info.file_size / info.compress_size > 200
    dest = tmp_path / "out"
    with pytest.raises(ZipBombError, match=r"compressed 1,0[0-9]{2} to 1") as caught:
        extract_zip(archive, dest)
    assert "zip bombs" in caught.value.reason
    assert list(dest.iterdir()) == []


def test_small_member_with_extreme_ratio_is_fine(tmp_path: Path) -> None:
    # A blank page stored as an uncompressed TIFF compresses like a bomb but is small.
    archive = make_zip(tmp_path / "blank.zip", [("blank.tif", bytes(8 * MiB))])
    [member] = extract_zip(archive, tmp_path / "out")
    assert member.path.stat().st_size == 8 * MiB


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"{i}.pdf", b"%PDF") for i in range(11)])
    with pytest.raises(TooLargeError, match="more than 10 entries"):
        extract_zip(archive, tmp_path / "out", max_members=10)


def test_member_bigger_than_its_declared_size_is_cut_off(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", [("doc.pdf", b"x" * 100_000)])
    patch_headers(archive, central={24: 10}, local={22: 10})  # claim 10 bytes unpacked
    dest = tmp_path / "out"
    # zipfile stops at the declared size, so the CRC no longer matches: a damaged archive.
    with pytest.raises(BrokenFileError, match="damaged"):
        extract_zip(archive, dest)
    assert list(dest.iterdir()) == []


def test_byte_counter_stops_a_stream_that_outgrows_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zipfile itself never yields more than declared; this pins our own counter in place should
    # a decompressor ever do so.
    archive = make_zip(tmp_path / "liar.zip", [("doc.pdf", b"x" * 1000)])

    def overflowing_open(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(b"x" * 5 * MiB)

    monkeypatch.setattr(zipfile.ZipFile, "open", overflowing_open)
    dest = tmp_path / "out"
    with pytest.raises(TooLargeError, match="more bytes than its header declares"):
        extract_zip(archive, dest)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("cut", [10, 100, -22])
def test_truncated_archive_is_broken(tmp_path: Path, cut: int) -> None:
    data = zip_bytes([("doc.pdf", b"%PDF-1.4 " * 200)])
    archive = tmp_path / "cut.zip"
    archive.write_bytes(data[:cut])
    with pytest.raises(BrokenFileError, match="this ZIP archive is damaged") as caught:
        extract_zip(archive, tmp_path / "out")
    assert caught.value.state == "failed"
    assert not caught.value.retryable


def test_corrupt_member_data_is_broken_and_cleaned_up(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "bad.zip", [("ok.pdf", b"%PDF fine"), ("doc.pdf", os.urandom(50_000))]
    )
    data = bytearray(archive.read_bytes())
    start = data.find(b"doc.pdf") + len(b"doc.pdf")  # first occurrence: the local header
    for offset in range(start + 1000, start + 1100):
        data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(BrokenFileError, match=r"'doc\.pdf' in this ZIP archive is damaged"):
        extract_zip(archive, dest)
    assert list(dest.iterdir()) == []


def test_encrypted_members_raise_encrypted(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "secret.zip", [("doc.pdf", b"%PDF")])
    patch_headers(archive, central={8: 0x1}, local={6: 0x1})  # the "encrypted" flag bit
    with pytest.raises(EncryptedFileError, match="password-protected") as caught:
        extract_zip(archive, tmp_path / "out")
    assert caught.value.state == "encrypted"


def test_unreadable_compression_method_is_unsupported(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "deflate64.zip", [("doc.pdf", b"%PDF")])
    patch_headers(archive, central={10: 9}, local={8: 9})  # 9 = Deflate64 (Windows Explorer)
    with pytest.raises(UnsupportedFileError, match="Deflate64") as caught:
        extract_zip(archive, tmp_path / "out")
    assert caught.value.state == "unsupported"


def test_empty_zip_has_no_members(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "empty.zip", [])
    assert archive.read_bytes().startswith(b"PK\x05\x06")
    assert extract_zip(archive, tmp_path / "out") == []
