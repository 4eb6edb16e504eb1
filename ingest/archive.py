"""Unpack production ZIPs without trusting anything their headers say.

Agencies send productions as ZIPs, some nested, some built on Windows with backslash paths, some
with macOS metadata, and any upload may be hostile: names that climb out of the destination
("zip slip"), symlinks, and zip bombs. Every byte written is counted against limits shared by the
whole tree of nested archives, and on failure everything this call wrote is removed again.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import (
    BrokenFileError,
    EncryptedFileError,
    TooLargeError,
    UnsupportedFileError,
)
from ingest.sniff import Kind, sniff

_CHUNK = 1024 * 1024

# The compression-ratio test only applies to members declared larger than this: blank scanned
# pages stored as uncompressed TIFF reach ratios of several hundred to one while staying small,
# and refusing a production for them would be wrong. Large *and* extreme is what bombs look like.
_RATIO_MIN_BYTES = 64 * 1024**2
# The same test over the whole tree of archives applies past this many unpacked bytes: a
# production of blank pages may compress like a bomb, but only a bomb fills a disk with it.
_TOTAL_RATIO_MIN_BYTES = 1024**3

# Linux file names are limited to 255 bytes; leave room for a " (12)" counter.
_MAX_NAME_BYTES = 200

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_COMPRESSION_NAMES = {9: "Deflate64", 93: "Zstandard", 95: "XZ", 97: "WavPack", 98: "PPMd"}
_SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}

# What zipfile and its decompressors raise on damaged data. bz2 reports a bad stream as OSError,
# so reading (not writing) is the only place OSError is taken to mean a damaged archive.
_CORRUPT = (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, struct.error, ValueError)
_CORRUPT_READ = (*_CORRUPT, OSError)

_ENCRYPTED_ZIP = (
    "this ZIP archive is password-protected: unzip it with its password and upload the files inside"
)


class ZipBombError(TooLargeError):
    """The archive is refused as a likely zip bomb: too many entries, too many bytes, too
    compressed, nested too deep, or unpacking to more than its header declares."""


@dataclass(frozen=True)
class Member:
    """One extracted file: where it now is, and its name inside the archive.

    ``original_name`` is the name exactly as the archive spells it (for the document's original
    filename); for a member of a nested ZIP it is the chain of names joined with "/", e.g.
    ``"vol1/images.zip/0001.tif"``. It is a label for people, never a path to open.
    """

    path: Path
    original_name: str


@dataclass
class _Budget:
    """Limits shared by an archive and every archive nested in it, and what was written."""

    max_total_bytes: int
    max_members: int
    max_ratio: float
    max_depth: int
    archive_bytes: int
    """Size of the outermost archive: what the whole tree is allowed ``max_ratio`` times."""
    bytes_written: int = 0
    entries_seen: int = 0
    created: list[Path] = field(default_factory=list)

    def roll_back(self, mark: int) -> None:
        """Remove every file and directory created after ``created[mark]``, newest first."""
        for path in reversed(self.created[mark:]):
            if path.is_dir() and not path.is_symlink():
                # Directories are only removed when empty: a pre-existing file may live there.
                try:
                    path.rmdir()
                except OSError:
                    continue
            else:
                path.unlink(missing_ok=True)
        del self.created[mark:]


def extract_zip(
    zip_path: Path,
    dest: Path,
    *,
    max_total_bytes: int = 20 * 1024**3,
    max_members: int = 100_000,
    max_ratio: float = 200.0,
    max_depth: int = 3,
) -> list[Member]:
    """Unpack a production ZIP safely and return its files in archive order.

    - Folder structure is kept under ``dest``; zip-slip names ("../x", absolute paths, drive
      letters, backslashes) are neutralised so nothing is written outside ``dest``, and names
      that collide after that get a " (2)" counter instead of overwriting anything.
    - Symlinks and other special entries, directory entries, ``__MACOSX`` and dotfiles are
      skipped.
    - A member that is itself a ZIP (by its bytes) is unpacked into a folder beside it, up to
      ``max_depth`` levels below this archive; deeper nesting raises ``ZipBombError``. A nested
      ZIP that is damaged, encrypted or unsupported is kept as a file instead, so one bad inner
      archive does not sink the production.
    - Zip bombs raise ``ZipBombError`` (a ``TooLargeError``): more than ``max_members``
      entries, declared sizes over ``max_total_bytes``, a large member compressed more than
      ``max_ratio`` to one, a tree of archives that would unpack to more than ``max_ratio``
      times the outer archive's size (many members each just under the per-member test), or
      a member whose bytes exceed its declared size (every byte written is counted; headers
      are never trusted). The limits apply to the whole tree of nested archives.
    - A damaged archive raises ``BrokenFileError``; encrypted members raise
      ``EncryptedFileError``; a compression method Python cannot read raises
      ``UnsupportedFileError``.

    On any error, the files and folders this call created are removed again.
    """
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_total_bytes, max_members, max_ratio, max_depth, zip_path.stat().st_size)
    try:
        return _extract(zip_path, dest.resolve(), "", 0, budget)
    except BaseException:
        budget.roll_back(0)
        raise


def safe_relative_parts(name: str) -> list[str]:
    """Turn a member name into path components that cannot leave the destination.

    Backslashes count as separators, a leading drive letter is dropped, empty, "." and ".."
    components are removed, ":" and control characters become "_", and over-long components are
    shortened (keeping the extension). An empty list means the name has nothing usable left.
    """
    name = _DRIVE.sub("", name.replace("\\", "/"))
    parts = []
    for raw in name.split("/"):
        if raw in ("", ".", ".."):
            continue
        part = _CONTROL.sub("_", raw.replace(":", "_"))
        parts.append(_shorten(part))
    return parts


def _extract(zip_path: Path, dest: Path, prefix: str, depth: int, budget: _Budget) -> list[Member]:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            plan = _plan(zf, budget)
            members = []
            for info, parts in plan:
                original_name = prefix + info.filename
                target = _free_path(dest, parts)
                _make_parents(dest, target, budget)
                _copy_member(zf, info, target, budget)
                if sniff(target) is Kind.ZIP:
                    members.extend(_extract_nested(target, original_name, depth + 1, budget))
                else:
                    members.append(Member(target, original_name))
            return members
    except _CORRUPT as exc:
        raise BrokenFileError(
            f"this ZIP archive is damaged ({_detail(exc)}): ask for a new copy of the production"
        ) from exc


def _plan(zf: zipfile.ZipFile, budget: _Budget) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """Decide which entries to write, and refuse the archive before writing anything."""
    infos = zf.infolist()
    budget.entries_seen += len(infos)
    if budget.entries_seen > budget.max_members:
        raise ZipBombError(
            f"this ZIP holds more than {budget.max_members:,} entries: split the production "
            "into smaller archives"
        )
    plan = []
    for info in infos:
        parts = safe_relative_parts(info.filename)
        if _skipped(info, parts):
            continue
        plan.append((info, parts))

    declared = sum(info.file_size for info, _ in plan)
    if budget.bytes_written + declared > budget.max_total_bytes:
        raise ZipBombError(
            f"this ZIP would unpack to {_size(budget.bytes_written + declared)}, over the "
            f"{_size(budget.max_total_bytes)} limit, so it may be a zip bomb: if the production "
            "is genuine, upload it in smaller archives"
        )
    for info, _ in plan:
        if info.flag_bits & 0x1:
            raise EncryptedFileError(_ENCRYPTED_ZIP)
        if info.compress_type not in _SUPPORTED_COMPRESSION:
            method = _COMPRESSION_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise UnsupportedFileError(
                f"this ZIP uses a compression method readingroom cannot unpack ({method}): "
                "re-create the archive with standard (deflate) compression"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_MIN_BYTES and ratio > budget.max_ratio:
            raise ZipBombError(
                f"{info.filename!r} in this ZIP is compressed {ratio:,.0f} to 1 "
                f"({_size(info.file_size)} unpacked), which is how zip bombs look: if it is "
                "genuine, upload that file on its own"
            )
    # After the per-member test, whose message names the member.
    unpacked = budget.bytes_written + declared
    overall = unpacked / max(budget.archive_bytes, 1)
    if unpacked > _TOTAL_RATIO_MIN_BYTES and overall > budget.max_ratio:
        # The per-member test alone lets 300 members of 60 MiB of zeros through: 18 GiB on
        # disk from an 18 MB upload. What the whole tree unpacks to is measured against the
        # bytes that were actually sent.
        raise ZipBombError(
            f"this ZIP would unpack to {_size(unpacked)}, {overall:,.0f} times its own size, "
            "which is how zip bombs look: if the production is genuine, upload it in smaller "
            "archives or unpacked"
        )
    return plan


def _skipped(info: zipfile.ZipInfo, parts: list[str]) -> bool:
    """Entries that are not documents: folders, links, devices, macOS and hidden metadata."""
    if info.is_dir() or info.filename.endswith("\\") or not parts:
        return True
    file_type = stat.S_IFMT(info.external_attr >> 16)
    # Only regular files (or no Unix type at all, as DOS/Windows tools write) carry documents;
    # a symlink's "content" is its target path, and writing it would serve no one.
    if file_type not in (0, stat.S_IFREG):
        return True
    return any(part == "__MACOSX" or part.startswith(".") for part in parts)


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget) -> None:
    """Stream one member to ``target``, counting bytes instead of trusting the header."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o666)
    budget.created.append(target)
    written = 0
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while True:
            try:
                chunk = src.read(_CHUNK)
            except _CORRUPT_READ as exc:
                raise BrokenFileError(
                    f"{info.filename!r} in this ZIP archive is damaged ({_detail(exc)}): ask for "
                    "a new copy of the production"
                ) from exc
            if not chunk:
                break
            written += len(chunk)
            if written > info.file_size:
                raise ZipBombError(
                    f"{info.filename!r} in this ZIP unpacks to more bytes than its header "
                    "declares, which is how zip bombs look: the archive was refused"
                )
            if budget.bytes_written + written > budget.max_total_bytes:
                raise ZipBombError(
                    f"this ZIP unpacks to more than {_size(budget.max_total_bytes)}, so it may be "
                    "a zip bomb: if the production is genuine, upload it in smaller archives"
                )
            out.write(chunk)
    budget.bytes_written += written


def _extract_nested(
    zip_file: Path, original_name: str, depth: int, budget: _Budget
) -> list[Member]:
    """Unpack a ZIP found inside a ZIP into a folder beside it, then drop the inner ZIP file."""
    if depth > budget.max_depth:
        raise ZipBombError(
            f"this ZIP has archives nested more than {budget.max_depth} levels deep (at "
            f"{original_name!r}): unpack the inner archives and upload them separately"
        )
    mark = len(budget.created)
    folder = _free_path(zip_file.parent, [zip_file.stem or "archive"])
    folder.mkdir()
    budget.created.append(folder)
    try:
        members = _extract(zip_file, folder, original_name + "/", depth, budget)
    except (BrokenFileError, EncryptedFileError, UnsupportedFileError):
        # Keep the inner archive as a file of its own: it becomes a document whose state says
        # what is wrong with it, and the rest of the production goes ahead.
        budget.roll_back(mark)
        return [Member(zip_file, original_name)]
    zip_file.unlink()
    budget.created.remove(zip_file)
    return members


def _free_path(dest: Path, parts: list[str]) -> Path:
    """``dest/parts…``, with a " (n)" counter on any component that would clash.

    An existing real directory is reused for a folder component; anything else that exists
    (a file where a folder is needed, a symlink, or a file of the same name) gets a counter.
    """
    current = dest
    for index, part in enumerate(parts):
        is_leaf = index == len(parts) - 1
        candidate = current / part
        counter = 1
        while _taken(candidate, is_leaf):
            counter += 1
            candidate = current / _with_counter(part, counter)
        current = candidate
    if not current.resolve().is_relative_to(dest):
        # Unreachable with the components safe_relative_parts makes; kept as the last line of
        # defence because a mistake here writes outside the destination.
        raise BrokenFileError("this ZIP contains a file name that points outside the archive")
    return current


def _taken(path: Path, is_leaf: bool) -> bool:
    if path.is_symlink():
        return True
    if is_leaf:
        return path.exists()
    return path.exists() and not path.is_dir()


def _make_parents(dest: Path, target: Path, budget: _Budget) -> None:
    """Create the folders between ``dest`` and ``target``, remembering which ones are new."""
    missing = []
    parent = target.parent
    while parent != dest and not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir()
        budget.created.append(folder)


def _with_counter(name: str, counter: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension (or a leading dot only)
        return f"{name} ({counter})"
    return f"{stem} ({counter}){dot}{suffix}"


def _shorten(part: str) -> str:
    encoded = part.encode("utf-8", "surrogateescape")
    if len(encoded) <= _MAX_NAME_BYTES:
        return part
    stem, dot, suffix = part.rpartition(".")
    tail = f"{dot}{suffix}" if stem and len(suffix.encode("utf-8", "surrogateescape")) <= 16 else ""
    room = _MAX_NAME_BYTES - len(tail.encode("utf-8", "surrogateescape"))
    head = encoded[:room].decode("utf-8", "ignore")
    return head + tail


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def _detail(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
